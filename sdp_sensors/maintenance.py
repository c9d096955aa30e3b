"""Nightly table maintenance: compact small files, expire old snapshots, for every dataset.

Streaming landings leave one small file per commit; compaction rewrites a partition's files
without changing its rows and never races a landing into data loss (see sdp.maintenance).
"""

from datetime import timedelta

from dagster import (
    DefaultScheduleStatus,
    JobDefinition,
    OpExecutionContext,
    Output,
    ScheduleDefinition,
    job,
    op,
)

from sdp.catalog import DatasetIndex
from sdp.maintenance import CompactionConflict, compact_table, expire_snapshots
from sdp.platform import LAKEHOUSE, Lakehouse

MIN_FILES = 4  # partitions with fewer data files are left alone
SNAPSHOT_RETENTION = timedelta(days=7)  # time travel reaches back a week
RETAIN_LAST = 10


def build_maintenance_job(index: DatasetIndex) -> JobDefinition:
    @op(name="maintain_lake_tables", required_resource_keys={LAKEHOUSE})
    def maintain(context: OpExecutionContext):
        lakehouse: Lakehouse = getattr(context.resources, LAKEHOUSE)
        lake = lakehouse.lake()
        compacted = expired = 0
        for entry in index:
            try:
                results = compact_table(lake, entry.domain.name, entry.dataset, MIN_FILES)
            except CompactionConflict as conflict:
                # A partition being landed into right now: left as it is, compacted next night.
                context.log.warning(f"{entry.qualified_name}: {conflict}")
                results = {}
            for start, result in results.items():
                context.log.info(
                    f"{entry.qualified_name} {start:%Y-%m-%d %H:%M}: "
                    f"{result.files_before} -> {result.files_after} files"
                )
            compacted += len(results)
            expired += expire_snapshots(
                lake, entry.domain.name, entry.dataset, SNAPSHOT_RETENTION, RETAIN_LAST
            )
        yield Output(
            None, metadata={"partitions_compacted": compacted, "snapshots_expired": expired}
        )

    @job(name="maintain_lake", description="Compact small files and expire old snapshots.")
    def maintain_lake() -> None:
        maintain()

    return maintain_lake


def maintenance_schedule(maintenance_job: JobDefinition) -> ScheduleDefinition:
    return ScheduleDefinition(
        name="maintain_lake_nightly",
        cron_schedule="0 4 * * *",  # after the nightly recompute
        execution_timezone="UTC",
        job=maintenance_job,
        default_status=DefaultScheduleStatus.RUNNING,
    )
