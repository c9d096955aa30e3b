"""The scale engine: a transform's SQL on Apache Spark, over the same Iceberg tables.

Spark opens the lake's SQL catalog (the one pyiceberg writes) through Iceberg's JdbcCatalog, so
both engines read and write the same tables. A transform is written once in DuckDB SQL;
`translate` turns it into Spark SQL with sqlglot. Writing a partition replaces its time window in
one Iceberg commit, as `sdp.lake.Lake.replace_partition` does for the embedded engine.

Starting Spark costs 10-30 s, so the JVM and its base session are started once per process; each
lake gets its own child session (`newSession()`), which has its own catalogs and temp views.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlencode

import pyarrow as pa
import sqlglot
from sqlglot import exp

from sdp.engine import TransformSqlError
from sdp.lake import LakeConfig, LakeError
from sdp.spec import Dataset

if TYPE_CHECKING:  # pyspark is imported only when Spark is used: it is slow to import
    from pyspark.sql import Column, DataFrame, SparkSession

JARS_SCRIPT = Path(__file__).resolve().parents[1] / "deploy" / "spark-jars.sh"
ICEBERG_EXTENSIONS = "org.apache.iceberg.spark.extensions.IcebergSparkSessionExtensions"
SPARK_TYPES = {
    "string": "string",
    "int32": "int",
    "int64": "bigint",
    "double": "double",
    "bool": "boolean",
    "timestamp": "timestamp",  # Spark's TIMESTAMP is instant-based, like Iceberg's timestamptz
    "date": "date",
}
# pyiceberg's S3 properties -> Iceberg Java's S3FileIO properties.
S3_PROPERTIES = {
    "s3.endpoint": "s3.endpoint",
    "s3.access-key-id": "s3.access-key-id",
    "s3.secret-access-key": "s3.secret-access-key",
    "s3.session-token": "s3.session-token",
    "s3.region": "client.region",
}
LOG4J2 = """\
# Written by sdp.spark: Spark and Iceberg report errors only.
rootLogger.level = error
rootLogger.appenderRef.stderr.ref = stderr
# PySpark's gateway counts as a shell: unless its logger has a level, Spark resets the console
# to WARN and says so.
logger.gateway.name = org.apache.spark.api.python.PythonGatewayServer
logger.gateway.level = error
appender.stderr.type = Console
appender.stderr.name = stderr
appender.stderr.target = SYSTEM_ERR
appender.stderr.layout.type = PatternLayout
appender.stderr.layout.pattern = %d{HH:mm:ss} %p %c{1}: %m%n
"""


class SparkEngineError(RuntimeError):
    """Spark could not be started or configured for the lake; the message says why."""


# ------------------------------------------------------------------ SQL translation


def translate(sql: str) -> str:
    """A transform's DuckDB SQL as Spark SQL (one statement; `$start` becomes `:start`)."""
    return _parse(sql).sql(dialect="spark", identify=True)


def _parse(sql: str) -> exp.Expression:
    try:
        return sqlglot.parse_one(sql, read="duckdb")
    except sqlglot.errors.ParseError as error:
        raise TransformSqlError(f"cannot translate to Spark SQL: {error}") from None


def parameters(sql: str) -> set[str]:
    """Names of the `$name` parameters the query uses (Spark binds only those)."""
    return {p.name for p in _parse(sql).find_all(exp.Placeholder) if p.name}


# ------------------------------------------------------------------ catalog settings


def jdbc_properties(catalog_uri: str) -> dict[str, str]:
    """The SQLAlchemy URI pyiceberg uses, as Iceberg JdbcCatalog's uri (and user/password)."""
    from sqlalchemy.engine import make_url

    url = make_url(catalog_uri)
    backend = url.get_backend_name()
    if backend == "sqlite":
        if not url.database or url.database == ":memory:":
            raise SparkEngineError(f"{catalog_uri}: Spark needs a SQLite catalog file")
        return {"uri": f"jdbc:sqlite:{os.path.abspath(url.database)}"}
    if backend == "postgresql":
        query = f"?{urlencode(dict(url.query))}" if url.query else ""
        found = {"uri": f"jdbc:postgresql://{url.host}:{url.port or 5432}/{url.database}{query}"}
        if url.username:
            found["jdbc.user"] = url.username
        if url.password:
            found["jdbc.password"] = str(url.password)
        return found
    raise SparkEngineError(f"{catalog_uri}: no JDBC driver for a {backend!r} catalog")


