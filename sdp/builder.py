"""Turns dataset specs into Dagster assets and checks, with the same metadata for every dataset.

Datasets with a `source` are ingested from the landing area; datasets with a SQL or Python
`transform` are computed from their upstream datasets' rows in the partition's time window and
written back to the lake partition by partition. dbt-built datasets are handled in sdp.dbt.
"""

import warnings
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

import pyarrow as pa
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetKey,
    AssetsDefinition,
    AutomationCondition,
    BackfillPolicy,
    DailyPartitionsDefinition,
    FreshnessPolicy,
    HourlyPartitionsDefinition,
    MaterializeResult,
    MetadataValue,
    TableColumn,
    TableSchema,
    TimeWindowPartitionsDefinition,
    asset,
)

from sdp import checks
from sdp.catalog import DatasetIndex, Entry
from sdp.lake import table_location
from sdp.platform import LAKEHOUSE, SPARK, Lakehouse
from sdp.spec import (
    CLASSIFICATIONS,
    Dataset,
    DbtModel,
    ExpectationSuite,
    Partitioning,
    Python,
    Sql,
    SqlCheck,
    Stream,
)
from sdp.sql import columns_read
from sdp.transform import TransformContext

# Derived datasets follow new upstream data: any updated upstream partition within this lookback
# (late events) is recomputed; older ones are left to the scheduled recompute.
INCREMENTAL_LOOKBACK = timedelta(days=2)


def partitions_def(partitioning: Partitioning) -> TimeWindowPartitionsDefinition:
    # end_offset=1: the current hour/day is materializable, since events for it arrive now.
    if partitioning.granularity == "hourly":
        return HourlyPartitionsDefinition(start_date=partitioning.start, end_offset=1)
    return DailyPartitionsDefinition(start_date=partitioning.start, end_offset=1)


def topic_key(stream: Stream) -> AssetKey:
    """The external asset standing for a stream's Kafka topic."""
    return AssetKey(["kafka", stream.topic_name.replace(".", "_")])


def column_schema(dataset: Dataset) -> TableSchema:
    return TableSchema(
        columns=[
            TableColumn(
                name=c.name,
                type=c.type,
                description=c.description or None,
                tags={"classification": c.classification},
            )
            for c in dataset.columns
        ]
    )


def kinds(dataset: Dataset) -> set[str]:
    engine = {Sql: "duckdb", Python: "python", DbtModel: "dbt"}.get(
        type(dataset.transform), "python"
    )
    found = {"iceberg", engine}
    if isinstance(dataset.transform, DbtModel):
        found.add("duckdb")
    return found


def asset_attributes(index: DatasetIndex, entry: Entry, warehouse: str) -> dict[str, Any]:
    """Everything the catalog shows about a dataset: shared by every kind of dataset asset."""
    dataset = entry.dataset
    retention_days = dataset.retention.days
    return {
        "key": entry.key,
        "description": dataset.description,
        "group_name": entry.domain.name,
        "owners": list(dataset.owners),
        "kinds": kinds(dataset),
        "tags": {
            "classification": dataset.classification,
            "tier": dataset.tier,
            "domain": entry.domain.name,
        },
        "metadata": {
            "dagster/column_schema": column_schema(dataset),
            "dagster/uri": MetadataValue.path(
                table_location(warehouse, entry.domain.name, entry.dataset.name)
            ),
            "dagster/table_name": f"{entry.domain.name}.{dataset.name}",
            "classification": dataset.classification,
            "retention_days": retention_days,
            "freshness_slo": str(dataset.freshness),
            "partitioned_by": (
                f"{dataset.partitioning.granularity} on {dataset.partitioning.time_column}"
            ),
        },
        "freshness_policy": FreshnessPolicy.time_window(
            fail_window=dataset.freshness, warn_window=dataset.freshness * 3 / 4
        ),
        "partitions_def": partitions_def(dataset.partitioning),
    }


def incremental_condition() -> AutomationCondition:
    """Like eager(), but for every recent partition whose upstream changed, not only the latest,
    and without waiting for upstream partitions that have no data (hours without events)."""
    return (
        AutomationCondition.in_latest_time_window(lookback_delta=INCREMENTAL_LOOKBACK)
        & AutomationCondition.any_deps_updated().since_last_handled()
        & ~AutomationCondition.any_deps_in_progress()
        & ~AutomationCondition.in_progress()
    ).with_label("incremental")


