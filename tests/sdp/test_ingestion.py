"""Snapshot ingestion: bad lines are counted and kept with the reason; valid ones all land."""

import json

import pytest

from tests.conftest import SAMPLE, sample_events

pytestmark = pytest.mark.slow
HOUR = "2026-09-17-03:00"


def write_lines(path, lines):
    path.write_text("".join(line + "\n" for line in lines))
    return path


def test_bad_events_are_kept_with_reason_and_valid_ones_land(platform, tmp_path):
    events = sample_events()[:50]
    canary = json.loads(json.dumps(events[0]))
    canary["meta"].update(id="canary-1", domain="canary")
    no_meta = {k: v for k, v in events[1].items() if k != "meta"}
    wrong_type = json.loads(json.dumps(events[2]))
    wrong_type["meta"]["id"] = "wrong-type"
    wrong_type["bot"] = "yes"
    lines = [json.dumps(e) for e in events]
    lines += [
        '{"meta": {"id": "truncated", ',  # malformed JSON
        "[1, 2, 3]",  # JSON, but not an event object
        json.dumps(no_meta),  # schema: meta is required
        json.dumps(wrong_type),  # schema: bot must be a boolean
        json.dumps(canary),  # dropped on purpose
        json.dumps(events[3]),  # duplicate meta.id
    ]
    source = write_lines(tmp_path / "batch.jsonl", lines)
    platform.lakehouse.landing().stage("mediawiki", "recentchange", source)

    result = platform.materialize(["mediawiki.recentchange"], HOUR)

    assert result.success
    metadata = result.get_asset_materialization_events()[0].materialization.metadata
    assert metadata["dagster/partition_row_count"].value == 50
    assert metadata["rejected_events"].value == 4
    assert metadata["dropped_events"].value == 1
    assert metadata["duplicate_events"].value == 1
    stored = platform.read("mediawiki.recentchange")
    assert sorted(stored["meta_id"].to_pylist()) == sorted(e["meta"]["id"] for e in events)

    rejected = platform.lake.catalog.load_table(("mediawiki", "recentchange__rejected"))
    rows = sorted(rejected.scan().to_arrow().to_pylist(), key=lambda r: r["origin"])
    assert [r["origin"] for r in rows] == [
        f"{_staged_name(platform)}:{n}" for n in (51, 52, 53, 54)
    ]
    reasons = [r["reason"] for r in rows]
    assert reasons[0].startswith("malformed JSON")
    assert reasons[1].startswith("malformed event: expected a JSON object")
    assert "meta" in reasons[2] and reasons[2].startswith("schema violation")
    assert "bot must be boolean" in reasons[3]
    assert rows[0]["raw"] == '{"meta": {"id": "truncated", '

    # Re-running the partition neither duplicates rows nor rejected lines.
    assert platform.materialize(["mediawiki.recentchange"], HOUR).success
    assert platform.read("mediawiki.recentchange").num_rows == 50
    assert len(rejected.refresh().scan().to_arrow()) == 4


def _staged_name(platform):
    (staged,) = platform.lakehouse.landing().files("mediawiki", "recentchange")
    return staged.name


def test_staging_the_same_file_twice_stages_it_once(platform):
    landing = platform.lakehouse.landing()
    first, new = landing.stage("mediawiki", "recentchange", SAMPLE)
    again, new_again = landing.stage("mediawiki", "recentchange", SAMPLE)
    assert new and not new_again and first == again
    assert landing.files("mediawiki", "recentchange") == [first]


def test_events_outside_the_partition_stay_out_of_it(platform, tmp_path):
    events = sample_events()[:10]
    late = json.loads(json.dumps(events[0]))
    late["meta"].update(id="next-hour", dt="2026-09-17T04:00:00.000Z")
    source = write_lines(tmp_path / "two-hours.jsonl", [json.dumps(e) for e in [*events, late]])
    platform.lakehouse.landing().stage("mediawiki", "recentchange", source)
    assert platform.materialize(["mediawiki.recentchange"], HOUR).success
    assert platform.read("mediawiki.recentchange").num_rows == 10
    assert platform.materialize(["mediawiki.recentchange"], "2026-09-17-04:00").success
    assert "next-hour" in platform.read("mediawiki.recentchange")["meta_id"].to_pylist()
