"""The embedded engine: DuckDB runs a transform's SQL over Arrow inputs, in memory.

Each call opens its own connection, so concurrent steps never share state, and the inputs are
registered as zero-copy views of the Arrow tables read from the lake.
"""

from __future__ import annotations

from collections.abc import Mapping

import duckdb
import pyarrow as pa


class TransformSqlError(ValueError):
    """The SQL of a transform or check failed to run; the message names the dataset."""


def run_sql(
    sql: str, inputs: Mapping[str, pa.Table], where: str, params: Mapping[str, object] | None = None
) -> pa.Table:
    """Run `sql` with each input visible as a table of its name; `where` names the caller."""
    with duckdb.connect(":memory:") as connection:
        # Timestamps come back in UTC, whatever the machine's time zone.
        connection.execute("SET TimeZone = 'UTC'")
        for name, table in inputs.items():
            connection.register(name, table)
        try:
            return connection.sql(sql, params=dict(params or {})).to_arrow_table()
        except duckdb.Error as error:
            raise TransformSqlError(f"{where}: {error}") from None
