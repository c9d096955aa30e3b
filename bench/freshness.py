"""End-to-end freshness: an event posted to the intake until its hour of mediawiki/edits_hourly
is rebuilt with it, through the real broker, `dagster dev` (daemon, sensors, queued runs).

    uv run python bench/freshness.py [--events 50] [--spacing 1.5,4.5] [--budget 720]

Starts its own broker (deploy/kafka.sh), the intake (`python -m sdp.cli intake`) and
`dagster dev -w workspace.yaml` with a temporary DAGSTER_HOME (deploy/dagster.local.yaml) and
SDP_HOME. The sensors run as shipped: the landing sensor every 5 s, the automation sensor every
10 s. A warm-up event is posted and waited for until landed (the daemon is up; not counted),
then the events, one per POST, spaced a random 1.5-4.5 s apart (so they meet every phase of the
sensor intervals), each a real recentchange event with a fresh meta.id and meta.dt = now.

Freshness of an event posted at P (the moment its POST was sent), read from the Dagster
instance's event log:
- L: the first mediawiki/recentchange materialization of the event's hour by a landing run whose
  configured end offset is past the event's Kafka offset (that run landed it; offsets are read
  back from the topic by meta.id);
- S: the first recentchange_sanitized materialization of that hour by a step that started after
  L (a step reads its input after it starts, so it read the landed event);
- H: the first edits_hourly materialization of that hour by a step that started after S.
freshness = H - P; also reported: L - P and S - P, and where the time goes (sensor, queue,
run start-up, work). An event not through when the time is up counts with the time it waited,
and percentiles it affects are reported as lower bounds (≥). Everything is bounded by `--budget`
seconds; every process started here is stopped, also on failure. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import math
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import httpx
import orjson
from confluent_kafka import Consumer, TopicPartition
from dagster import DagsterEventType
from kafka_support import (
    INTAKE_TOKEN,
    REPO,
    TOPIC,
    bench_home,
    free_port,
    fresh,
    kafka_broker,
    percentile,
    platform_env,
    print_table,
    sample_events,
    start_intake,
    stop,
)

from sdp.producer import now_iso

LANDED = dg.AssetKey(["mediawiki", "recentchange"])
SANITIZED = dg.AssetKey(["mediawiki", "recentchange_sanitized"])
HOURLY = dg.AssetKey(["mediawiki", "edits_hourly"])
LANDING_OP = "land_mediawiki__recentchange"
HOUR_KEY = "%Y-%m-%d-%H:00"  # the hourly partitions' keys
FRESH = "edits_hourly (H): freshness"
TAIL = 240  # seconds at least left after the last post for the events to get through


@dataclass
class Posted:
    event_id: str
    at: float  # epoch seconds when the POST was sent
    hour: str  # partition key of the event's hour


@dataclass
class Materialized:
    partition: str
    at: float
    run_id: str
    step_started: float  # when the step that wrote it started, i.e. before it read its inputs


def start_dagster(home: Path, bootstrap: str, log: Path) -> tuple[subprocess.Popen, Path]:
    """`dagster dev` on a free port in its own process group; returns it once the UI answers."""
    dagster_home = home / "dagster"
    dagster_home.mkdir()
    shutil.copy(REPO / "deploy" / "dagster.local.yaml", dagster_home / "dagster.yaml")
    port = free_port()
    env = {
        **os.environ,
        **platform_env(home / "sdp", bootstrap),
        "DAGSTER_HOME": str(dagster_home),
    }
    command = [str(Path(sys.executable).parent / "dagster"), "dev", "-h", "127.0.0.1"]
    with log.open("w") as out:
        process = subprocess.Popen(
            [*command, "-p", str(port), "-w", "workspace.yaml"],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"dagster dev exited: {log.read_text()[-3000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/server_info", timeout=2).status_code == 200:
                return process, dagster_home
        except httpx.HTTPError:
            pass
        time.sleep(1)
    stop(process, timeout=30, how=signal.SIGINT)
    raise TimeoutError("the Dagster UI did not answer within 180 s")


def code_load_seconds(home: Path, bootstrap: str) -> float:
    """Wall time for a fresh process to load the code location: what every run worker and every
    step subprocess pays before doing any work (a gauge of the machine's load, too)."""
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-c", "from sdp_assets import definitions; definitions.defs()"],
        cwd=REPO,
        env={**os.environ, **platform_env(home / "sdp", bootstrap)},
        check=True,
        capture_output=True,
    )
    return time.perf_counter() - started