def catalog_properties(config: LakeConfig) -> dict[str, str]:
    """Iceberg catalog properties opening the same catalog and warehouse as `sdp.lake.Lake`."""
    found = {
        "catalog-impl": "org.apache.iceberg.jdbc.JdbcCatalog",
        # pyiceberg's tables, read by the V1 schema (which also knows views).
        "jdbc.schema-version": "V1",
        "warehouse": config.warehouse,
        # pyiceberg commits between Spark queries: always load a table's current metadata.
        "cache-enabled": "false",
        **jdbc_properties(config.catalog_uri),
    }
    if config.warehouse.startswith(("s3://", "s3a://")):
        found["io-impl"] = "org.apache.iceberg.aws.s3.S3FileIO"
        for key, value in config.properties.items():
            if key in S3_PROPERTIES:
                found[S3_PROPERTIES[key]] = value
        # A custom endpoint (MinIO, Ceph) serves buckets as paths, as pyiceberg assumes there.
        if "s3.endpoint" in config.properties:
            found["s3.path-style-access"] = "true"
    return found


# ------------------------------------------------------------------ the process's Spark


@dataclass
class _Started:
    key: tuple
    session: SparkSession
    scratch: Path  # the JVM's temporary files: shuffle blocks, extracted native libraries


_lock = threading.Lock()
_started: _Started | None = None
_children: dict[tuple, tuple[SparkSession, threading.Lock]] = {}


def jars(jars_dir: str | None) -> list[str]:
    """The jars Spark needs, from `jars_dir` or fetched by deploy/spark-jars.sh."""
    if jars_dir is None:
        try:
            done = subprocess.run(
                ["bash", str(JARS_SCRIPT)], check=True, capture_output=True, text=True
            )
        except subprocess.CalledProcessError as error:
            raise SparkEngineError(f"{JARS_SCRIPT} failed: {error.stderr.strip()}") from None
        jars_dir = done.stdout.strip().splitlines()[-1]
    found = sorted(str(p) for p in Path(jars_dir).glob("*.jar"))
    if not any("iceberg-spark-runtime" in Path(p).name for p in found):
        raise SparkEngineError(f"{jars_dir}: no iceberg-spark-runtime jar (run {JARS_SCRIPT})")
    return found


def base_session(master: str, jar_paths: list[str], conf: Mapping[str, str]) -> SparkSession:
    """The process's one Spark session (and JVM), started on first use."""
    global _started
    key = (master, tuple(jar_paths), tuple(sorted(conf.items())))
    with _lock:
        if _started is not None:
            if _started.key != key:
                raise SparkEngineError(
                    "Spark is already running in this process with other settings "
                    f"(master {_started.key[0]}); call sdp.spark.stop_session() first"
                )
            return _started.session
        from pyspark.sql import SparkSession

        scratch = Path(tempfile.mkdtemp(prefix="sdp-spark-"))
        builder = SparkSession.builder.master(master).appName("sdp")
        for key_, value in {**_session_conf(master, jar_paths, scratch), **conf}.items():
            builder = builder.config(key_, value)
        try:
            session = builder.getOrCreate()
        except Exception:
            shutil.rmtree(scratch, ignore_errors=True)
            raise
        session.sparkContext.setLogLevel("ERROR")
        _started = _Started(key, session, scratch)
        return session


