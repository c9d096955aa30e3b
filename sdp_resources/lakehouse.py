"""The lakehouse resource: the lake (Iceberg), staging area, schema registry and serving file.

The warehouse is a local folder (file://) or an S3 prefix (s3://); for S3, the endpoint and the
credentials come from dagster-aws's S3Resource, the same one any other S3 use shares.
"""

from __future__ import annotations

from pathlib import Path

from dagster import ConfigurableResource, EnvVar
from dagster_aws.s3 import S3Resource
from pydantic import PrivateAttr

from sdp.lake import Lake, LakeConfig
from sdp.schemas import SchemaRegistry
from sdp.staging import Staging


def s3_properties(s3: S3Resource | None) -> dict[str, str]:
    """pyiceberg's S3 FileIO settings for an S3Resource's endpoint and credentials."""
    if s3 is None:
        return {}
    properties = {
        "s3.endpoint": s3.endpoint_url,
        "s3.access-key-id": s3.aws_access_key_id,
        "s3.secret-access-key": s3.aws_secret_access_key,
        "s3.session-token": s3.aws_session_token,
        # Given explicitly, so that pyiceberg does not ask AWS where the bucket lives.
        "s3.region": s3.region_name or "us-east-1",
    }
    # Outside a run (scripts, sdp.source) EnvVar fields are not resolved yet: resolve them here.
    resolved = {k: v.get_value() if isinstance(v, EnvVar) else v for k, v in properties.items()}
    return {key: value for key, value in resolved.items() if value}


class LakehouseResource(ConfigurableResource):
    """Configures the core's lake clients for one environment (see sdp_resources.environments)."""

    catalog_uri: str
    warehouse: str
    staging_dir: str
    serving_dir: str
    schemas_dir: str
    catalog_name: str = "sdp"
    s3: S3Resource | None = None

    _lake: Lake | None = PrivateAttr(default=None)

    def lake(self) -> Lake:
        if self._lake is None:
            self._lake = Lake(
                LakeConfig(
                    self.catalog_uri, self.warehouse, self.catalog_name, s3_properties(self.s3)
                )
            )
        return self._lake

    def staging(self) -> Staging:
        return Staging(self.staging_dir)

    def schemas(self) -> SchemaRegistry:
        return SchemaRegistry(self.schemas_dir)

    def serving_duckdb_path(self) -> Path:
        # dbt_project/profiles.yml derives the same path from SDP_HOME.
        return Path(self.serving_dir) / "dbt.duckdb"
