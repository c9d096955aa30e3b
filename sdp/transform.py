"""What a transform sees: its inputs for one partition's time window, and the platform's secrets."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

import pyarrow as pa

from sdp.engine import run_sql


class MissingSecret(RuntimeError):
    """A secret a transform needs is not set in the environment."""


@dataclass(frozen=True)
class TransformContext:
    dataset: str  # "domain.name", for error messages
    inputs: Mapping[str, pa.Table]  # upstream rows in the window, by upstream dataset name
    start: datetime
    end: datetime

    def secret(self, name: str) -> str:
        """A secret from the environment, read when the transform runs (never at import time)."""
        value = os.environ.get(name, "")
        if not value:
            raise MissingSecret(f"{self.dataset}: secret {name} is not set in the environment")
        return value

    def sql(self, query: str, **tables: pa.Table) -> pa.Table:
        """Run DuckDB SQL over the inputs (and any extra tables); $start and $end are bound."""
        return run_sql(
            query,
            {**self.inputs, **tables},
            where=self.dataset,
            params=_window_params(query, self.start, self.end),
        )


def _window_params(query: str, start: datetime, end: datetime) -> dict[str, object]:
    # DuckDB refuses parameters the query does not use, so bind only the ones it names.
    return {k: v for k, v in {"start": start, "end": end}.items() if f"${k}" in query}
