"""Small files and compaction: scanning a day partition after 1,000 streaming appends, before and
after `compact_partition`.

    uv run python bench/small_files.py [--appends 1000] [--batch 100] [--repeats 7]

Appends N batches of B real recentchange events (the 500 samples round-robin, fresh meta.id,
meta.dt spread in order over 2026-09-18), one Iceberg commit and one data file each, the way a
lander does (append + landing state in one transaction), into a day-partitioned copy of
mediawiki.recentchange (same columns; the real dataset is hourly) on a fresh local catalog.
Then, on the same day window:

- `lake.read` of the day, R times, before compaction; `compact_partition`; R times after;
- the same scan pinned to the snapshot before and to the one after compaction, interleaved
  (before, after, before, ...), so both sides see the same machine load;
- `lake.table()` (catalog load of the metadata) before and after `expire_snapshots`.

The rows read must be identical before and after; nothing else is asserted.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
from kafka_support import bench_home, print_table, sample_events

from sdp.events import events_to_arrow
from sdp.lake import Lake, LakeConfig, window_filter
from sdp.lander import STATE_PROPERTY, LandingState
from sdp.maintenance import compact_partition, expire_snapshots, window_files
from sdp.spec import daily
from sdp_assets.mediawiki.datasets import recentchange

DOMAIN = "mediawiki"
DAY = datetime(2026, 9, 18, tzinfo=UTC)
END = DAY + timedelta(days=1)
DATASET = replace(recentchange, partitioning=daily("dt", "2026-09-01"))


def batches(n: int, size: int, day: datetime = DAY):
    """N Arrow batches of `size` events, in event-time order over the day."""
    samples, total = sample_events(), n * size
    for b in range(n):
        events = []
        for i in range(b * size, (b + 1) * size):
            moment = day + timedelta(seconds=i * 86_400 / total)
            meta = {**samples[i % len(samples)]["meta"], "id": str(uuid.uuid4())}
            meta["dt"] = moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
            events.append({**samples[i % len(samples)], "meta": meta})
        yield events_to_arrow(events, DATASET.columns)


def land(lake: Lake, n: int, size: int, day: datetime = DAY) -> list[float]:
    """Append the batches like Lander._commit (rows + landing state, one commit each) into the
    day; seconds per commit."""
    table = lake.table(DOMAIN, DATASET)
    state = LandingState.from_json(table.properties.get(STATE_PROPERTY))
    offset = state.topic_offsets("mediawiki.recentchange").get(0, 0)
    seconds = []
    for rows in batches(n, size, day):
        offset += rows.num_rows
        state = state.with_offsets("mediawiki.recentchange", {0: offset})
        started = time.perf_counter()
        with table.transaction() as transaction:
            transaction.append(rows, snapshot_properties={STATE_PROPERTY: state.to_json()})
            transaction.set_properties({STATE_PROPERTY: state.to_json()})
        seconds.append(time.perf_counter() - started)
    return seconds


def timed(fn: Callable[[], object], repeats: int) -> list[float]:
    seconds = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        seconds.append(time.perf_counter() - started)
    return seconds


def scan_at(lake: Lake, snapshot_id: int) -> Callable[[], pa.Table]:
    """lake.read's scan of the day, pinned to a snapshot."""
    window = window_filter("dt", DAY, END)
    columns = tuple(c.name for c in DATASET.columns)

    def scan() -> pa.Table:
        table = lake.table(DOMAIN, DATASET)
        return table.scan(
            row_filter=window, selected_fields=columns, snapshot_id=snapshot_id
        ).to_arrow()

    return scan


def summary(seconds: list[float]) -> str:
    return f"{statistics.median(seconds):.3f} (min {min(seconds):.3f})"


def compare(before: list[float], after: list[float]) -> tuple[str, str, str]:
    ratio = statistics.median(before) / statistics.median(after)
    return summary(before), summary(after), f"{ratio:.1f}x"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--appends", type=int, default=1_000)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=7)
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    with bench_home("sdp-bench-small-files-") as home:
        folder = Path(home)
        lake = Lake(
            LakeConfig(f"sqlite:///{folder / 'catalog.db'}", (folder / "warehouse").as_uri())
        )
        commits = land(lake, args.appends, args.batch)
        tenth = max(1, len(commits) // 10)
        print(
            f"appended {args.appends:,} batches of {args.batch} events in {sum(commits):.1f} s; "
            f"ms per commit: first tenth {statistics.median(commits[:tenth]) * 1000:.0f}, "
            f"last tenth {statistics.median(commits[-tenth:]) * 1000:.0f} (medians); "
            f"load average {os.getloadavg()[0]:.2f}"
        )
        window = window_filter("dt", DAY, END)
        table = lake.table(DOMAIN, DATASET)
        before_id = table.current_snapshot().snapshot_id
        files_before = len(window_files(table, window))
        read = lambda: lake.read(DOMAIN, DATASET, DAY, END)  # noqa: E731
        expected = read().sort_by("meta_id")

        before = timed(read, args.repeats)
        started = time.perf_counter()
        result = compact_partition(lake, DOMAIN, DATASET, DAY, END)
        compaction = time.perf_counter() - started
        after = timed(read, args.repeats)
        assert read().sort_by("meta_id").equals(expected), "compaction changed the rows"
        after_id = lake.table(DOMAIN, DATASET).current_snapshot().snapshot_id

        pinned: dict[str, list[float]] = {"before": [], "after": []}
        for _ in range(args.repeats):
            pinned["before"] += timed(scan_at(lake, before_id), 1)
            pinned["after"] += timed(scan_at(lake, after_id), 1)

        load = lambda: lake.table(DOMAIN, DATASET)  # noqa: E731
        snapshots = len(load().metadata.snapshots)
        next_day = END  # appends timed around the expiry go to the next day, not the one read
        load_before = timed(load, args.repeats)
        append_before = land(lake, args.repeats, args.batch, next_day)
        started = time.perf_counter()
        expired = expire_snapshots(lake, DOMAIN, DATASET, timedelta(0), retain_last=1)
        expiry = time.perf_counter() - started
        load_after = timed(load, args.repeats)
        append_after = land(lake, args.repeats, args.batch, next_day)
        assert read().sort_by("meta_id").equals(expected), "expiry changed the rows"

        rows = expected.num_rows
        print(
            f"\nday partition, {rows:,} rows: {files_before:,} files -> {result.files_after} "
            f"(compaction {compaction:.2f} s, {result.attempts} attempt); "
            f"seconds, median of {args.repeats} (min):"
        )
        print_table(
            ("what", "before compaction", "after compaction", "before / after"),
            [
                ("`lake.read` of the day (sequential runs)", *compare(before, after)),
                ("same scan pinned to each snapshot (interleaved)", *compare(*pinned.values())),
                ("data files in the partition", f"{files_before:,}", result.files_after, ""),
            ],
        )
        print(
            f"\nexpire_snapshots (older than 0, retain 1): {expired:,} of "
            f"{snapshots + args.repeats:,} snapshots expired in {expiry:.2f} s; "
            f"seconds, median of {args.repeats} (min):"
        )
        print_table(
            ("what", "before expiry", "after expiry", "before / after"),
            [
                ("`lake.table()` (catalog + metadata load)", *compare(load_before, load_after)),
                (
                    "one append commit (100 events, with landing state)",
                    *compare(append_before, append_after),
                ),
            ],
        )
        print(f"load average at the end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
