"""The Spark engine: the same SQL transforms give the same rows as DuckDB, in the same tables.

One Spark session serves the whole module (starting it costs 10-30 s); the lake is a platform
with the real sample events landed and sanitized by the normal (DuckDB/Python) path.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pytest
import sqlglot

from sdp.builder import compute
from sdp.engine import TransformSqlError
from sdp.lake import LakeConfig, LakeError, conform
from sdp.spark import (
    SparkEngine,
    catalog_properties,
    parameters,
    stop_session,
    translate,
)
from sdp.spec import Sql
from tests.conftest import SAMPLE, Platform, make_platform

HOUR = datetime(2026, 9, 17, 3, tzinfo=UTC)
DAY = datetime(2026, 9, 17, tzinfo=UTC)
SPANS = {"hourly": timedelta(hours=1), "daily": timedelta(days=1)}


def sql_datasets() -> list[str]:
    from sdp_assets.definitions import domains

    return sorted(
        f"{domain.name}.{dataset.name}"
        for domain in domains()
        for dataset in domain.datasets
        if isinstance(dataset.transform, Sql)
    )


@pytest.fixture(scope="module")
def landed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    """Sample events landed and sanitized for 2026-09-17 03:00 (the hour they all fall in)."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        platform = make_platform(tmp_path_factory.mktemp("spark") / "sdp", monkeypatch)
        platform.lakehouse.staging().stage("mediawiki", "recentchange", SAMPLE)
        assert platform.land().success
        result = platform.materialize(["mediawiki.recentchange_sanitized"], "2026-09-17-03:00")
        assert result.success
        for name in sql_datasets():  # the tables exist, as the platform makes them on first use
            entry = platform.index.get(name)
            platform.lake.table(entry.domain.name, entry.dataset)
        yield platform


@pytest.fixture(scope="module")
def engine(landed: Platform) -> Iterator[SparkEngine]:
    stop_session()  # a session an earlier test left (other master or settings) is not reused
    engine = SparkEngine(landed.lake.config, master="local[2]")
    try:
        yield engine
    finally:
        stop_session()  # no JVM outlives the module


def window(platform: Platform, name: str) -> tuple[datetime, datetime]:
    granularity = platform.index.get(name).dataset.partitioning.granularity
    start = HOUR if granularity == "hourly" else DAY
    return start, start + SPANS[granularity]


def inputs(platform: Platform, name: str) -> dict:
    entry = platform.index.get(name)
    upstream = [platform.index.get(r) for r in entry.dataset.upstream]
    return {u.dataset.name: (u.domain.name, u.dataset) for u in upstream}


def spark_write(platform: Platform, engine: SparkEngine, name: str):
    """The dataset's partition computed and written by Spark, as the builder will do it."""
    entry = platform.index.get(name)
    start, end = window(platform, name)
    result = engine.run_sql(entry.dataset.transform.query, inputs(platform, name), start, end)
    engine.replace_partition(entry.domain.name, entry.dataset, start, end, result)


def duckdb_result(platform: Platform, name: str) -> pa.Table:
    """The same partition computed by the platform's DuckDB path (not written)."""
    entry = platform.index.get(name)
    start, end = window(platform, name)
    data, _ = compute(platform.index, entry, platform.lakehouse, start, end)
    return conform(data, entry.dataset, name)


def sorted_rows(table: pa.Table) -> list[dict]:
    return sorted(table.to_pylist(), key=lambda row: tuple(str(v) for v in row.values()))


def stored(platform: Platform, name: str) -> pa.Table:
    return platform.read(name, *window(platform, name))


# ------------------------------------------------------------------ translation, no Spark


@pytest.mark.parametrize("name", sql_datasets())
def test_translation_of_real_transforms_is_spark_sql(name):
    from sdp_assets.definitions import domains

    (dataset,) = [
        d for domain in domains() for d in domain.datasets if f"{domain.name}.{d.name}" == name
    ]
    spark_sql = translate(dataset.transform.query)
    sqlglot.parse_one(spark_sql, read="spark")  # parses back as Spark SQL
    assert "::" not in spark_sql and "$" not in spark_sql


