"""Events through a real Kafka broker: intake -> topic -> exactly-once landing -> downstream."""

import json
import signal
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta

import dagster as dg
import httpx
import pytest

from sdp.producer import EventProducer, now_iso
from tests.conftest import REPO, landing_summary, sample_events

pytestmark = pytest.mark.slow
AUTH = {"Authorization": "Bearer all-token"}


def fresh(event: dict, **meta) -> dict:
    event = json.loads(json.dumps(event))
    event["meta"].update(id=str(uuid.uuid4()), **meta)
    return event


def producer(platform) -> EventProducer:
    return EventProducer(
        platform.kafka.config, platform.index.streams, platform.lakehouse.schemas(), "test"
    )


def landed_ids(platform) -> list[str]:
    return platform.read("mediawiki.recentchange")["meta_id"].to_pylist()


def test_sample_events_posted_to_the_intake_land_with_matching_counts(streaming, intake):
    events = sample_events()
    invalid = fresh(events[0])
    invalid["bot"] = "no"
    for start in range(0, len(events), 100):
        response = httpx.post(intake, json=events[start : start + 100], headers=AUTH)
        assert response.status_code == 201
    assert httpx.post(intake, json=[invalid], headers=AUTH).status_code == 400

    result = streaming.land(topic=True)

    assert result.success
    assert landing_summary(result)["events_landed"] == 500
    raw = streaming.read("mediawiki.recentchange").to_pylist()
    assert Counter(r["wiki"] for r in raw) == Counter(e["wiki"] for e in events)
    assert Counter(r["dt"].strftime("%Y-%m-%dT%H") for r in raw) == Counter(
        e["meta"]["dt"][:13] for e in events
    )
    assert sorted(landed_ids(streaming)) == sorted(e["meta"]["id"] for e in events)
    (materialized,) = result.get_asset_materialization_events()
    assert (
        materialized.partition,
        materialized.materialization.metadata["events_landed"].value,
    ) == (
        "2026-09-17-03:00",
        500,
    )


def test_canaries_are_dropped_and_duplicate_ids_land_once(streaming):
    events = [fresh(e) for e in sample_events()[:20]]
    canary = fresh(events[0], domain="canary")
    with_canary = producer(streaming)
    assert all(o.error is None for o in with_canary.send([*events, canary, events[3]]))
    first = streaming.land(topic=True)
    assert landing_summary(first)["dropped_events"] == 1
    assert landing_summary(first)["duplicate_events"] == 1
    # The same event again, in a later batch (a client retrying a post): still landed once.
    assert all(o.error is None for o in with_canary.send([events[5]]))
    second = streaming.land(topic=True)
    assert landing_summary(second)["duplicate_events"] == 1
    assert sorted(landed_ids(streaming)) == sorted(e["meta"]["id"] for e in events)


def tick(sensor, instance, resources):
    with dg.build_sensor_context(instance=instance, resources=resources) as context:
        return sensor(context)


def test_sensor_requests_a_landing_and_its_cursor_follows_the_committed_offsets(streaming):
    sensor = next(s for s in streaming.defs.sensors if s.name == "mediawiki__recentchange__landing")
    resources = streaming.defs.resources
    events = [fresh(e) for e in sample_events()[:30]]
    assert all(o.error is None for o in producer(streaming).send(events))
    with dg.instance_for_test() as instance:
        first = tick(sensor, instance, resources)
        (request,) = first.run_requests
        assert request.run_key == "mediawiki.recentchange@start"
        assert json.loads(first.cursor) == {"committed": {}}  # nothing landed yet
        again = tick(sensor, instance, resources)
        assert again.run_requests[0].run_key == request.run_key  # same range: not launched twice

        job = streaming.defs.resolve_job_def("land__mediawiki__recentchange")
        assert job.execute_in_process(
            run_config=request.run_config, instance=instance, resources=resources
        ).success

        after = tick(sensor, instance, resources)
        assert not after.run_requests
        assert json.loads(after.cursor) == {"committed": {"0": 30}}
        producer(streaming).send([fresh(sample_events()[40])])
        more = tick(sensor, instance, resources)
        assert more.run_requests[0].run_key == "mediawiki.recentchange@0:30"


