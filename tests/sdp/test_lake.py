"""Atomic partition replacement: idempotent re-runs, empty results clear, kills harm nothing."""

import os
import signal
import subprocess
import sys
import textwrap
import time
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pytest

from sdp.lake import Lake, LakeConfig, LakeError, window_filter
from sdp.spec import Column, Dataset, Sql, hourly, ref
from tests.conftest import SAMPLE

HOUR = datetime(2026, 9, 17, 3, tzinfo=UTC)
NEXT = HOUR + timedelta(hours=1)
EVENTS = Dataset(
    name="events",
    description="Test events.",
    owners=("team:test",),
    classification="public",
    columns=(Column("dt", "timestamp", "public"), Column("value", "int64", "public")),
    partitioning=hourly("dt", "2026-09-01-00:00"),
    freshness=timedelta(hours=1),
    retention=timedelta(days=1),
    transform=Sql("select 1"),
    upstream=(ref("test.source"),),
)


def rows(*pairs):
    return pa.table(
        {
            "dt": pa.array([dt for dt, _ in pairs], pa.timestamp("us", tz="UTC")),
            "value": pa.array([v for _, v in pairs], pa.int64()),
        }
    )


@pytest.fixture
def lake(tmp_path):
    (tmp_path / "lake").mkdir()
    return Lake(LakeConfig(f"sqlite:///{tmp_path}/lake/catalog.db", (tmp_path / "wh").as_uri()))


def content(lake):
    return sorted(lake.read("test", EVENTS).to_pylist(), key=lambda r: (r["dt"], r["value"]))


def test_rewriting_a_partition_replaces_it_and_leaves_others(lake):
    lake.replace_partition("test", EVENTS, HOUR, NEXT, rows((HOUR, 1), (HOUR, 2)))
    lake.replace_partition("test", EVENTS, NEXT, NEXT + timedelta(hours=1), rows((NEXT, 9)))
    lake.replace_partition("test", EVENTS, HOUR, NEXT, rows((HOUR, 3)))
    assert [r["value"] for r in content(lake)] == [3, 9]


def test_overwrite_with_empty_result_clears_partition(lake):
    lake.replace_partition("test", EVENTS, HOUR, NEXT, rows((HOUR, 1)))
    lake.replace_partition("test", EVENTS, NEXT, NEXT + timedelta(hours=1), rows((NEXT, 9)))
    lake.replace_partition("test", EVENTS, HOUR, NEXT, rows())
    assert [r["value"] for r in content(lake)] == [9]


def test_rows_outside_the_partition_are_refused_and_nothing_changes(lake):
    lake.replace_partition("test", EVENTS, HOUR, NEXT, rows((HOUR, 1)))
    with pytest.raises(LakeError, match="test.events: 1 rows have dt outside the partition"):
        lake.replace_partition("test", EVENTS, HOUR, NEXT, rows((HOUR, 2), (NEXT, 3)))
    assert [r["value"] for r in content(lake)] == [1]


def test_result_with_a_missing_column_names_it(lake):
    with pytest.raises(LakeError, match=r"test.events: result lacks declared columns \['value'\]"):
        lake.replace_partition("test", EVENTS, HOUR, NEXT, pa.table({"dt": [HOUR]}))


@pytest.mark.slow
def test_process_killed_while_writing_leaves_old_or_new_partition(tmp_path, lake):
    """kill -9 during repeated partition rewrites: the table always reads as one whole version."""
    lake.replace_partition("test", EVENTS, HOUR, NEXT, rows(*[(HOUR, 0)] * 1000))
    writer = textwrap.dedent(
        f"""
        import sys
        sys.path.insert(0, {str(os.getcwd())!r})
        from tests.sdp.test_lake import EVENTS, HOUR, NEXT, rows
        from sdp.lake import Lake, LakeConfig
        lake = Lake(LakeConfig({lake.config.catalog_uri!r}, {lake.config.warehouse!r}))
        version = 1
        while True:
            lake.replace_partition("test", EVENTS, HOUR, NEXT, rows(*[(HOUR, version)] * 1000))
            print(version, flush=True)
            version += 1
        """
    )
    for delay in (0.0, 0.03, 0.11, 0.25):
        process = subprocess.Popen([sys.executable, "-c", writer], stdout=subprocess.PIPE)
        assert process.stdout.readline().strip() == b"1"  # writing for real, in its loop
        time.sleep(delay)
        process.send_signal(signal.SIGKILL)
        process.wait()
        values = [r["value"] for r in lake.read("test", EVENTS).to_pylist()]
        assert len(values) == 1000, f"killed {delay}s into writing: {len(values)} rows"
        assert len(set(values)) == 1, f"killed {delay}s into writing: versions {set(values)}"
        assert values[0] >= 1
    # And the table still takes writes.
    lake.replace_partition("test", EVENTS, HOUR, NEXT, rows((HOUR, -1)))
    assert [r["value"] for r in content(lake)] == [-1]


@pytest.mark.slow
def test_rematerializing_and_empty_recompute_of_derived_datasets(platform):
    platform.lakehouse.staging().stage("mediawiki", "recentchange", SAMPLE)
    assert platform.land().success
    hourly = [
        "mediawiki.recentchange",
        "mediawiki.recentchange_sanitized",
        "mediawiki.edits_hourly",
    ]
    assert platform.materialize(hourly, "2026-09-17-03:00").success
    first = {name: platform.read(name) for name in hourly}
    assert all(t.num_rows for t in first.values())

    assert platform.materialize(hourly, "2026-09-17-03:00").success
    for name in hourly:
        again = platform.read(name).sort_by(_sort_keys(name))
        assert again.equals(first[name].sort_by(_sort_keys(name))), name

    # The raw hour is emptied (as retention would): recomputing must clear it downstream too.
    raw = platform.index.get("mediawiki.recentchange")
    platform.lake.table("mediawiki", raw.dataset).delete(window_filter("dt", HOUR, NEXT))
    derived = hourly[1:]
    assert platform.materialize(derived, "2026-09-17-03:00").success
    for name in derived:
        assert platform.read(name).num_rows == 0, name


def _sort_keys(name):
    if name.endswith("edits_hourly"):
        return [("hour", "ascending"), ("wiki", "ascending"), ("editor_type", "ascending")]
    return [("meta_id", "ascending")]


def test_tables_refuse_pyiceberg_silent_rebase_of_conflicting_commits(lake):
    """Writers check their own preconditions (landing state, partition) and retry themselves:
    a commit that lost a race must fail rather than be rebased onto the winner's."""
    lake.replace_partition("test", EVENTS, HOUR, NEXT, rows((HOUR, 1)))
    assert lake.table("test", EVENTS).properties["commit.retry.num-retries"] == "0"
    stale = lake.table("test", EVENTS)
    lake.replace_partition("test", EVENTS, HOUR, NEXT, rows((HOUR, 2)))  # wins the race
    from pyiceberg.exceptions import CommitFailedException

    with pytest.raises(CommitFailedException):
        stale.append(rows((HOUR, 3)))
    assert [r["value"] for r in content(lake)] == [2]
