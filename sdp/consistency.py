"""The lambda consistency check: is what the incremental path stored what a recompute gives?

For the most recent partitions of a derived dataset (and of its inputs), the transform is run
again from the lake and its rows compared with the stored ones, as multisets, plus the sum of
every numeric column. Events that arrived after a partition's incremental run make the two
differ; the scheduled recompute (sdp_sensors.recompute) brings them back in line.
"""

from collections import Counter
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pyarrow as pa
from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetChecksDefinition,
    AssetCheckSeverity,
    asset_check,
)

from sdp.builder import compute, partitions_def
from sdp.catalog import DatasetIndex, Entry
from sdp.lake import Lake, conform
from sdp.platform import LAKEHOUSE, Lakehouse

CONSISTENCY_CHECK = "consistent_with_recompute"
RECENT_PARTITIONS = {"hourly": 48, "daily": 3}
UNIT = {"hourly": timedelta(hours=1), "daily": timedelta(days=1)}
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
SAMPLE = 5


def partition_starts(lake: Lake, entry: Entry, granularity: str) -> set[datetime]:
    """Starts of the table's partitions (from Iceberg metadata, not data), at `granularity`."""
    table = lake.table(entry.domain.name, entry.dataset)
    unit = UNIT[entry.dataset.partitioning.granularity]
    starts = set()
    partitions = table.inspect.partitions()
    if "partition" not in partitions.column_names:  # no data yet: nothing to compare
        return set()
    for row in partitions.select(["partition", "record_count"]).to_pylist():
        if not row["record_count"]:
            continue
        (value,) = row["partition"].values()
        if isinstance(value, date):
            start = datetime(value.year, value.month, value.day, tzinfo=UTC)
        else:  # hour and day transforms store units since the epoch
            start = EPOCH + unit * value
        if granularity == "daily":
            start = start.replace(hour=0)
        starts.add(start)
    return starts


def rows(table: pa.Table) -> Counter:
    def normal(value: Any) -> Any:
        return round(value, 9) if isinstance(value, float) else value

    return Counter(tuple(normal(v) for v in row.values()) for row in table.to_pylist())


def measures(table: pa.Table) -> dict[str, float]:
    numeric = [
        f.name for f in table.schema if pa.types.is_integer(f.type) or pa.types.is_floating(f.type)
    ]
    return {name: table[name].to_numpy(zero_copy_only=False).sum().item() for name in numeric}


def compare(stored: pa.Table, recomputed: pa.Table) -> dict[str, Any]:
    only_stored = rows(stored) - rows(recomputed)
    only_recomputed = rows(recomputed) - rows(stored)
    stored_measures, recomputed_measures = measures(stored), measures(recomputed)
    return {
        "rows_only_in_stored": sum(only_stored.values()),
        "rows_only_in_recompute": sum(only_recomputed.values()),
        "measure_differences": {
            name: recomputed_measures[name] - value
            for name, value in stored_measures.items()
            if recomputed_measures.get(name) != value
        },
        "sample_only_in_stored": [str(r) for r in list(only_stored)[:SAMPLE]],
        "sample_only_in_recompute": [str(r) for r in list(only_recomputed)[:SAMPLE]],
    }


def check_consistency(index: DatasetIndex, entry: Entry, lakehouse: Lakehouse) -> AssetCheckResult:
    lake = lakehouse.lake()
    granularity = entry.dataset.partitioning.granularity
    starts = partition_starts(lake, entry, granularity)
    for upstream in entry.dataset.upstream:
        starts |= partition_starts(lake, index.get(upstream), granularity)
    recent = sorted(starts, reverse=True)[: RECENT_PARTITIONS[granularity]]
    keys = partitions_def(entry.dataset.partitioning)
    differing: dict[str, dict[str, Any]] = {}
    for start in recent:
        end = start + UNIT[granularity]
        stored = lake.read(entry.domain.name, entry.dataset, start, end)
        recomputed, _ = compute(index, entry, lakehouse, start, end)
        difference = compare(stored, conform(recomputed, entry.dataset, entry.qualified_name))
        if difference["rows_only_in_stored"] or difference["rows_only_in_recompute"]:
            differing[keys.get_partition_key_for_timestamp(start.timestamp())] = difference
    return AssetCheckResult(
        passed=not differing,
        severity=AssetCheckSeverity.WARN,
        metadata={
            "partitions_compared": len(recent),
            "partitions_differing": sorted(differing),
            "rows_only_in_stored": sum(d["rows_only_in_stored"] for d in differing.values()),
            "rows_only_in_recompute": sum(d["rows_only_in_recompute"] for d in differing.values()),
            "differences": differing,
        },
    )


def build_consistency_check(index: DatasetIndex, entry: Entry) -> AssetChecksDefinition:
    @asset_check(
        asset=entry.key,
        name=CONSISTENCY_CHECK,
        description=(
            "The stored (incremental) result of the recent partitions equals a recompute from "
            "the lake: rows and the sums of numeric columns."
        ),
        required_resource_keys={LAKEHOUSE},
    )
    def _consistency(context: AssetCheckExecutionContext) -> AssetCheckResult:
        return check_consistency(index, entry, getattr(context.resources, LAKEHOUSE))

    return _consistency