def _session_conf(master: str, jar_paths: list[str], scratch: Path) -> dict[str, str]:
    log_config = scratch / "log4j2.properties"
    log_config.write_text(LOG4J2)
    java_options = f"-Dlog4j2.configurationFile={log_config.as_uri()} -Djava.io.tmpdir={scratch}"
    found = {
        "spark.sql.extensions": ICEBERG_EXTENSIONS,
        "spark.sql.session.timeZone": "UTC",
        # On the driver's own classpath: java.sql.DriverManager only sees drivers loaded there
        # ("No suitable driver" otherwise).
        "spark.driver.extraClassPath": os.pathsep.join(jar_paths),
        "spark.driver.extraJavaOptions": java_options,
        "spark.local.dir": str(scratch),
        "spark.driver.memory": "2g",
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        # Partition-sized data: a few shuffle partitions, not Spark's default 200.
        "spark.sql.shuffle.partitions": "8",
    }
    if not master.startswith("local"):
        # Executors of a cluster get the jars shipped; in local mode that would only copy
        # 130 MB of jars the driver already has.
        found["spark.jars"] = ",".join(jar_paths)
    return found


def lake_session(config: LakeConfig, base: SparkSession) -> tuple[SparkSession, threading.Lock]:
    """A child session with the lake's catalog, shared by the engines of that lake."""
    properties = catalog_properties(config)
    key = (config.catalog_name, tuple(sorted(properties.items())))
    with _lock:
        if key not in _children:
            session = base.newSession()
            prefix = f"spark.sql.catalog.{config.catalog_name}"
            session.conf.set(prefix, "org.apache.iceberg.spark.SparkCatalog")
            for name, value in properties.items():
                session.conf.set(f"{prefix}.{name}", value)
            _children[key] = (session, threading.Lock())
        return _children[key]


def stop_session() -> None:
    """Stop Spark and its JVM (tests, benchmarks); the next engine starts a new one."""
    global _started
    with _lock:
        _children.clear()
        if _started is None:
            return
        from pyspark import SparkContext

        _started.session.stop()
        scratch, _started = _started.scratch, None
        # PySpark keeps the JVM for the next session; end it so none is left running.
        gateway = SparkContext._gateway
        SparkContext._gateway = None
        SparkContext._jvm = None
        if gateway is not None:
            gateway.shutdown()
            proc = getattr(gateway, "proc", None)
            if proc is not None:
                proc.stdin.close()  # the JVM exits when its stdin closes
                proc.wait(timeout=60)
        shutil.rmtree(scratch, ignore_errors=True)


# ------------------------------------------------------------------ the engine