def check_specs(entry: Entry) -> list[AssetCheckSpec]:
    specs = [
        AssetCheckSpec(
            checks.CONTRACT_CHECK,
            asset=entry.key,
            description="The stored table matches the declared columns and types.",
        )
    ]
    for check in entry.dataset.checks:
        specs.append(AssetCheckSpec(check.name, asset=entry.key, description=check.description))
    return specs


def evaluate_checks(entry: Entry, stored: pa.Schema, data: pa.Table) -> list[AssetCheckResult]:
    """Run the contract check and the declared checks on a freshly written partition."""
    outcomes = {checks.CONTRACT_CHECK: checks.check_contract(entry.dataset, stored, data)}
    for check in entry.dataset.checks:
        if isinstance(check, SqlCheck):
            outcomes[check.name] = checks.run_sql_check(check, data, entry.qualified_name)
        elif isinstance(check, ExpectationSuite):
            outcomes[check.name] = checks.run_expectation_suite(check, data, entry.qualified_name)
    return [
        AssetCheckResult(
            check_name=name,
            asset_key=entry.key,
            passed=outcome.passed,
            severity=AssetCheckSeverity.ERROR
            if name == checks.CONTRACT_CHECK
            else AssetCheckSeverity.WARN,
            metadata=outcome.metadata,
        )
        for name, outcome in outcomes.items()
    ]


def read_inputs(
    index: DatasetIndex, entry: Entry, lakehouse: Lakehouse, start: datetime, end: datetime
) -> dict[str, pa.Table]:
    """The upstream rows in the window; for SQL, only the columns the query mentions."""
    lake = lakehouse.lake()
    transform = entry.dataset.transform
    mentioned = columns_read(transform.query) if isinstance(transform, Sql) else None
    inputs = {}
    for upstream_ref in entry.dataset.upstream:
        upstream = index.get(upstream_ref)
        columns = None
        if mentioned is not None:
            time_column = upstream.dataset.partitioning.time_column
            columns = tuple(
                c.name
                for c in upstream.dataset.columns
                if c.name in mentioned or c.name == time_column
            )
        inputs[upstream.dataset.name] = lake.read(
            upstream.domain.name, upstream.dataset, start, end, columns
        )
    return inputs


def compute(
    index: DatasetIndex, entry: Entry, lakehouse: Lakehouse, start: datetime, end: datetime
) -> tuple[pa.Table, dict[str, Any]]:
    """The transform's result for one window: the same code for scheduled and incremental runs."""
    context = TransformContext(
        entry.qualified_name, read_inputs(index, entry, lakehouse, start, end), start, end
    )
    transform = entry.dataset.transform
    if isinstance(transform, Sql):
        result = context.sql(transform.query)
    elif isinstance(transform, Python):
        result = transform.function(context)
    else:
        raise TypeError(f"{entry.qualified_name}: {type(transform).__name__} is built elsewhere")
    input_rows = {f"input_rows/{name}": t.num_rows for name, t in context.inputs.items()}
    return result, input_rows


def verify(
    entry: Entry, lakehouse: Lakehouse, start: datetime, end: datetime
) -> tuple[pa.Table, dict[str, Any]]:
    """An ingested dataset's partition as landed: the lake is its system of record, so a run
    re-checks it rather than rebuilding it (landing jobs append to it, see sdp.lander)."""
    data = lakehouse.lake().read(entry.domain.name, entry.dataset, start, end)
    return data, {"verified": True}


def engine_of(entry: Entry, default_engine: str) -> str:
    """Where a dataset's transform runs: SQL on its or the platform's engine, Python on Arrow."""
    if isinstance(entry.dataset.transform, Sql):
        return entry.dataset.engine or default_engine
    return "duckdb"


def compute_on_spark(
    index: DatasetIndex,
    entry: Entry,
    context: AssetExecutionContext,
    start: datetime,
    end: datetime,
) -> pa.Table:
    """Run the same SQL on Spark, reading and writing the lake's Iceberg tables there; returns
    the rows written, for the checks."""
    lakehouse: Lakehouse = getattr(context.resources, LAKEHOUSE)
    lake = lakehouse.lake()
    lake.table(entry.domain.name, entry.dataset)  # created (and evolved) by the lake, as always
    spark = getattr(context.resources, SPARK).engine(lake.config)
    inputs = {}
    for reference in entry.dataset.upstream:
        upstream = index.get(reference)
        inputs[upstream.dataset.name] = (upstream.domain.name, upstream.dataset)
    result = spark.run_sql(entry.dataset.transform.query, inputs, start, end, entry.qualified_name)
    spark.replace_partition(
        entry.domain.name, entry.dataset, start, end, result, commit_properties(context)
    )
    return lake.read(entry.domain.name, entry.dataset, start, end)


