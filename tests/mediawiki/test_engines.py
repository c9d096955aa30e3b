"""The same SQL transforms on Spark, chosen by configuration, give the DuckDB results."""

import pytest

from tests.conftest import SAMPLE, make_platform, sample_events
from tests.mediawiki.test_edit_statistics import actual_statistics, expected_statistics

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def spark_stopped_after():
    """The engine keeps one JVM per process: stop it so other modules can start their own."""
    yield
    from sdp.spark import stop_session

    stop_session()


def test_sql_datasets_on_spark_match_plain_python_counts(tmp_path, monkeypatch):
    monkeypatch.setenv("SDP_ENGINE", "spark")
    platform = make_platform(tmp_path / "sdp", monkeypatch)
    platform.lakehouse.staging().stage("mediawiki", "recentchange", SAMPLE)
    assert platform.land().success

    hourly = platform.materialize(
        ["mediawiki.recentchange_sanitized", "mediawiki.edits_hourly"], "2026-09-17-03:00"
    )
    assert hourly.success
    engines = {
        m.asset_key.to_user_string(): m.materialization.metadata.get("engine")
        for m in hourly.get_asset_materialization_events()
    }
    assert engines["mediawiki/edits_hourly"].value == "spark"  # SQL: on Spark
    assert "mediawiki/recentchange_sanitized" in engines  # Python: on Arrow, as always
    expected = expected_statistics(lambda t: t.replace(minute=0, second=0, microsecond=0))
    assert actual_statistics(platform.read("mediawiki.edits_hourly"), "hour") == expected

    daily = platform.materialize(["editors.editor_daily_activity"], "2026-09-17")
    assert daily.success
    activity = platform.read("editors.editor_daily_activity").to_pylist()
    edits = [e for e in sample_events() if e["type"] in ("edit", "new")]
    assert sum(row["edits"] for row in activity) == len(edits)
    assert len(activity) == len({(e["wiki"], e["user"]) for e in edits})
