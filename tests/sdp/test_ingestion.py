"""Landing staged files: bad lines are kept with the reason; valid ones all land once."""

import json

import pytest

from tests.conftest import SAMPLE, landing_summary, sample_events

pytestmark = pytest.mark.slow


def write_lines(path, lines):
    path.write_text("".join(line + "\n" for line in lines))
    return path


def copy(event, **meta):
    event = json.loads(json.dumps(event))
    event["meta"].update(meta)
    return event


def test_bad_events_are_kept_with_reason_and_valid_ones_land(platform, tmp_path):
    events = sample_events()[:50]
    no_meta = {k: v for k, v in events[1].items() if k != "meta"}
    wrong_type = copy(events[2], id="wrong-type")
    wrong_type["bot"] = "yes"
    other_stream = copy(events[4], id="other", stream="mediawiki.page_change")
    old_schema = copy(events[5], id="old-schema")
    old_schema["$schema"] = "/mediawiki/recentchange/0.9.0"
    lines = [json.dumps(e) for e in events]
    lines += [
        '{"meta": {"id": "truncated", ',  # malformed JSON
        "[1, 2, 3]",  # JSON, but not an event object
        json.dumps(no_meta),  # schema: meta is required
        json.dumps(wrong_type),  # schema: bot must be a boolean
        json.dumps(other_stream),  # another stream's event
        json.dumps(old_schema),  # a schema version the stream does not accept
        json.dumps(copy(events[0], id="canary-1", domain="canary")),  # dropped on purpose
        json.dumps(events[3]),  # duplicate meta.id
    ]
    source = write_lines(tmp_path / "batch.jsonl", lines)
    platform.lakehouse.staging().stage("mediawiki", "recentchange", source)

    result = platform.land()

    assert result.success
    summary = landing_summary(result)
    assert summary["events_landed"] == 50
    assert summary["rejected_events"] == 6
    assert summary["dropped_events"] == 1
    assert summary["duplicate_events"] == 1
    (materialized,) = result.get_asset_materialization_events()
    assert materialized.partition == "2026-09-17-03:00"
    assert materialized.materialization.metadata["events_landed"].value == 50
    stored = platform.read("mediawiki.recentchange")
    assert sorted(stored["meta_id"].to_pylist()) == sorted(e["meta"]["id"] for e in events)

    rejected = platform.lake.catalog.load_table(("mediawiki", "recentchange__rejected"))
    rows = sorted(
        rejected.scan().to_arrow().to_pylist(), key=lambda r: int(r["origin"].split(":")[-1])
    )
    (staged,) = platform.lakehouse.staging().files("mediawiki", "recentchange")
    assert [r["origin"] for r in rows] == [f"{staged.name}:{n}" for n in range(51, 57)]
    reasons = [r["reason"] for r in rows]
    assert reasons[0].startswith("malformed JSON")
    assert reasons[1] == "malformed event: expected a JSON object, got list"
    assert reasons[2].startswith("event of stream None")  # no meta at all
    assert "bot must be boolean" in reasons[3]
    assert (
        reasons[4] == "event of stream 'mediawiki.page_change' in stream 'mediawiki.recentchange'"
    )
    assert reasons[5].startswith("schema '/mediawiki/recentchange/0.9.0' is not accepted")
    assert rows[0]["raw"] == '{"meta": {"id": "truncated", '

    # Landing again finds nothing new: no duplicated rows, no duplicated rejects.
    again = platform.land()
    assert landing_summary(again)["events_landed"] == 0
    assert platform.read("mediawiki.recentchange").num_rows == 50
    assert len(rejected.refresh().scan().to_arrow()) == 6


def test_staging_the_same_file_twice_stages_it_once(platform):
    staging = platform.lakehouse.staging()
    first, new = staging.stage("mediawiki", "recentchange", SAMPLE)
    again, new_again = staging.stage("mediawiki", "recentchange", SAMPLE)
    assert new and not new_again and first == again
    assert staging.files("mediawiki", "recentchange") == [first]


def test_an_event_in_two_files_lands_once_and_each_hour_is_reported(platform, tmp_path):
    events = sample_events()[:10]
    next_hour = copy(events[0], id="next-hour", dt="2026-09-17T04:00:00.000Z")
    staging = platform.lakehouse.staging()
    staging.stage(
        "mediawiki",
        "recentchange",
        write_lines(tmp_path / "a.jsonl", [json.dumps(e) for e in events[:6]]),
    )
    assert platform.land().success
    staging.stage(
        "mediawiki",
        "recentchange",
        write_lines(tmp_path / "b.jsonl", [json.dumps(e) for e in [*events[4:], next_hour]]),
    )
    result = platform.land()
    assert landing_summary(result)["duplicate_events"] == 2
    assert {
        m.partition: m.materialization.metadata["events_landed"].value
        for m in result.get_asset_materialization_events()
    } == {"2026-09-17-03:00": 4, "2026-09-17-04:00": 1}
    assert sorted(platform.read("mediawiki.recentchange")["meta_id"].to_pylist()) == sorted(
        [e["meta"]["id"] for e in events] + ["next-hour"]
    )
