"""The lambda case: late events make the incremental result and a recompute differ until the
scheduled recompute, which runs the same transforms from the lake, brings them back in line."""

import json
from datetime import UTC, datetime

import dagster as dg
import pytest

from tests.conftest import sample_events
from tests.mediawiki.test_edit_statistics import actual_statistics, expected_statistics

pytestmark = pytest.mark.slow
HOUR = "2026-09-17-03:00"
HOURLY = ["mediawiki.recentchange_sanitized", "mediawiki.edits_hourly"]


def stage(platform, tmp_path, name, events):
    path = tmp_path / name
    path.write_text("".join(json.dumps(e) + "\n" for e in events))
    platform.lakehouse.staging().stage("mediawiki", "recentchange", path)


def consistency(platform, instance, dataset="mediawiki.edits_hourly"):
    key = dg.AssetCheckKey(platform.index.key(dataset), "consistent_with_recompute")
    result = dg.materialize(
        [*platform.defs.assets, *platform.defs.asset_checks],
        selection=dg.AssetSelection.checks(key),
        resources=platform.defs.resources,
        instance=instance,
    )
    (evaluation,) = result.get_asset_check_evaluations()
    return evaluation


def test_late_events_differ_until_the_scheduled_recompute(platform, tmp_path):
    events = sample_events()
    with dg.instance_for_test() as instance:
        stage(platform, tmp_path, "on-time.jsonl", events[:300])
        assert platform.land().success
        assert platform.materialize(HOURLY, HOUR, instance).success  # the incremental path
        assert consistency(platform, instance).passed

        stage(platform, tmp_path, "late.jsonl", events[300:])  # arrive after the hour's run
        assert platform.land().success
        # The public copy no longer matches a recompute from its (now larger) input; each check
        # compares a dataset with its own inputs, so edits_hourly still matches the stale copy.
        late = consistency(platform, instance, "mediawiki.recentchange_sanitized")
        assert not late.passed
        metadata = {k: v.value for k, v in late.metadata.items()}
        assert metadata["partitions_differing"] == [HOUR]
        assert (metadata["rows_only_in_stored"], metadata["rows_only_in_recompute"]) == (0, 200)

        schedule = next(s for s in platform.defs.schedules if s.name == "recompute_hourly_daily")
        context = dg.build_schedule_context(
            instance=instance, scheduled_execution_time=datetime(2026, 9, 18, 2, tzinfo=UTC)
        )
        (request,) = schedule.evaluate_tick(context).run_requests
        assert (
            request.tags["dagster/asset_partition_range_start"],
            request.tags["dagster/asset_partition_range_end"],
        ) == ("2026-09-17-00:00", "2026-09-17-23:00")
        job = platform.defs.resolve_job_def(schedule.job_name)
        recompute = job.execute_in_process(
            tags=request.tags, instance=instance, resources=platform.defs.resources
        )
        assert recompute.success
        assert consistency(platform, instance).passed
        assert consistency(platform, instance, "mediawiki.recentchange_sanitized").passed
    expected = expected_statistics(lambda t: t.replace(minute=0, second=0, microsecond=0))
    assert actual_statistics(platform.read("mediawiki.edits_hourly"), "hour") == expected


def test_recompute_schedule_also_requests_old_hours_that_received_late_events(platform, tmp_path):
    with dg.instance_for_test() as instance:
        stage(platform, tmp_path, "old.jsonl", sample_events()[:20])
        from sdp.runs import land

        result, _ = land(
            platform.defs, platform.index.get("mediawiki.recentchange"), instance, topic=False
        )
        assert result.success
        schedule = next(s for s in platform.defs.schedules if s.name == "recompute_hourly_daily")
        tick = datetime.now(UTC).replace(hour=2, minute=0, second=0, microsecond=0)
        context = dg.build_schedule_context(
            instance=instance,
            scheduled_execution_time=tick,
            repository_def=platform.defs.get_repository_def(),
        )
        requests = schedule.evaluate_tick(context).run_requests
        assert [r.partition_key for r in requests[1:]] == [HOUR]
        assert requests[1].tags["sdp/recompute"] == "late-events"
