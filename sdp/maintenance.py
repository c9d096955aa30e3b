"""Table maintenance: compacting the small files that streaming appends leave, expiring snapshots.

Every landing batch is one Iceberg commit with its own data file, so a partition fed by a stream
ends up as hundreds of small files that every scan must open. Compaction rewrites one partition
window's files into as few as possible in a single overwrite commit, so readers see the old files
or the new ones, never both or neither.

Compaction runs while landers commit, so it must never drop a row committed after it read the
window. It reads a pinned snapshot and builds its overwrite on that same table object, so the
commit requires the table to still be at that snapshot (checked by the catalog under its
compare-and-swap). pyiceberg may rebase a conflicting commit onto the new head, but only after
validating that no data file was added to or removed from the window meanwhile; any conflict
fails the attempt, and compaction starts over from a fresh read. Reading through one table
object and committing through another (e.g. `Lake.replace_partition`) would instead silently
delete the rows landed in between. Compaction sets no table property, so the landing state that
landers commit with their rows is kept as it is.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from itertools import islice

import pyarrow as pa
from pyiceberg.exceptions import CommitFailedException, ValidationException
from pyiceberg.expressions import BooleanExpression
from pyiceberg.io.pyarrow import ArrowScan
from pyiceberg.manifest import DataFile
from pyiceberg.table import DataScan, FileScanTask, Table
from pyiceberg.table.metadata import TableMetadata
from pyiceberg.table.snapshots import ancestors_of
from pyiceberg.transforms import DayTransform, HourTransform

from sdp.lake import Lake, window_filter
from sdp.spec import Dataset

COMPACT_ATTEMPTS = 10
EXPIRE_ATTEMPTS = 5
SUMMARY_PROPERTY = "sdp.maintenance"  # marks the snapshots a compaction writes
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
UNITS = {HourTransform: timedelta(hours=1), DayTransform: timedelta(days=1)}
GRANULARITY_UNITS = {"hourly": timedelta(hours=1), "daily": timedelta(days=1)}


class CompactionConflict(RuntimeError):
    """Concurrent commits changed the window under every attempt; it was left as it was."""


@dataclass(frozen=True)
class CompactionResult:
    files_before: int  # data files holding rows of the window when it was read
    files_after: int  # data files holding rows of the window after the commit
    rows: int  # rows rewritten (0 when there was nothing to compact)
    attempts: int = 1  # reads it took; > 1 when a concurrent commit touched the window


def compact_partition(
    lake: Lake,
    domain: str,
    dataset: Dataset,
    start: datetime,
    end: datetime,
    attempts: int = COMPACT_ATTEMPTS,
) -> CompactionResult:
    """Rewrite the data files holding rows with event time in [start, end) into as few files as
    possible, without changing the rows; retried from a fresh read on any concurrent change."""
    name = f"{domain}.{dataset.name}"
    _check_boundaries(name, dataset, start, end)
    time_column = dataset.partitioning.time_column
    window = window_filter(time_column, start, end)
    last_error: Exception | None = None
    for attempt in range(1, attempts + 1):
        table = lake.table(domain, dataset)  # the one object both the read and the commit use
        try:
            return replace(_compact_once(table, window, time_column), attempts=attempt)
        except (CommitFailedException, ValidationException) as error:
            last_error = error
            time.sleep(random.uniform(0, 0.05 * attempt))
    raise CompactionConflict(
        f"{name}: [{start.isoformat()}, {end.isoformat()}) changed during each "
        f"of {attempts} compaction attempts; left as it was ({last_error})"
    ) from last_error


def _check_boundaries(name: str, dataset: Dataset, start: datetime, end: datetime) -> None:
    """Refuse a window that cuts a partition: its files would be split, not merged."""
    unit = GRANULARITY_UNITS[dataset.partitioning.granularity]
    if start >= end or (start - EPOCH) % unit or (end - EPOCH) % unit:
        raise ValueError(
            f"{name}: [{start.isoformat()}, {end.isoformat()}) is not a run of whole "
            f"{dataset.partitioning.granularity} partitions"
        )


def _compact_once(table: Table, window: BooleanExpression, time_column: str) -> CompactionResult:
    snapshot = table.current_snapshot()
    if snapshot is None:
        return CompactionResult(0, 0, 0)
    scan = table.scan(row_filter=window, snapshot_id=snapshot.snapshot_id)
    tasks = list(scan.plan_files())
    if len(tasks) < 2:
        return CompactionResult(len(tasks), len(tasks), 0)
    rows = _read_window(scan, tasks).sort_by(time_column)  # sorted: tighter per-file time ranges
    # Built on the table object that was read: the overwrite plans its deletes on the snapshot
    # read and its commit requires the table to still be there (or pyiceberg's validated rebase).
    with table.transaction() as transaction:
        transaction.overwrite(
            rows, overwrite_filter=window, snapshot_properties={SUMMARY_PROPERTY: "compaction"}
        )
    return CompactionResult(len(tasks), len(window_files(table, window)), rows.num_rows)


def _read_window(scan: DataScan, tasks: list[FileScanTask]) -> pa.Table:
    """The rows of the planned files that are in the window (a function so tests can race it)."""
    return ArrowScan(
        scan.table_metadata, scan.io, scan.projection(), scan.row_filter, scan.case_sensitive
    ).to_table(tasks)


def window_files(table: Table, window: BooleanExpression) -> list[DataFile]:
    """The data files of the current snapshot that may hold rows of the window."""
    return [task.file for task in table.scan(row_filter=window).plan_files()]


def compact_table(
    lake: Lake, domain: str, dataset: Dataset, min_files: int = 2
) -> dict[datetime, CompactionResult]:
    """Compact every partition holding at least `min_files` data files; results by start."""
    table = lake.table(domain, dataset)
    return {
        start: compact_partition(lake, domain, dataset, start, end)
        for (start, end), files in partition_file_counts(table).items()
        if files >= min_files
    }


def partition_file_counts(table: Table) -> dict[tuple[datetime, datetime], int]:
    """Data files per partition window [start, end) of the current snapshot."""
    counts: dict[tuple[datetime, datetime], int] = {}
    for task in table.scan().plan_files():
        window = _partition_window(table, task.file)
        if window is not None:
            counts[window] = counts.get(window, 0) + 1
    return dict(sorted(counts.items()))


def _partition_window(table: Table, data_file: DataFile) -> tuple[datetime, datetime] | None:
    """The event-time window of a file's partition; None for the partition of null times."""
    (field,) = table.specs()[data_file.spec_id].fields  # the lake partitions by hour or by day
    unit, value = UNITS[type(field.transform)], data_file.partition[0]
    if value is None:
        return None
    start = EPOCH + value * unit
    return start, start + unit