def stop_dagster(process: subprocess.Popen, dagster_home: Path) -> None:
    """SIGINT (dagster dev's own clean shutdown), then any process still running on this
    instance (a run worker outside the group) by its pid."""
    stop(process, timeout=30, how=signal.SIGINT)
    time.sleep(2)  # let the group's last members die before looking for strays
    marker = f"DAGSTER_HOME={dagster_home}".encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if marker in (entry / "environ").read_bytes().split(b"\0"):
                command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()[:120]
                os.kill(int(entry.name), signal.SIGKILL)
                print(f"killed a leftover process of this bench's instance: {command}")
        except OSError:
            pass  # gone meanwhile, or not ours to read


def post(client: httpx.Client, url: str, sample: dict) -> Posted:
    moment = now_iso()
    event = fresh(sample, dt=moment)
    at = time.time()
    response = client.post(url, content=orjson.dumps([event]))
    if response.status_code != 201:
        raise RuntimeError(f"intake answered {response.status_code}: {response.text[:300]}")
    hour = datetime.fromisoformat(moment).astimezone(UTC).strftime(HOUR_KEY)
    return Posted(event["meta"]["id"], at, hour)


def topic_offsets(bootstrap: str) -> dict[str, int]:
    """meta.id -> offset of every event in the topic (one partition)."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "bench-freshness"})
    try:
        _, end = consumer.get_watermark_offsets(TopicPartition(TOPIC, 0), timeout=10)
        consumer.assign([TopicPartition(TOPIC, 0, 0)])
        offsets: dict[str, int] = {}
        while len(offsets) < end:
            for message in consumer.consume(num_messages=1000, timeout=1):
                if message.error() is None:
                    offsets[orjson.loads(message.value())["meta"]["id"]] = message.offset()
        return offsets
    finally:
        consumer.close()


class Timeline:
    """What the Dagster instance recorded: materializations, runs and steps, from its storage."""

    def __init__(self, instance: dg.DagsterInstance):
        self.instance = instance
        self._runs: dict[str, tuple[float, float | None, float | None, dict]] = {}
        self._step_starts: dict[tuple[str, str], float] = {}

    def materializations(self, key: dg.AssetKey) -> list[Materialized]:
        records = self.instance.fetch_materializations(key, limit=10_000, ascending=True).records
        return [
            Materialized(
                r.partition_key or "",
                r.event_log_entry.timestamp,
                r.run_id,
                self.step_started(r.run_id, r.event_log_entry.step_key or ""),
            )
            for r in records
        ]

    def step_started(self, run_id: str, step_key: str) -> float:
        if (run_id, step_key) not in self._step_starts:
            for entry in self.instance.all_logs(run_id, of_type=DagsterEventType.STEP_START):
                self._step_starts[(run_id, entry.step_key or "")] = entry.timestamp
        return self._step_starts.get((run_id, step_key), float("inf"))

    def run(self, run_id: str) -> tuple[float, float | None, float | None, dict]:
        """(created, started, ended, run config) of a run; cached once it has ended."""
        if run_id not in self._runs or self._runs[run_id][2] is None:
            record = self.instance.get_run_record_by_id(run_id)
            self._runs[run_id] = (
                record.create_timestamp.timestamp(),
                record.start_time,
                record.end_time,
                record.dagster_run.run_config,
            )
        return self._runs[run_id]

    def landing_end(self, run_id: str) -> int:
        """The offset the landing run landed up to (exclusive)."""
        config = self.run(run_id)[3]
        return int(config["ops"][LANDING_OP]["config"]["end_offsets"]["0"])


def first(mats: list[Materialized], hour: str, read_after: float) -> Materialized | None:
    """The first materialization of the hour by a step that started (and so read) after a time."""
    return next((m for m in mats if m.partition == hour and m.step_started >= read_after), None)


def trace(posted: Posted, offset: int, timeline: Timeline, mats: dict) -> dict[str, float]:
    """Seconds from the POST to each stage the event has reached so far (see the docstring),
    and the time between stages."""
    stages: dict[str, float] = {}
    landed = next(
        (
            m
            for m in mats[LANDED]
            if m.partition == posted.hour and timeline.landing_end(m.run_id) > offset
        ),
        None,
    )
    if landed is None:
        return stages
    requested = timeline.run(landed.run_id)[0]
    stages |= {
        "landed (L)": landed.at - posted.at,
        "step: post -> landing run requested (sensor; one landing at a time)": requested
        - posted.at,
        "step: landing run requested -> landed": landed.at - requested,
    }
    sanitized = first(mats[SANITIZED], posted.hour, landed.at)
    if sanitized is None:
        return stages
    stages["sanitized (S)"] = sanitized.at - posted.at
    stages["step: landed -> sanitized"] = sanitized.at - landed.at
    built = first(mats[HOURLY], posted.hour, sanitized.at)
    if built is None:
        return stages
    stages[FRESH] = built.at - posted.at
    stages["step: sanitized -> edits_hourly"] = built.at - sanitized.at
    return stages


def traces(posted: list[Posted], bootstrap: str, timeline: Timeline) -> list[dict[str, float]]:
    offsets = topic_offsets(bootstrap)
    mats = {key: timeline.materializations(key) for key in (LANDED, SANITIZED, HOURLY)}
    return [trace(p, offsets[p.event_id], timeline, mats) for p in posted]


def wait_for(
    posted: list[Posted], stage: str, bootstrap: str, timeline: Timeline, deadline: float
) -> list[dict[str, float]]:
    """Poll the instance until every posted event reached `stage` (or the deadline)."""
    last_note = time.monotonic()
    while True:
        found = traces(posted, bootstrap, timeline)
        reached = sum(stage in f for f in found)
        if reached == len(posted) or time.monotonic() > deadline:
            return found
        if time.monotonic() - last_note > 30:
            print(f"  {reached}/{len(posted)} events {stage} ...", flush=True)
            last_note = time.monotonic()
        time.sleep(3)


def bounded_percentile(values: list[tuple[float, bool]], q: float) -> str:
    """Percentile of (seconds, censored) pairs; a censored value (event not through by the end)
    is only a lower bound, and so is any percentile at or past the first of them."""
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    value = ordered[rank - 1][0]
    return f"≥ {value:.1f}" if any(c for _, c in ordered[:rank]) else f"{value:.1f}"


def report(found: list[dict[str, float]], posted: list[Posted], end: float) -> None:
    done = [f for f in found if FRESH in f]
    print(f"\n{len(done)} of {len(posted)} events through to edits_hourly within the budget")
    rows = []
    for name in ("landed (L)", "sanitized (S)", FRESH):
        # Events that did not reach a stage count with the time they waited, as lower bounds.
        values = [(f[name], False) if name in f else (end - p.at, True)
                  for f, p in zip(found, posted, strict=True)]  # fmt: skip
        rows.append((name, bounded_percentile(values, 50), bounded_percentile(values, 95)))
    steps = dict.fromkeys(k for f in found for k in f if k.startswith("step: "))
    for name in steps:  # over the events that got that far
        values = [(f[name], False) for f in found if name in f]
        rows.append(
            (
                f"{name} (n={len(values)})",
                bounded_percentile(values, 50),
                bounded_percentile(values, 95),
            )
        )
    print_table(("seconds from the POST (steps: events that got there)", "p50", "p95"), rows)


def run_kind(run: dg.DagsterRun) -> str:
    assets = run.asset_selection or frozenset()
    if run.job_name.startswith("land__"):
        return "landing run"
    return "hourly run" if assets & {SANITIZED, HOURLY} else "daily run"


def run_phases(instance: dg.DagsterInstance, record) -> dict[str, float]:
    """Where a finished run's time went: before its worker started (queue, launch, the worker's
    code load), then per step the step process's start-up (with its own code load) and work."""
    phases = {
        "requested -> run worker started": record.start_time - record.create_timestamp.timestamp()
    }
    steps: dict[str, dict[DagsterEventType, float]] = {}
    kinds = {
        DagsterEventType.STEP_WORKER_STARTING,
        DagsterEventType.STEP_START,
        DagsterEventType.STEP_SUCCESS,
    }
    for entry in instance.all_logs(record.dagster_run.run_id, of_type=kinds):
        steps.setdefault(entry.step_key or "", {})[entry.dagster_event_type] = entry.timestamp
    for key, at in steps.items():
        if {DagsterEventType.STEP_WORKER_STARTING, DagsterEventType.STEP_START} <= at.keys():
            starting = at[DagsterEventType.STEP_START] - at[DagsterEventType.STEP_WORKER_STARTING]
            phases[f"{key}: step process start-up"] = starting
        if {DagsterEventType.STEP_START, DagsterEventType.STEP_SUCCESS} <= at.keys():
            work = at[DagsterEventType.STEP_SUCCESS] - at[DagsterEventType.STEP_START]
            phases[f"{key}: step work"] = work
    phases["run worker started -> run ended"] = record.end_time - record.start_time
    return phases