class SparkEngine:
    """Runs transforms on Spark over the lake's Iceberg tables (`<catalog>.<domain>.<dataset>`)."""

    def __init__(
        self,
        lake_config: LakeConfig,
        master: str = "local[*]",
        jars_dir: str | None = None,
        conf: Mapping[str, str] | None = None,
    ):
        self.lake_config = lake_config
        self.master = master
        self.jars_dir = jars_dir
        self.conf = dict(conf or {})
        self._session: SparkSession | None = None
        self._views_lock = threading.Lock()

    @property
    def session(self) -> SparkSession:
        """The lake's Spark session, started on first use."""
        if self._session is None:
            base = base_session(self.master, jars(self.jars_dir), self.conf)
            self._session, self._views_lock = lake_session(self.lake_config, base)
        return self._session

    def table_name(self, domain: str, dataset: Dataset) -> str:
        return f"{self.lake_config.catalog_name}.{domain}.{dataset.name}"

    def read(
        self,
        domain: str,
        dataset: Dataset,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> DataFrame:
        """The dataset's declared columns, of the rows with event time in [start, end) if given."""
        data = self.session.table(self._existing(domain, dataset))
        if start is not None and end is not None:
            data = data.where(_in_window(dataset, start, end))
        return data.select(*(c.name for c in dataset.columns))

    def run_sql(
        self,
        query: str,
        inputs: Mapping[str, tuple[str, Dataset]],
        start: datetime,
        end: datetime,
        where: str = "spark",
    ) -> DataFrame:
        """Run a transform's DuckDB SQL with each input (name -> (domain, dataset)) visible as a
        view of its rows in [start, end); `$start`/`$end` are bound; `where` names the caller."""
        from pyspark.errors import PySparkException

        spark_sql = translate(query)
        used = parameters(query)
        args = {k: v for k, v in {"start": start, "end": end}.items() if k in used}
        # Views are per session: hold them only while Spark analyzes the query, which resolves
        # them into the returned DataFrame's plan, so concurrent calls never see each other's.
        with self._views_lock:
            for name, (domain, dataset) in inputs.items():
                self.read(domain, dataset, start, end).createOrReplaceTempView(name)
            try:
                return self.session.sql(spark_sql, args=args or None)
            except PySparkException as error:
                raise TransformSqlError(f"{where}: {error}") from None
            finally:
                for name in inputs:
                    self.session.catalog.dropTempView(name)

    def replace_partition(
        self,
        domain: str,
        dataset: Dataset,
        start: datetime,
        end: datetime,
        data: DataFrame,
        properties: Mapping[str, str] | None = None,
    ) -> None:
        """Atomically replace every row with event time in [start, end) by `data` (an empty
        result clears the window); `properties` go into the Iceberg snapshot's summary."""
        from pyspark.errors import PySparkException

        name = self._existing(domain, dataset)
        writer = _conform(data, dataset, name, start, end).writeTo(name)
        for key, value in (properties or {}).items():
            writer = writer.option(f"snapshot-property.{key}", value)
        try:
            writer.overwrite(_in_window(dataset, start, end))
        except PySparkException as error:
            if "USER_RAISED_EXCEPTION" in str(error):
                raise LakeError(_outside_message(dataset, name, start, end)) from None
            raise

    def to_arrow(self, data: DataFrame) -> pa.Table:
        """Collect a (small) result to the driver as Arrow; timestamps come back in UTC."""
        return data.toArrow()

    def _existing(self, domain: str, dataset: Dataset) -> str:
        # The lake (pyiceberg) creates tables and adds declared columns: Spark only uses them.
        name = self.table_name(domain, dataset)
        if not self.session.catalog.tableExists(name):
            raise LakeError(
                f"{name}: no such Iceberg table in catalog {self.lake_config.catalog_uri}; "
                "create it with sdp.lake.Lake.table() first"
            )
        return name


def _in_window(dataset: Dataset, start: datetime, end: datetime) -> Column:
    from pyspark.sql import functions as F

    time = F.col(dataset.partitioning.time_column)
    return (time >= F.lit(start)) & (time < F.lit(end))


def _outside_message(dataset: Dataset, name: str, start: datetime, end: datetime) -> str:
    return (
        f"{name}: rows have {dataset.partitioning.time_column} outside the partition "
        f"[{start.isoformat()}, {end.isoformat()}); nothing was written"
    )


def _conform(data: DataFrame, dataset: Dataset, name: str, start: datetime, end: datetime):
    """The declared columns in order and types; a row outside the window fails the write job
    (checked while writing, not by a second pass over the data)."""
    from pyspark.sql import functions as F

    declared = [c.name for c in dataset.columns]
    missing = [c for c in declared if c not in data.columns]
    if missing:
        raise LakeError(f"{name}: result lacks declared columns {missing}")
    extra = [c for c in data.columns if c not in declared]
    if extra:
        raise LakeError(f"{name}: result has undeclared columns {extra}")
    time_column = dataset.partitioning.time_column
    columns = []
    for column in dataset.columns:
        value = F.col(column.name).cast(SPARK_TYPES[column.type])
        if column.name == time_column:
            inside = (value >= F.lit(start)) & (value < F.lit(end))
            message = _outside_message(dataset, name, start, end)
            value = F.when(inside, value).otherwise(F.raise_error(F.lit(message)))
        columns.append(value.alias(column.name))
    return data.select(*columns)
