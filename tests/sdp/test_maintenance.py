"""Compaction and snapshot expiry: the rows never change, even while landers commit."""

import json
import random
import threading
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pytest

import sdp.maintenance as maintenance
from sdp.events import EventDecoder
from sdp.lake import Lake, LakeConfig, window_filter
from sdp.lander import STATE_PROPERTY, Lander, LandingState
from sdp.maintenance import (
    compact_partition,
    compact_table,
    expire_snapshots,
    partition_file_counts,
    window_files,
)
from sdp.schemas import SchemaRegistry
from sdp.spec import Column, Dataset, hourly
from sdp_assets.mediawiki.datasets import is_canary, recentchange, recentchange_stream
from tests.conftest import sample_events

HOUR = datetime(2026, 9, 17, 3, tzinfo=UTC)  # the hour of every sample event
NEXT = HOUR + timedelta(hours=1)
TOPIC = "mediawiki.recentchange"
EVENTS = Dataset(
    name="events",
    description="Test events.",
    owners=("team:test",),
    classification="public",
    columns=(Column("dt", "timestamp", "public"), Column("value", "int64", "public")),
    partitioning=hourly("dt", "2026-09-01-00:00"),
    freshness=timedelta(hours=1),
    retention=timedelta(days=1),
)


@pytest.fixture
def lake(tmp_path):
    (tmp_path / "lake").mkdir()
    return Lake(LakeConfig(f"sqlite:///{tmp_path}/lake/catalog.db", (tmp_path / "wh").as_uri()))


def other_process_view(lake: Lake) -> Lake:
    """The same lake through its own catalog connection, as another process would see it."""
    return Lake(lake.config)


def append_values(lake: Lake, hour: datetime, values) -> None:
    """One small append (one commit, one data file) into the hour."""
    table = lake.table("test", EVENTS)
    table.append(
        pa.table(
            {
                "dt": pa.array(
                    [hour + timedelta(seconds=v % 3600) for v in values],
                    pa.timestamp("us", tz="UTC"),
                ),
                "value": pa.array(values, pa.int64()),
            }
        )
    )


def values(lake: Lake, start: datetime, end: datetime) -> list[int]:
    return sorted(lake.read("test", EVENTS, start, end)["value"].to_pylist())


def files_per_hour(lake: Lake, dataset: Dataset = EVENTS, domain: str = "test") -> dict:
    counts = partition_file_counts(lake.table(domain, dataset))
    return {start: n for (start, _), n in counts.items()}


def file_paths(lake: Lake, start: datetime, end: datetime) -> set[str]:
    table = lake.table("test", EVENTS)
    window = window_filter("dt", start, end)
    return {f.file_path for f in window_files(table, window)}


def test_compaction_rewrites_many_small_files_into_one_and_keeps_the_rows(lake):
    for batch in range(50):
        append_values(lake, HOUR, list(range(batch * 10, batch * 10 + 10)))
    for batch in range(3):
        append_values(lake, NEXT, [10_000 + batch])
    before = lake.read("test", EVENTS).sort_by([("dt", "ascending"), ("value", "ascending")])
    next_files = file_paths(lake, NEXT, NEXT + timedelta(hours=1))

    result = compact_partition(lake, "test", EVENTS, HOUR, NEXT)

    assert (result.files_before, result.files_after, result.rows) == (50, 1, 500)
    after = lake.read("test", EVENTS).sort_by([("dt", "ascending"), ("value", "ascending")])
    assert after.equals(before)
    assert files_per_hour(lake) == {HOUR: 1, NEXT: 3}  # the next hour is untouched
    assert file_paths(lake, NEXT, NEXT + timedelta(hours=1)) == next_files


def test_compaction_is_one_commit_that_readers_see_whole(lake):
    for batch in range(5):
        append_values(lake, HOUR, [batch])
    table = lake.table("test", EVENTS)
    snapshots_before = len(table.metadata.snapshots)
    log_before = len(table.metadata.metadata_log)

    compact_partition(lake, "test", EVENTS, HOUR, NEXT)

    table = lake.table("test", EVENTS)
    assert len(table.metadata.metadata_log) == log_before + 1  # one catalog commit
    new = table.metadata.snapshots[snapshots_before:]
    assert [s.summary.operation.value for s in new] == ["delete", "append"]
    assert all(s.summary["sdp.maintenance"] == "compaction" for s in new)
    assert values(lake, HOUR, NEXT) == [0, 1, 2, 3, 4]


def test_a_partition_with_one_file_or_none_is_left_without_a_commit(lake):
    append_values(lake, HOUR, [1, 2])
    table = lake.table("test", EVENTS)
    snapshot = table.current_snapshot().snapshot_id

    assert compact_partition(lake, "test", EVENTS, HOUR, NEXT) == maintenance.CompactionResult(
        1, 1, 0
    )
    assert compact_partition(lake, "test", EVENTS, NEXT, NEXT + timedelta(hours=1)) == (
        maintenance.CompactionResult(0, 0, 0)
    )
    assert lake.table("test", EVENTS).current_snapshot().snapshot_id == snapshot