def test_window_parameters_become_named_markers():
    query = "select * from t where dt >= $start and dt < $end"
    assert translate(query) == "SELECT * FROM `t` WHERE `dt` >= :start AND `dt` < :end"
    assert parameters(query) == {"start", "end"}
    assert parameters("select 1") == set()


def test_catalog_properties_map_the_lake_config():
    local = catalog_properties(LakeConfig("sqlite:////abs/catalog.db", "file:///abs/wh"))
    assert local["uri"] == "jdbc:sqlite:/abs/catalog.db"
    assert local["warehouse"] == "file:///abs/wh"
    assert local["jdbc.schema-version"] == "V1"
    production = catalog_properties(
        LakeConfig(
            "postgresql+psycopg2://sdp:s%40cret@db.internal:5433/lake",
            "s3://bucket/warehouse",
            properties={"s3.endpoint": "http://minio:9000", "s3.region": "eu-west-1"},
        )
    )
    assert production["uri"] == "jdbc:postgresql://db.internal:5433/lake"
    assert (production["jdbc.user"], production["jdbc.password"]) == ("sdp", "s@cret")
    assert production["io-impl"] == "org.apache.iceberg.aws.s3.S3FileIO"
    assert production["s3.endpoint"] == "http://minio:9000"
    assert production["client.region"] == "eu-west-1"


# ------------------------------------------------------------------ on Spark


@pytest.mark.slow
@pytest.mark.parametrize("name", sql_datasets())
def test_translated_transforms_run_on_spark(landed, engine, name):
    entry = landed.index.get(name)
    result = engine.run_sql(
        entry.dataset.transform.query, inputs(landed, name), *window(landed, name)
    )
    assert engine.to_arrow(result).column_names == [c.name for c in entry.dataset.columns]


@pytest.mark.slow
@pytest.mark.parametrize("name", ["mediawiki.edits_hourly", "editors.editor_daily_activity"])
def test_spark_writes_what_duckdb_computes(landed, engine, name):
    spark_write(landed, engine, name)
    expected = duckdb_result(landed, name)
    written = stored(landed, name)  # read back by pyiceberg
    assert expected.num_rows > 10
    assert written.schema == expected.schema
    assert sorted_rows(written) == sorted_rows(expected)
    entry = landed.index.get(name)
    through_spark = engine.to_arrow(
        engine.read(entry.domain.name, entry.dataset, *window(landed, name))
    )
    assert sorted_rows(through_spark.cast(expected.schema)) == sorted_rows(expected)


@pytest.mark.slow
def test_rewriting_gives_identical_contents(landed, engine):
    name = "mediawiki.edits_hourly"
    spark_write(landed, engine, name)
    table = landed.lake.table("mediawiki", landed.index.get(name).dataset)
    first, snapshots = sorted_rows(stored(landed, name)), len(table.snapshots())
    spark_write(landed, engine, name)
    assert sorted_rows(stored(landed, name)) == first
    assert len(table.refresh().snapshots()) == snapshots + 1  # one more commit, same rows


@pytest.mark.slow
def test_empty_result_clears_only_its_partition(landed, engine):
    name = "mediawiki.edits_hourly"
    entry = landed.index.get(name)
    start, end = window(landed, name)
    spark_write(landed, engine, name)
    earlier = duckdb_result(landed, name).slice(0, 1)
    earlier = earlier.set_column(
        0, "hour", pa.array([start - timedelta(hours=1)], earlier.schema[0].type)
    )
    landed.lake.replace_partition(
        "mediawiki", entry.dataset, start - timedelta(hours=1), start, earlier
    )
    result = engine.run_sql(entry.dataset.transform.query, inputs(landed, name), start, end)
    empty = result.limit(0)
    engine.replace_partition("mediawiki", entry.dataset, start, end, empty)
    assert stored(landed, name).num_rows == 0
    assert landed.read(name).to_pylist() == earlier.to_pylist()  # the hour before is kept


