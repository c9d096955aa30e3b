"""The recompute path of the lambda architecture: scheduled, from the lake, same transforms.

Every day, the previous day's partitions of every derived dataset are recomputed in one run per
partitioning (single-run backfill policy: the engine does the whole range at once), so late
events and corrections are included. Older partitions that received late events since the last
tick (landings into hours beyond the incremental lookback) are recomputed too.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta

from dagster import (
    AssetRecordsFilter,
    DefaultScheduleStatus,
    RunRequest,
    ScheduleDefinition,
    ScheduleEvaluationContext,
    define_asset_job,
)

from sdp.builder import INCREMENTAL_LOOKBACK, partitions_def
from sdp.catalog import DatasetIndex, Entry

CRON = {"hourly": "0 2 * * *", "daily": "30 2 * * *"}  # daily sets after their hours
RANGE_START = "dagster/asset_partition_range_start"
RANGE_END = "dagster/asset_partition_range_end"
LATE_LOOKUP_LIMIT = 10_000


def late_partition_times(
    context: ScheduleEvaluationContext, index: DatasetIndex, since: datetime
) -> set[datetime]:
    """Event-time starts of ingested partitions landed since `since` (from the event log)."""
    times = set()
    for entry in index:
        if entry.dataset.source is None:
            continue
        definition = partitions_def(entry.dataset.partitioning)
        records = context.instance.fetch_materializations(
            AssetRecordsFilter(asset_key=entry.key, after_timestamp=since.timestamp()),
            limit=LATE_LOOKUP_LIMIT,
        ).records
        for record in records:
            if record.partition_key:
                times.add(definition.time_window_for_partition_key(record.partition_key).start)
    return times


def recompute_requests(
    context: ScheduleEvaluationContext, index: DatasetIndex, entries: list[Entry], job: str
) -> list[RunRequest]:
    definition = partitions_def(entries[0].dataset.partitioning)
    tick = context.scheduled_execution_time
    day_end = tick.replace(hour=0, minute=0, second=0, microsecond=0)
    day_start = day_end - timedelta(days=1)
    first = definition.get_partition_key_for_timestamp(day_start.timestamp())
    last = definition.get_partition_key_for_timestamp((day_end - timedelta(seconds=1)).timestamp())
    requests = [
        RunRequest(
            run_key=f"{job}:{first}..{last}",
            tags={RANGE_START: first, RANGE_END: last, "sdp/recompute": "daily"},
        )
    ]
    incremental_horizon = tick - INCREMENTAL_LOOKBACK
    late = defaultdict(list)
    for moment in late_partition_times(context, index, tick - timedelta(days=1)):
        if moment < min(day_start, incremental_horizon):
            key = definition.get_partition_key_for_timestamp(moment.timestamp())
            late[key].append(moment)
    for key in sorted(late):
        requests.append(
            RunRequest(
                run_key=f"{job}:{key}:late@{tick.date().isoformat()}",
                partition_key=key,
                tags={"sdp/recompute": "late-events"},
            )
        )
    return requests


def recompute_schedules(index: DatasetIndex) -> tuple[list, list[ScheduleDefinition]]:
    """One recompute job and daily schedule per partitioning of derived datasets."""
    groups: dict[tuple[str, str], list[Entry]] = defaultdict(list)
    for entry in index:
        if entry.dataset.transform is not None:
            partitioning = entry.dataset.partitioning
            groups[(partitioning.granularity, partitioning.start)].append(entry)
    jobs, schedules = [], []
    for (granularity, start), entries in sorted(groups.items()):
        name = f"recompute_{granularity}"
        if sum(g == granularity for g, _ in groups) > 1:  # partitions starting on other dates
            name += f"_from_{start.replace(':', '').replace('-', '')}"
        job = define_asset_job(
            name,
            selection=[e.key for e in entries],
            description=f"Recompute {granularity} derived datasets from the lake.",
        )

        def evaluate(context: ScheduleEvaluationContext, entries=entries, name=name):
            yield from recompute_requests(context, index, entries, name)

        jobs.append(job)
        schedules.append(
            ScheduleDefinition(
                name=f"{name}_daily",
                cron_schedule=CRON[granularity],
                execution_timezone="UTC",
                job=job,
                execution_fn=evaluate,
                default_status=DefaultScheduleStatus.RUNNING,
                description=(
                    f"Each day, recompute yesterday's partitions of the {granularity} derived "
                    "datasets, and older ones that received late events."
                ),
            )
        )
    return jobs, schedules