def expire_snapshots(
    lake: Lake, domain: str, dataset: Dataset, older_than: timedelta, retain_last: int = 1
) -> int:
    """Expire the snapshots older than `older_than`, keeping at least the last `retain_last`
    snapshots of the current history and every branch or tag head; returns how many expired.

    Only metadata is removed (pyiceberg 0.12 deletes no files): time travel to an expired
    snapshot is no longer possible, and files only it referenced become orphans on storage.
    """
    if retain_last < 1:
        raise ValueError("retain_last must be at least 1: the current snapshot is always kept")
    for attempt in range(1, EXPIRE_ATTEMPTS + 1):
        table = lake.table(domain, dataset)
        expired = expirable_snapshots(table.metadata, datetime.now(UTC) - older_than, retain_last)
        if not expired:
            return 0
        try:
            _expire(table, expired)
            return len(expired)
        except CommitFailedException:
            if attempt == EXPIRE_ATTEMPTS:
                raise
            time.sleep(random.uniform(0, 0.05 * attempt))
    raise AssertionError("unreachable")


def expirable_snapshots(metadata: TableMetadata, before: datetime, retain_last: int) -> list[int]:
    """Ids of snapshots taken before `before`, minus the retained and the referenced ones."""
    kept = {ref.snapshot_id for ref in metadata.refs.values()}
    history = ancestors_of(metadata.current_snapshot(), metadata)
    kept |= {snapshot.snapshot_id for snapshot in islice(history, retain_last)}
    cutoff = (before - EPOCH) // timedelta(milliseconds=1)
    return sorted(
        s.snapshot_id
        for s in metadata.snapshots
        if s.timestamp_ms < cutoff and s.snapshot_id not in kept
    )


def _expire(table: Table, snapshot_ids: list[int]) -> None:
    """Expire exactly these snapshots, in one commit. pyiceberg's by_ids() copies the whole
    metadata once per id (minutes for a thousand), its older_than() selects in one pass: so the
    ones older than every kept snapshot go by age, the few others by id."""
    expired = set(snapshot_ids)
    snapshots = table.metadata.snapshots
    oldest_kept = min(s.timestamp_ms for s in snapshots if s.snapshot_id not in expired)
    rest = [
        s.snapshot_id
        for s in snapshots
        if s.snapshot_id in expired and s.timestamp_ms >= oldest_kept
    ]
    expire = table.maintenance.expire_snapshots()
    expire.older_than(EPOCH + timedelta(milliseconds=oldest_kept)).by_ids(rest).commit()
