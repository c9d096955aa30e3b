"""What the builder needs from the environment, as a protocol the resources implement.

The core never imports sdp_resources (it sits below it); the resource bound under the key
`LAKEHOUSE` provides these clients, configured per environment.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from sdp.lake import Lake
from sdp.landing import Landing
from sdp.schemas import SchemaRegistry

LAKEHOUSE = "lakehouse"  # the resource key every dataset asset requires


class Lakehouse(Protocol):
    def lake(self) -> Lake: ...

    def landing(self) -> Landing: ...

    def schemas(self) -> SchemaRegistry: ...

    def serving_duckdb_path(self) -> Path: ...
