"""Turns dataset specs into Dagster assets and checks, with the same metadata for every dataset.

Datasets with a `source` are ingested from the landing area; datasets with a SQL or Python
`transform` are computed from their upstream datasets' rows in the partition's time window and
written back to the lake partition by partition. dbt-built datasets are handled in sdp.dbt.
"""

from collections import Counter
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import pyarrow as pa
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetsDefinition,
    AutomationCondition,
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
from sdp.events import (
    EventDecoder,
    column_value,
    events_to_arrow,
    rejected_to_arrow,
    split_lines,
)
from sdp.platform import LAKEHOUSE, Lakehouse
from sdp.spec import (
    CLASSIFICATIONS,
    Dataset,
    DbtModel,
    ExpectationSuite,
    Partitioning,
    Python,
    Sql,
    SqlCheck,
)
from sdp.transform import TransformContext

REJECTED_SUFFIX = "__rejected"  # side table of a source dataset holding its rejected lines


def partitions_def(partitioning: Partitioning) -> TimeWindowPartitionsDefinition:
    # end_offset=1: the current hour/day is materializable, since events for it arrive now.
    if partitioning.granularity == "hourly":
        return HourlyPartitionsDefinition(start_date=partitioning.start, end_offset=1)
    return DailyPartitionsDefinition(start_date=partitioning.start, end_offset=1)


def table_location(warehouse: str, entry: Entry) -> str:
    # The SQL catalog's default layout: <warehouse>/<namespace>.db/<table>.
    return f"{warehouse.rstrip('/')}/{entry.domain.name}.db/{entry.dataset.name}"


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
            "dagster/uri": MetadataValue.path(table_location(warehouse, entry)),
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
    lake = lakehouse.lake()
    inputs = {}
    for upstream_ref in entry.dataset.upstream:
        upstream = index.get(upstream_ref)
        inputs[upstream.dataset.name] = lake.read(
            upstream.domain.name, upstream.dataset, start, end
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


def ingest(
    entry: Entry, lakehouse: Lakehouse, start: datetime, end: datetime
) -> tuple[pa.Table, dict[str, Any]]:
    """Rows of the staged files whose event time falls in the window; rejects kept with reasons."""
    dataset, source = entry.dataset, entry.dataset.source
    assert source is not None
    decoder = EventDecoder(source, lakehouse.schemas())
    time_column = dataset.column(dataset.partitioning.time_column)
    seen: set[Any] = set()
    in_window: list[dict[str, Any]] = []
    totals: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    files = lakehouse.landing().files(entry.domain.name, dataset.name)
    for path in files:
        decoded = decoder.decode(split_lines(path.name, path.read_bytes()), seen)
        totals.update(
            valid=len(decoded.events),
            rejected=len(decoded.rejected),
            dropped=decoded.dropped,
            duplicates=decoded.duplicates,
        )
        reasons.update(r.reason.split(":")[0] for r in decoded.rejected)
        if decoded.rejected:
            lakehouse.lake().append_rows(
                (entry.domain.name, dataset.name + REJECTED_SUFFIX),
                rejected_to_arrow(decoded.rejected, path.name, datetime.now(start.tzinfo)),
                replace_filter=f"source_file == '{path.name}'",
            )
        for event in decoded.events:
            moment = column_value(event, time_column)
            if moment is not None and start <= moment < end:
                in_window.append(event)
    metadata = {
        "landing_files": len(files),
        "events_in_files": totals["valid"],
        "rejected_events": totals["rejected"],
        "rejected_by_reason": dict(reasons),
        "rejected_table": f"{entry.domain.name}.{dataset.name}{REJECTED_SUFFIX}",
        "dropped_events": totals["dropped"],
        "duplicate_events": totals["duplicates"],
    }
    return events_to_arrow(in_window, dataset.columns), metadata


def build_dataset_asset(index: DatasetIndex, entry: Entry, warehouse: str) -> AssetsDefinition:
    """The asset for a dataset ingested from landing files or computed by SQL/Python."""
    dataset = entry.dataset
    deps = [index.key(r) for r in dataset.upstream]

    @asset(
        name=dataset.name,
        deps=deps,
        check_specs=check_specs(entry),
        required_resource_keys={LAKEHOUSE},
        automation_condition=AutomationCondition.eager() if deps else None,
        **{k: v for k, v in asset_attributes(index, entry, warehouse).items() if k != "key"},
        key_prefix=[entry.domain.name],
    )
    def _dataset(context: AssetExecutionContext) -> MaterializeResult:
        lakehouse: Lakehouse = getattr(context.resources, LAKEHOUSE)
        start, end = context.partition_time_window
        if dataset.source is not None:
            data, metadata = ingest(entry, lakehouse, start, end)
        else:
            data, metadata = compute(index, entry, lakehouse, start, end)
        return write_partition(context, entry, lakehouse, start, end, data, metadata)

    return _dataset


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
    table = lakehouse.lake().replace_partition(
        entry.domain.name,
        entry.dataset,
        start,
        end,
        data,
        properties={"sdp.partition": context.partition_key, "sdp.run-id": context.run.run_id},
    )
    stored = table.schema().as_arrow()
    return MaterializeResult(
        metadata={
            **metadata,
            "dagster/partition_row_count": data.num_rows,
            "dagster/uri": MetadataValue.path(table.location()),
            "snapshot_id": str(table.current_snapshot().snapshot_id),
        },
        check_results=evaluate_checks(entry, stored, data),
    )


def classification_violations(index: DatasetIndex) -> Iterable[str]:
    """Columns more sensitive than the dataset holding them (a private column in a public set)."""
    for entry in index:
        level = CLASSIFICATIONS.index(entry.dataset.classification)
        for column in entry.dataset.columns:
            if CLASSIFICATIONS.index(column.classification) > level:
                yield f"{entry.qualified_name}.{column.name} is {column.classification}"