def test_a_window_that_cuts_a_partition_is_refused(lake):
    with pytest.raises(ValueError, match=r"is not a run of whole hourly partitions"):
        compact_partition(lake, "test", EVENTS, HOUR + timedelta(minutes=30), NEXT)


def test_compact_table_compacts_only_partitions_with_enough_files(lake):
    hours = [HOUR + timedelta(hours=h) for h in range(4)]
    for h, files in zip(hours, (1, 2, 5, 3), strict=True):
        for k in range(files):
            append_values(lake, h, [h.hour * 100 + k])
    before = values(lake, hours[0], hours[-1] + timedelta(hours=1))

    results = compact_table(lake, "test", EVENTS, min_files=3)

    assert {start: (r.files_before, r.files_after) for start, r in results.items()} == {
        hours[2]: (5, 1),
        hours[3]: (3, 1),
    }
    assert files_per_hour(lake) == {hours[0]: 1, hours[1]: 2, hours[2]: 1, hours[3]: 1}
    assert values(lake, hours[0], hours[-1] + timedelta(hours=1)) == before


# Landing through the real Lander: mediawiki recent changes with their landing state.


def new_lander(lake: Lake) -> Lander:
    decoder = EventDecoder(SchemaRegistry(), "meta.id", stream=recentchange_stream, drop=is_canary)
    return Lander(lake, "mediawiki", recentchange, decoder)


SAMPLES = sample_events()


def batch_lines(first_offset: int, size: int) -> tuple[list[tuple[str, bytes]], list[str]]:
    """`size` real events (fresh ids, all in HOUR) as the lines of topic offsets from `first`."""
    lines, ids = [], []
    for offset in range(first_offset, first_offset + size):
        event = json.loads(json.dumps(SAMPLES[offset % len(SAMPLES)]))
        event["meta"]["id"] = str(uuid.uuid4())
        ids.append(event["meta"]["id"])
        lines.append((f"{TOPIC}:0:{offset}", json.dumps(event).encode()))
    return lines, ids


def land_batches(
    lander: Lander, batches: int, size: int, stop=None, pause: tuple[float, float] = (0, 0)
) -> tuple[list[str], LandingState]:
    """Land `batches` batches like land_topic does, a random `pause` (min, max seconds) apart;
    returns the landed ids and the last state."""
    state = lander.state()
    offset = state.topic_offsets(TOPIC).get(0, 0)
    landed: list[str] = []
    for _ in range(batches):
        if stop is not None and stop.is_set():
            break
        time.sleep(random.uniform(*pause))
        lines, ids = batch_lines(offset, size)
        new = state.with_offsets(TOPIC, {0: offset + size})
        result = lander.land(lines, state, new)
        assert result.landed == size
        landed += ids
        state, offset = new, offset + size
    return landed, state


def landed_ids(lake: Lake) -> list[str]:
    return lake.read("mediawiki", recentchange, columns=("meta_id",))["meta_id"].to_pylist()


def landing_state(lake: Lake) -> str | None:
    return lake.table("mediawiki", recentchange).properties.get(STATE_PROPERTY)


def test_compaction_keeps_the_landing_state(lake):
    ids, state = land_batches(new_lander(lake), batches=20, size=5)

    result = compact_partition(lake, "mediawiki", recentchange, HOUR, NEXT)

    assert (result.files_before, result.files_after, result.rows) == (20, 1, 100)
    assert landing_state(lake) == state.to_json()
    assert sorted(landed_ids(lake)) == sorted(ids)
    # A lander resuming from the table carries on where it stopped, without duplicates.
    more, state = land_batches(new_lander(lake), batches=2, size=5)
    assert sorted(landed_ids(lake)) == sorted(ids + more)
    assert landing_state(lake) == state.to_json()


