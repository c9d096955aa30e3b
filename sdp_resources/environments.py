"""The one place that knows the environments. Only resources differ between them.

- local (default): everything embedded under SDP_HOME (default <repo>/.sdp): SQLite catalog,
  warehouse on local disk, DuckDB.
- production: catalog and warehouse from SDP_CATALOG_URI / SDP_WAREHOUSE (PostgreSQL, S3),
  secrets through dagster.EnvVar.
Values are read when the code location loads, never at import time.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from dagster import EnvVar
from dagster_aws.s3 import S3Resource
from dagster_dbt import DbtCliResource, DbtProject

from sdp.schemas import DEFAULT_ROOT as SCHEMAS_DIR
from sdp.spec import ENGINES
from sdp_resources.kafka import KafkaResource
from sdp_resources.lakehouse import LakehouseResource
from sdp_resources.spark import SparkResource

REPO_ROOT = Path(__file__).resolve().parents[1]
DBT_PROJECT_DIR = REPO_ROOT / "dbt_project"
ENVIRONMENTS = ("local", "production")


class ConfigError(RuntimeError):
    """The environment's configuration is missing or wrong; the message names the variable."""


@dataclass(frozen=True)
class Environment:
    name: str
    home: Path  # local state: landing area, serving files, the Dagster instance
    warehouse: str
    resources: dict[str, Any]
    dbt_project: DbtProject
    engine: str = "duckdb"  # where SQL transforms run unless a dataset says otherwise


def sdp_home() -> Path:
    return Path(os.environ.get("SDP_HOME") or REPO_ROOT / ".sdp").resolve()


def current() -> Environment:
    name = os.environ.get("SDP_ENV", "local")
    engine = os.environ.get("SDP_ENGINE", "duckdb")
    if engine not in ENGINES:
        raise ConfigError(f"SDP_ENGINE={engine!r} is not an engine; expected one of {ENGINES}")
    if name == "local":
        return replace(local(sdp_home()), engine=engine)
    if name == "production":
        return replace(production(sdp_home()), engine=engine)
    raise ConfigError(f"SDP_ENV={name!r} is not an environment; expected one of {ENVIRONMENTS}")


def dbt_project() -> DbtProject:
    """The dbt project, with its manifest parsed when missing or older than its sources."""
    project = DbtProject(project_dir=DBT_PROJECT_DIR)
    manifest = project.manifest_path
    sources = [p for p in DBT_PROJECT_DIR.rglob("*") if p.suffix in {".sql", ".yml", ".yaml"}]
    newest = max((p.stat().st_mtime for p in sources if "target" not in p.parts), default=0)
    if not manifest.exists() or manifest.stat().st_mtime < newest:
        project.preparer.prepare(project)
    return project


def _resources(
    lakehouse: LakehouseResource, kafka: KafkaResource, project: DbtProject
) -> dict[str, Any]:
    # dbt from this interpreter's environment, also when its bin folder is not on PATH.
    dbt = DbtCliResource(
        project_dir=project, dbt_executable=str(Path(sys.executable).parent / "dbt")
    )
    # Spark: local[*] unless SDP_SPARK_MASTER names a cluster (spark://..., yarn, k8s://...).
    spark = SparkResource(master=os.environ.get("SDP_SPARK_MASTER", "local[*]"))
    return {"lakehouse": lakehouse, "kafka": kafka, "dbt": dbt, "spark": spark}


def local(home: Path) -> Environment:
    # dbt (a subprocess) finds the serving file through SDP_HOME: make it the home used here.
    os.environ["SDP_HOME"] = str(home)
    lake_dir = home / "lake"
    lake_dir.mkdir(parents=True, exist_ok=True)
    warehouse = (lake_dir / "warehouse").as_uri()
    lakehouse = LakehouseResource(
        catalog_uri=f"sqlite:///{lake_dir / 'catalog.db'}",
        warehouse=warehouse,
        staging_dir=str(home / "staging"),
        serving_dir=str(home / "serving"),
        schemas_dir=str(SCHEMAS_DIR),
    )
    # The broker started by deploy/kafka.sh (SDP_KAFKA_PORT there, 9092 by default).
    kafka = KafkaResource(
        bootstrap_servers=os.environ.get("SDP_KAFKA_BOOTSTRAP")
        or f"127.0.0.1:{os.environ.get('SDP_KAFKA_PORT', '9092')}"
    )
    project = dbt_project()
    return Environment("local", home, warehouse, _resources(lakehouse, kafka, project), project)


def production(home: Path) -> Environment:
    def required(variable: str) -> str:
        value = os.environ.get(variable, "")
        if not value:
            raise ConfigError(f"SDP_ENV=production needs {variable}")
        return value

    warehouse = required("SDP_WAREHOUSE")
    lakehouse = LakehouseResource(
        catalog_uri=required("SDP_CATALOG_URI"),
        warehouse=warehouse,
        staging_dir=os.environ.get("SDP_STAGING_DIR") or str(home / "staging"),
        serving_dir=str(home / "serving"),
        schemas_dir=str(SCHEMAS_DIR),
        s3=S3Resource(
            endpoint_url=os.environ.get("SDP_S3_ENDPOINT") or None,
            aws_access_key_id=EnvVar("AWS_ACCESS_KEY_ID"),
            aws_secret_access_key=EnvVar("AWS_SECRET_ACCESS_KEY"),
            region_name=os.environ.get("AWS_REGION", "us-east-1"),
        ),
    )
    kafka = KafkaResource(
        bootstrap_servers=required("SDP_KAFKA_BOOTSTRAP"),
        security_protocol=os.environ.get("SDP_KAFKA_SECURITY_PROTOCOL", "SASL_SSL"),
        sasl_mechanism=os.environ.get("SDP_KAFKA_SASL_MECHANISM", "SCRAM-SHA-512"),
        sasl_username=EnvVar("SDP_KAFKA_USERNAME"),
        sasl_password=EnvVar("SDP_KAFKA_PASSWORD"),
    )
    project = dbt_project()
    return Environment(
        "production", home, warehouse, _resources(lakehouse, kafka, project), project
    )
