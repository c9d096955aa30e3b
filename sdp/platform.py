"""What the builder needs from the environment, as a protocol the resources implement.

The core never imports sdp_resources (it sits below it); the resource bound under the key
`LAKEHOUSE` provides these clients, configured per environment.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from sdp.lake import Lake, LakeConfig
from sdp.schemas import SchemaRegistry
from sdp.staging import Staging

LAKEHOUSE = "lakehouse"  # the resource key every dataset asset requires
KAFKA = "kafka"  # the resource key of landing jobs and sensors of streams
SPARK = "spark"  # the resource key of datasets computed on Spark


class Lakehouse(Protocol):
    def lake(self) -> Lake: ...

    def staging(self) -> Staging: ...

    def schemas(self) -> SchemaRegistry: ...

    def serving_duckdb_path(self) -> Path: ...


class Kafka(Protocol):
    def client_config(self) -> dict[str, str]:
        """librdkafka settings shared by producers and consumers (bootstrap servers, security)."""
        ...


class Spark(Protocol):
    def engine(self, lake_config: LakeConfig):
        """The SparkEngine (sdp.spark) over this lake."""
        ...
