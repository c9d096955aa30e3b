"""The whole demo on real Iceberg, DuckDB and dbt: statistics equal a plain-Python count."""

import ipaddress
from collections import defaultdict
from datetime import UTC, datetime

import pytest

from tests.conftest import landing_summary, sample_events

pytestmark = pytest.mark.slow


def editor_type(event: dict) -> str:
    if event["bot"]:
        return "bot"
    user = event["user"]
    if user.startswith("~"):
        return "anonymous"
    try:
        ipaddress.ip_address(user)
        return "anonymous"
    except ValueError:
        return "user"


def expected_statistics(truncate) -> dict[tuple, dict]:
    """Edits, distinct editors/pages and net bytes per (period, wiki, editor type)."""
    groups: dict[tuple, dict] = defaultdict(
        lambda: {"edits": 0, "editors": set(), "pages": set(), "net_bytes": 0}
    )
    for event in sample_events():
        if event["type"] not in ("edit", "new") or event["meta"]["domain"] == "canary":
            continue
        moment = datetime.fromisoformat(event["meta"]["dt"]).astimezone(UTC)
        group = groups[(truncate(moment), event["wiki"], editor_type(event))]
        group["edits"] += 1
        group["editors"].add(event["user"])
        group["pages"].add((event["namespace"], event["title"]))
        length = event.get("length") or {}
        group["net_bytes"] += (length.get("new") or 0) - (length.get("old") or 0)
    return {
        key: {**g, "editors": len(g["editors"]), "pages": len(g["pages"])}
        for key, g in groups.items()
    }


def actual_statistics(table, period: str) -> dict[tuple, dict]:
    return {
        (row[period], row["wiki"], row["editor_type"]): {
            k: row[k] for k in ("edits", "editors", "pages", "net_bytes")
        }
        for row in table.to_pylist()
    }


def test_edits_hourly_equals_plain_python_count(demo):
    expected = expected_statistics(lambda t: t.replace(minute=0, second=0, microsecond=0))
    assert expected, "the sample has edits"
    assert actual_statistics(demo.read("mediawiki.edits_hourly"), "hour") == expected


def test_edits_daily_from_dbt_equals_plain_python_count(demo):
    expected = expected_statistics(lambda t: t.replace(hour=0, minute=0, second=0, microsecond=0))
    assert actual_statistics(demo.read("mediawiki.edits_daily"), "day") == expected


def test_every_valid_event_lands_once(demo):
    events = sample_events()
    raw = demo.read("mediawiki.recentchange")
    assert sorted(raw["meta_id"].to_pylist()) == sorted(e["meta"]["id"] for e in events)
    sanitized = demo.read("mediawiki.recentchange_sanitized")
    assert sanitized.num_rows == len(events)


def test_public_copy_holds_no_user_name_or_ip(demo):
    users = {e["user"] for e in sample_events()}
    sanitized = demo.read("mediawiki.recentchange_sanitized")
    assert "user" not in sanitized.column_names
    for column in sanitized.column_names:
        values = {str(v) for v in sanitized[column].to_pylist()}
        leaked = (values & users) - {"True", "False"}
        assert not leaked, f"user names in recentchange_sanitized.{column}: {sorted(leaked)[:3]}"
    # Same editor, same hash; the hash is keyed, so not a plain digest of the name.
    assert sanitized["user_hash"].null_count == 0
    assert len(set(sanitized["user_hash"].to_pylist())) == len(users)


def test_editor_activity_across_domains(demo):
    activity = demo.read("editors.editor_daily_activity").to_pylist()
    edits = [e for e in sample_events() if e["type"] in ("edit", "new")]
    assert sum(row["edits"] for row in activity) == len(edits)
    assert len(activity) == len({(e["wiki"], e["user"]) for e in edits})


def test_all_checks_passed_and_runs_report_counts(demo):
    evaluations = [e for r in demo.results for e in r.get_asset_check_evaluations()]
    assert evaluations and all(e.passed for e in evaluations), [
        (e.asset_key.to_user_string(), e.check_name) for e in evaluations if not e.passed
    ]
    checked = {e.asset_key.to_user_string() for e in evaluations}
    assert len(checked) == 5
    raw = next(
        m
        for r in demo.results
        for m in r.get_asset_materialization_events()
        if m.asset_key.path == ["mediawiki", "recentchange"]
    )
    assert raw.materialization.metadata["dagster/partition_row_count"].value == 500
    summary = landing_summary(demo.landing)
    assert (summary["events_landed"], summary["rejected_events"]) == (500, 0)