def test_late_events_update_their_older_hours_downstream(streaming):
    now = datetime.now(UTC)
    late, current = now - timedelta(hours=5), now
    events = [
        fresh(sample_events()[i], dt=moment.isoformat().replace("+00:00", "Z"))
        for i, moment in enumerate([late, late, current])
    ]
    sanitized = dg.AssetKey(["mediawiki", "recentchange_sanitized"])
    with dg.instance_for_test() as instance:
        selection = dg.AssetSelection.assets(sanitized)
        baseline = dg.evaluate_automation_conditions(
            defs=streaming.defs, instance=instance, asset_selection=selection
        )
        producer(streaming).send(events)
        from sdp.runs import land

        result, _ = land(streaming.defs, streaming.index.get("mediawiki.recentchange"), instance)
        assert result.success
        evaluation = dg.evaluate_automation_conditions(
            defs=streaming.defs,
            instance=instance,
            asset_selection=selection,
            cursor=baseline.cursor,
        )
        hour = "%Y-%m-%d-%H:00"
        assert evaluation.get_requested_partitions(sanitized) == {
            late.strftime(hour),
            current.strftime(hour),
        }


def test_landing_killed_at_any_point_lands_every_event_exactly_once(streaming):
    events = [fresh(e) for e in sample_events() * 4]  # 2000 events
    assert all(o.error is None for o in producer(streaming).send(events))
    script = textwrap.dedent(
        f"""
        import os, sys
        sys.path.insert(0, {str(REPO)!r})
        os.environ["SDP_HOME"] = {str(streaming.home)!r}
        os.environ["SDP_KAFKA_BOOTSTRAP"] = {streaming.kafka.bootstrap!r}
        from sdp.catalog import DatasetIndex
        from sdp.events import EventDecoder
        from sdp.lander import Lander
        from sdp.landing import land_topic
        from sdp_assets import definitions
        defs = definitions.defs()
        index = DatasetIndex(definitions.domains())
        entry = index.get("mediawiki.recentchange")
        lakehouse = defs.resources["lakehouse"]
        decoder = EventDecoder.for_source(entry.dataset.source, lakehouse.schemas(), index.streams)
        lander = Lander(lakehouse.lake(), "mediawiki", entry.dataset, decoder)
        print("ready", flush=True)
        land_topic(lander, defs.resources["kafka"].client_config(), "mediawiki.recentchange",
                   batch_size=37)
        print("done", flush=True)
        """
    )
    kills = 0
    for delay in (0.0, 0.15, 0.3, 0.45, 0.7, 1.0, 1.5, 2.5, 4.0):
        process = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE)
        assert process.stdout.readline().strip() == b"ready"
        time.sleep(delay)
        process.send_signal(signal.SIGKILL)
        process.wait()
        kills += 1
        ids = landed_ids(streaming)
        assert len(ids) == len(set(ids)), f"duplicates after kill {kills}"
    finished = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=300)
    assert finished.stdout.split()[-1] == b"done", finished.stderr.decode()[-2000:]
    assert sorted(landed_ids(streaming)) == sorted(e["meta"]["id"] for e in events)


def test_broker_restart_during_ingestion_loses_nothing(streaming):
    client = producer(streaming)
    sent: list[dict] = []
    outcomes = []
    stop = threading.Event()

    def produce():
        while not stop.is_set():
            batch = [fresh(e, dt=now_iso()) for e in sample_events()[:50]]
            outcomes.extend(client.send(batch))
            sent.extend(batch)

    thread = threading.Thread(target=produce)
    thread.start()
    time.sleep(1.0)
    streaming.kafka.run("restart")
    time.sleep(1.0)
    stop.set()
    thread.join(timeout=120)
    accepted = [e["meta"]["id"] for e, o in zip(sent, outcomes, strict=True) if o.error is None]
    assert accepted, "nothing was produced"
    result = streaming.land(topic=True)
    assert result.success
    ids = landed_ids(streaming)
    assert len(ids) == len(set(ids))
    assert set(accepted) <= set(ids)  # every acknowledged event landed (none lost)


def test_history_then_live_tail_is_gap_free_and_duplicate_free(streaming, monkeypatch):
    import sdp

    client = producer(streaming)
    first = [fresh(e) for e in sample_events()[:40]]
    client.send(first)
    assert streaming.land(topic=True).success
    later = [fresh(e) for e in sample_events()[40:70]]
    client.send([*later, first[0]])  # plus a duplicate of a landed event

    monkeypatch.chdir(REPO)
    history = sdp.source("mediawiki.recentchange")
    live = list(sdp.source("mediawiki.recentchange", live=True, idle_timeout=3))
    tailed = [i for batch in live for i in batch["meta_id"].to_pylist()]
    assert live and live[0].schema == history.schema
    combined = history["meta_id"].to_pylist() + tailed
    assert sorted(combined) == sorted(e["meta"]["id"] for e in [*first, *later])

    start = datetime(2026, 9, 17, 3, tzinfo=UTC)
    window = sdp.source("mediawiki.recentchange", start=start, end=start + timedelta(hours=1))
    assert window.num_rows == 40