def report_runs(instance: dg.DagsterInstance) -> None:
    """Where the runs' time went, by kind of run (finished runs only)."""
    seconds: dict[tuple[str, str], list[float]] = {}
    for record in instance.get_run_records():
        if record.start_time is None or record.end_time is None:
            continue
        for phase, value in run_phases(instance, record).items():
            seconds.setdefault((run_kind(record.dagster_run), phase), []).append(value)
    rows = [
        (kind, phase, len(v), f"{percentile(v, 50):.1f}", f"{max(v):.1f}")
        for (kind, phase), v in sorted(seconds.items())
    ]
    print("\nwhere the runs' time went (seconds):")
    print_table(("run", "phase", "n", "p50", "max"), rows)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=50)
    parser.add_argument("--spacing", default="1.5,4.5", help="min,max seconds between posts")
    parser.add_argument(
        "--budget", type=float, default=720, help="seconds for it all; posting stops 240 s before"
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--log-dir", type=Path, help="keep dagster dev's and the intake's logs")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    started = time.monotonic()
    low, high = (float(s) for s in args.spacing.split(","))
    rng = random.Random(args.seed)
    samples = sample_events()
    with bench_home("sdp-bench-freshness-") as home, kafka_broker(home / "kafka") as bootstrap:
        intake, url = start_intake(home, bootstrap, home / "intake.log")  # creates the topics
        dagster = None
        try:
            loads = [code_load_seconds(home, bootstrap)]
            dagster, dagster_home = start_dagster(home, bootstrap, home / "dagster.log")
            print(f"dagster dev up after {time.monotonic() - started:.0f} s")
            client = httpx.Client(timeout=60, headers={"Authorization": f"Bearer {INTAKE_TOKEN}"})
            with client, dg.DagsterInstance.from_config(str(dagster_home)) as instance:
                timeline = Timeline(instance)
                # Warm-up: the first landing proves the daemon and the sensors are running.
                warm = [post(client, url, samples[0])]
                (first,) = wait_for(warm, "landed (L)", bootstrap, timeline, time.monotonic() + 180)
                if not first:
                    raise TimeoutError("the warm-up event was not landed within 180 s")
                print(f"warm-up event landed in {first['landed (L)']:.1f} s (not counted)")
                print(f"load average before posting: {os.getloadavg()[0]:.2f}")
                posted = []
                for i in range(args.events):
                    posted.append(post(client, url, samples[(i + 1) % len(samples)]))
                    time.sleep(rng.uniform(low, high))
                    if time.monotonic() - started > args.budget - TAIL:
                        print(f"stopped posting after {i + 1} events (time budget)")
                        break
                found = wait_for(posted, FRESH, bootstrap, timeline, started + args.budget)
                print(f"load average at the end: {os.getloadavg()[0]:.2f}")
                report(found, posted, time.time())
                report_runs(instance)
        finally:
            if dagster is not None:
                stop_dagster(dagster, dagster_home)
            stop(intake)
            if args.log_dir:
                args.log_dir.mkdir(parents=True, exist_ok=True)
                for log in ("dagster.log", "intake.log"):
                    shutil.copy(home / log, args.log_dir / log)
        loads.append(code_load_seconds(home, bootstrap))
        print(
            f"a fresh process loading the code location (paid by every run and step process): "
            f"{loads[0]:.1f} s before, {loads[1]:.1f} s after the bench"
        )
    print(f"whole bench: {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