def build_dataset_asset(
    index: DatasetIndex, entry: Entry, warehouse: str, default_engine: str = "duckdb"
) -> AssetsDefinition:
    """The asset for a dataset ingested from landing files or computed by SQL/Python."""
    dataset = entry.dataset
    engine = engine_of(entry, default_engine)
    deps = [index.key(r) for r in dataset.upstream]
    stream = index.stream_of(entry)
    if stream is not None:
        deps.append(topic_key(stream))

    def _dataset(context: AssetExecutionContext) -> MaterializeResult:
        lakehouse: Lakehouse = getattr(context.resources, LAKEHOUSE)
        start, end = context.partition_time_window
        if dataset.source is not None:
            data, metadata = verify(entry, lakehouse, start, end)
            return check_partition(context, entry, lakehouse, data, metadata)
        if engine == "spark":
            data = compute_on_spark(index, entry, context, start, end)
            return check_partition(context, entry, lakehouse, data, {"engine": "spark"})
        data, metadata = compute(index, entry, lakehouse, start, end)
        return write_partition(context, entry, lakehouse, start, end, data, metadata)

    with warnings.catch_warnings():
        # The single-run backfill policy is what the recompute path needs, beta or not.
        warnings.filterwarnings("ignore", message="Parameter `backfill_policy`")
        return asset(
            name=dataset.name,
            deps=deps,
            check_specs=check_specs(entry),
            required_resource_keys={LAKEHOUSE, SPARK} if engine == "spark" else {LAKEHOUSE},
            automation_condition=incremental_condition() if dataset.transform else None,
            # A backfill or recompute of many partitions runs once over the whole range.
            backfill_policy=BackfillPolicy.single_run(),
            **{k: v for k, v in asset_attributes(index, entry, warehouse).items() if k != "key"},
            key_prefix=[entry.domain.name],
        )(_dataset)


def write_partition(
    context: AssetExecutionContext,
    entry: Entry,
    lakehouse: Lakehouse,
    start: datetime,
    end: datetime,
    data: pa.Table,
    metadata: dict[str, Any],
) -> MaterializeResult:
    """Replace the partition in the lake, then check what was written."""
    lakehouse.lake().replace_partition(
        entry.domain.name,
        entry.dataset,
        start,
        end,
        data,
        properties=commit_properties(context),
    )
    return check_partition(context, entry, lakehouse, data, metadata)


def commit_properties(context: AssetExecutionContext) -> dict[str, str]:
    """Snapshot properties saying which partitions and run a commit comes from."""
    keys = context.partition_key_range
    label = keys.start if keys.start == keys.end else f"{keys.start}..{keys.end}"
    return {"sdp.partitions": label, "sdp.run-id": context.run.run_id}


def check_partition(
    context: AssetExecutionContext,
    entry: Entry,
    lakehouse: Lakehouse,
    data: pa.Table,
    metadata: dict[str, Any],
) -> MaterializeResult:
    """The run's result: the partition's rows checked against the contract and declared checks."""
    table = lakehouse.lake().table(entry.domain.name, entry.dataset)
    snapshot = table.current_snapshot()
    return MaterializeResult(
        metadata={
            **metadata,
            "dagster/partition_row_count": data.num_rows,
            "dagster/uri": MetadataValue.path(table.location()),
            "snapshot_id": str(snapshot.snapshot_id if snapshot else None),
        },
        check_results=evaluate_checks(entry, table.schema().as_arrow(), data),
    )


def classification_violations(index: DatasetIndex) -> Iterable[str]:
    """Columns more sensitive than the dataset holding them (a private column in a public set)."""
    for entry in index:
        level = CLASSIFICATIONS.index(entry.dataset.classification)
        for column in entry.dataset.columns:
            if CLASSIFICATIONS.index(column.classification) > level:
                yield f"{entry.qualified_name}.{column.name} is {column.classification}"
