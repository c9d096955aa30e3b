"""The lakehouse resource: the lake (Iceberg), landing area, schema registry and serving file."""

from __future__ import annotations

from pathlib import Path

from dagster import ConfigurableResource
from pydantic import PrivateAttr

from sdp.lake import Lake, LakeConfig
from sdp.schemas import SchemaRegistry
from sdp.staging import Staging


class LakehouseResource(ConfigurableResource):
    """Configures the core's lake clients for one environment (see sdp_resources.environments)."""

    catalog_uri: str
    warehouse: str
    staging_dir: str
    serving_dir: str
    schemas_dir: str
    catalog_name: str = "sdp"
    s3_endpoint: str | None = None
    s3_access_key_id: str | None = None
    s3_secret_access_key: str | None = None
    s3_region: str | None = None

    _lake: Lake | None = PrivateAttr(default=None)

    def lake(self) -> Lake:
        if self._lake is None:
            properties = {
                key: value
                for key, value in {
                    "s3.endpoint": self.s3_endpoint,
                    "s3.access-key-id": self.s3_access_key_id,
                    "s3.secret-access-key": self.s3_secret_access_key,
                    "s3.region": self.s3_region,
                }.items()
                if value
            }
            self._lake = Lake(
                LakeConfig(self.catalog_uri, self.warehouse, self.catalog_name, properties)
            )
        return self._lake

    def staging(self) -> Staging:
        return Staging(self.staging_dir)

    def schemas(self) -> SchemaRegistry:
        return SchemaRegistry(self.schemas_dir)

    def serving_duckdb_path(self) -> Path:
        # dbt_project/profiles.yml derives the same path from SDP_HOME.
        return Path(self.serving_dir) / "dbt.duckdb"