@pytest.mark.slow
def test_rows_outside_the_window_are_refused(landed, engine):
    name = "mediawiki.edits_hourly"
    entry = landed.index.get(name)
    start, end = window(landed, name)
    spark_write(landed, engine, name)
    before = sorted_rows(stored(landed, name))
    result = engine.run_sql(entry.dataset.transform.query, inputs(landed, name), start, end)
    with pytest.raises(LakeError, match="outside the partition"):
        engine.replace_partition("mediawiki", entry.dataset, end, end + timedelta(hours=1), result)
    assert sorted_rows(stored(landed, name)) == before


@pytest.mark.slow
def test_writing_a_table_the_lake_has_not_created_names_it(landed, engine):
    entry = landed.index.get("mediawiki.edits_hourly")
    missing = dataclasses.replace(entry.dataset, name="never_created")
    start, end = window(landed, "mediawiki.edits_hourly")
    data = engine.read("mediawiki", entry.dataset, start, end)
    with pytest.raises(LakeError, match="sdp.mediawiki.never_created"):
        engine.replace_partition("mediawiki", missing, start, end, data)


@pytest.mark.slow
def test_spark_uses_a_warehouse_on_s3(engine, request, tmp_path):
    """Same engine settings, another lake: its catalog in a child session, files on S3."""
    import uuid

    from pyspark.sql import functions as F

    from sdp.lake import Lake
    from tests.sdp.test_lake import EVENTS, HOUR, NEXT, rows

    try:
        server = request.getfixturevalue("s3_server")
    except pytest.FixtureLookupError:
        pytest.skip("no s3_server fixture (deploy/seaweedfs.sh) in this checkout")
    prefix = f"{uuid.uuid4().hex[:12]}/warehouse"
    config = LakeConfig(
        f"sqlite:///{tmp_path}/catalog.db",
        f"s3://{server.bucket}/{prefix}",
        properties=server.properties(),
    )
    lake = Lake(config)
    lake.replace_partition("test", EVENTS, HOUR, NEXT, rows((HOUR, 1), (HOUR, 2)))
    on_s3 = SparkEngine(config, master=engine.master)
    written = on_s3.read("test", EVENTS, HOUR, NEXT).withColumn("value", F.col("value") * 10)
    on_s3.replace_partition("test", EVENTS, HOUR, NEXT, written)
    assert sorted(r["value"] for r in lake.read("test", EVENTS).to_pylist()) == [10, 20]
    data_files = lake.table("test", EVENTS).inspect.files()["file_path"].to_pylist()
    assert data_files and all(f.startswith(f"s3://{server.bucket}/{prefix}/") for f in data_files)
    assert {f.removeprefix(f"s3://{server.bucket}/") for f in data_files} <= set(
        server.keys(prefix)
    )


@pytest.mark.slow
def test_window_parameters_are_bound_on_spark(landed, engine):
    name = "mediawiki.edits_hourly"
    start, end = window(landed, name)
    query = """
        select count(*) as n, min(dt) >= $start and max(dt) < $end as inside
        from recentchange_sanitized
    """
    result = engine.run_sql(query, inputs(landed, name), start, end)
    expected = landed.read("mediawiki.recentchange_sanitized", start, end).num_rows
    assert engine.to_arrow(result).to_pylist() == [{"n": expected, "inside": True}]


@pytest.mark.slow
def test_a_failing_query_names_its_dataset(landed, engine):
    name = "mediawiki.edits_hourly"
    with pytest.raises(TransformSqlError, match="mediawiki.edits_hourly: .*no_such_column"):
        engine.run_sql(
            "select no_such_column from recentchange_sanitized",
            inputs(landed, name),
            *window(landed, name),
            where=name,
        )