@pytest.mark.parametrize(
    "table_properties",
    [
        {},  # pyiceberg's defaults: serializable isolation, commits retried by rebasing
        {"write.update.isolation-level": "snapshot"},
        {"commit.retry.num-retries": "0"},
    ],
    ids=["defaults", "snapshot-isolation", "no-pyiceberg-retries"],
)
def test_a_landing_committed_between_the_read_and_the_commit_is_never_lost(
    lake, monkeypatch, table_properties
):
    ids, _ = land_batches(new_lander(lake), batches=10, size=5)
    table = lake.table("mediawiki", recentchange)
    if table_properties:
        with table.transaction() as transaction:
            transaction.set_properties(table_properties)
    racing_lake = other_process_view(lake)
    raced: list[str] = []
    raced_state: list[LandingState] = []
    read_window = maintenance._read_window

    def read_then_land(*args):
        rows = read_window(*args)
        if not raced:  # another process lands right after the first read
            landed, state = land_batches(new_lander(racing_lake), batches=1, size=5)
            raced.extend(landed)
            raced_state.append(state)
        return rows

    monkeypatch.setattr(maintenance, "_read_window", read_then_land)

    result = compact_partition(lake, "mediawiki", recentchange, HOUR, NEXT)

    assert Counter(landed_ids(lake)) == Counter(ids + raced)  # all there, once each
    assert landing_state(lake) == raced_state[0].to_json()
    properties = lake.table("mediawiki", recentchange).properties
    rebased = (
        properties.get("write.update.isolation-level") == "snapshot"
        and properties.get("commit.retry.num-retries") != "0"
    )
    if rebased:
        # pyiceberg rebased the commit: it replaced the ten files it read, kept the new one.
        assert (result.attempts, result.files_before, result.files_after) == (1, 10, 2)
    else:
        # The commit found the window changed: nothing was written, it started over.
        assert (result.attempts, result.files_before, result.files_after) == (2, 11, 1)


LANDINGS, PAUSE = 30, (0.0, 0.6)


@pytest.mark.slow
def test_compaction_racing_a_lander_loses_and_duplicates_nothing(lake):
    """A lander commits batch after batch into the hour while compaction runs again and again."""
    stop = threading.Event()
    outcome: dict = {}

    def lander_thread():
        try:
            outcome["ids"], outcome["state"] = land_batches(
                new_lander(other_process_view(lake)), LANDINGS, 10, stop, PAUSE
            )
        except BaseException as error:  # re-raised in the test
            outcome["error"] = error

    land_batches(new_lander(lake), batches=1, size=10)  # creates the table and a first state
    first = landed_ids(lake)
    thread = threading.Thread(target=lander_thread)
    thread.start()
    results, conflicts = [], 0
    try:
        while thread.is_alive():
            try:
                results.append(compact_partition(lake, "mediawiki", recentchange, HOUR, NEXT))
            except maintenance.CompactionConflict:
                conflicts += 1
            time.sleep(0.01)
    finally:
        stop.set()  # only matters when compaction failed: the lander has finished otherwise
        thread.join(timeout=300)
    if "error" in outcome:
        raise outcome["error"]
    final = compact_partition(lake, "mediawiki", recentchange, HOUR, NEXT)

    expected = first + outcome["ids"]
    assert len(outcome["ids"]) == LANDINGS * 10
    assert Counter(landed_ids(lake)) == Counter(expected)  # every row, exactly once
    assert landing_state(lake) == outcome["state"].to_json()
    compacted = [r for r in results if r.files_after < r.files_before]
    retried = sum(r.attempts - 1 for r in results) + conflicts
    assert len(compacted) >= 2, results  # compactions committed between the landings
    assert retried >= 1, results  # and some had to start over because a landing came first
    assert final.files_after == 1


def test_expiring_snapshots_keeps_the_data_and_the_landing_state(lake):
    ids, state = land_batches(new_lander(lake), batches=15, size=5)
    compact_partition(lake, "mediawiki", recentchange, HOUR, NEXT)
    table = lake.table("mediawiki", recentchange)
    current = table.current_snapshot().snapshot_id
    count = len(table.metadata.snapshots)
    assert count == 17  # 15 landings, then the compaction's delete and append

    assert expire_snapshots(lake, "mediawiki", recentchange, timedelta(days=1), 1) == 0
    expired = expire_snapshots(lake, "mediawiki", recentchange, timedelta(0), retain_last=3)

    table = lake.table("mediawiki", recentchange)
    assert expired == count - 3
    assert len(table.metadata.snapshots) == 3
    assert table.current_snapshot().snapshot_id == current
    assert sorted(landed_ids(lake)) == sorted(ids)
    assert landing_state(lake) == state.to_json()
    assert expire_snapshots(lake, "mediawiki", recentchange, timedelta(0), retain_last=1) == 2
    assert [s.snapshot_id for s in lake.table("mediawiki", recentchange).snapshots()] == [current]
    # And landing carries on from the kept state.
    more, state = land_batches(new_lander(lake), batches=1, size=5)
    assert sorted(landed_ids(lake)) == sorted(ids + more)


def test_the_current_snapshot_is_never_expired(lake):
    append_values(lake, HOUR, [1])
    with pytest.raises(ValueError, match="retain_last"):
        expire_snapshots(lake, "test", EVENTS, timedelta(0), retain_last=0)
    assert expire_snapshots(lake, "test", EVENTS, timedelta(0), retain_last=1) == 0
    assert values(lake, HOUR, NEXT) == [1]
