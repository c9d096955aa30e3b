"""Intake throughput: `POST /v1/events` (the real intake, `sdp intake` under uvicorn) against a
bare idempotent producer, both acks=all, batches of 100 real events, the same concurrency.

    uv run python bench/intake_throughput.py [--requests 300] [--concurrency 4] [--rounds 2]
                                             [--profile-batches 100]

Starts its own broker (deploy/kafka.sh) and the intake as a separate process (`python -m sdp.cli
intake`, the deployed entry point, so server and client do not share a GIL). Every request posts
100 of the 500 real recentchange events with fresh meta.id; the intake validates them and answers
once Kafka acknowledged them. The peer produces the same kind of events straight to the topic
with a confluent_kafka Producer configured like the platform's (idempotent, acks=all, lz4,
linger 5 ms), 100 per batch and a flush per batch, from as many threads as connections.

A third path splits the intake's cost: `EventProducer.send` called in this process (validation
and producing as the intake does them, without HTTP). Runs bare, then `--rounds` rounds of
(intake, EventProducer.send, bare); each is compared with the mean of the bare runs around its
round. Reports accepted events/s and p50/p99 latency per request (per batch for the peer), then
profiles `EventProducer.send` with cProfile (`--profile-batches`). Nothing is asserted.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import threading
import time
from collections.abc import Callable
from contextlib import nullcontext
from functools import partial

import httpx
import orjson
from confluent_kafka import Producer
from kafka_support import (
    INTAKE_TOKEN,
    TOPIC,
    bench_home,
    fresh,
    kafka_broker,
    percentile,
    print_table,
    sample_events,
    start_intake,
    stop,
)

from sdp.catalog import DatasetIndex
from sdp.producer import EventProducer
from sdp.schemas import SchemaRegistry
from sdp_assets import definitions

BATCH = 100


def batches(count: int) -> list[list[dict]]:
    """`count` batches of 100 real events, each event with a fresh id (never a duplicate)."""
    samples = sample_events()
    return [
        [fresh(samples[(i * BATCH + j) % len(samples)]) for j in range(BATCH)] for i in range(count)
    ]


def run_concurrently(jobs: list, concurrency: int, make_worker: Callable) -> tuple[float, list]:
    """Run every job on `concurrency` threads (each with its own worker, e.g. an HTTP client);
    returns (wall seconds, [(latency s, events accepted)])."""
    results: list[tuple[float, int]] = []
    lock = threading.Lock()
    pending = iter(jobs)

    def loop() -> None:
        with make_worker() as work:
            while True:
                with lock:
                    job = next(pending, None)
                if job is None:
                    return
                started = time.perf_counter()
                accepted = work(job)
                latency = time.perf_counter() - started
                with lock:
                    results.append((latency, accepted))

    threads = [threading.Thread(target=loop) for _ in range(concurrency)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started, results


class IntakeClient:
    """One keep-alive connection posting pre-serialized batches; returns the accepted count."""

    def __init__(self, url: str):
        self.url = url
        self.client = httpx.Client(
            timeout=60,
            headers={"Authorization": f"Bearer {INTAKE_TOKEN}", "Content-Type": "application/json"},
        )

    def __enter__(self) -> Callable[[bytes], int]:
        return self.post

    def __exit__(self, *_) -> None:
        self.client.close()

    def post(self, body: bytes) -> int:
        response = self.client.post(self.url, content=body)
        if response.status_code != 201:
            raise RuntimeError(f"intake answered {response.status_code}: {response.text[:300]}")
        return response.json()["accepted"]


class BareProducer:
    """The peer: the platform's producer settings, no HTTP, no validation. Shared by all
    threads like the intake's producer, so a flush also waits for the other threads' events."""

    def __init__(self, bootstrap: str):
        self.producer = Producer(
            {
                "bootstrap.servers": bootstrap,
                "enable.idempotence": True,
                "acks": "all",
                "linger.ms": 5,
                "compression.type": "lz4",
            }
        )
        self.failed = 0

    def worker(self) -> BareProducer:
        return self

    def __enter__(self) -> Callable[[list[bytes]], int]:
        return self.send

    def __exit__(self, *_) -> None:
        pass

    def send(self, values: list[bytes]) -> int:
        failed = []
        for value in values:
            self.producer.produce(TOPIC, value, on_delivery=lambda e, _m: e and failed.append(e))
        if self.producer.flush(30):
            raise RuntimeError("events not acknowledged within 30 s")
        return len(values) - len(failed)


def summarize(name: str, seconds: float, results: list) -> dict:
    latencies = [latency for latency, _ in results]
    accepted = sum(count for _, count in results)
    return {
        "path": name,
        "accepted": accepted,
        "seconds": seconds,
        "rate": accepted / seconds,
        "p50": 1000 * percentile(latencies, 50),
        "p99": 1000 * percentile(latencies, 99),
    }


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=300, help="batches of 100 per run")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=2, help="intake runs (bare runs: +1)")
    parser.add_argument("--profile-batches", type=int, default=100, help="0: no profile")
    return parser.parse_args()


def run_bare(bare: BareProducer, requests: int, concurrency: int) -> dict:
    jobs = [[orjson.dumps(e) for e in batch] for batch in batches(requests)]
    return summarize("bare", *run_concurrently(jobs, concurrency, bare.worker))


def run_intake(url: str, requests: int, concurrency: int) -> dict:
    jobs = [orjson.dumps(batch) for batch in batches(requests)]
    return summarize("intake", *run_concurrently(jobs, concurrency, lambda: IntakeClient(url)))


def run_send(producer: EventProducer, requests: int, concurrency: int) -> dict:
    jobs = batches(requests)
    return summarize(
        "EventProducer.send",
        *run_concurrently(jobs, concurrency, lambda: nullcontext(partial(send, producer))),
    )


def send(producer: EventProducer, events: list[dict]) -> int:
    return sum(outcome.error is None for outcome in producer.send(events))


def measure(url: str, bootstrap: str, args: argparse.Namespace) -> list[dict]:
    """bare, then rounds of (intake, EventProducer.send, bare), after an uncounted warm-up."""
    bare = BareProducer(bootstrap)
    index = DatasetIndex(definitions.domains())
    producer = EventProducer({"bootstrap.servers": bootstrap}, index.streams, SchemaRegistry())
    # Warm-up, not counted: connections, validators, metadata, and the broker's JIT (the first
    # thousands of requests are much slower on a fresh JVM).
    for _ in range(2):
        run_bare(bare, 100, args.concurrency)
        run_intake(url, 100, args.concurrency)
        run_send(producer, 100, args.concurrency)
    print(f"load average before the measured runs: {os.getloadavg()[0]:.2f}")
    runs = [run_bare(bare, args.requests, args.concurrency)]
    for _ in range(args.rounds):
        runs.append(run_intake(url, args.requests, args.concurrency))
        runs.append(run_send(producer, args.requests, args.concurrency))
        runs.append(run_bare(bare, args.requests, args.concurrency))
    if args.profile_batches:
        print(profile_send(producer, args.profile_batches))
    producer.flush(10)
    return runs  # the producers go with this frame, before the broker stops


def profile_send(producer: EventProducer, count: int, top: int = 20) -> str:
    """cProfile of EventProducer.send (what the intake does per request, minus HTTP), one
    batch after the other on this thread."""
    jobs = batches(count)
    profiler = cProfile.Profile()
    profiler.enable()
    for events in jobs:
        send(producer, events)
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(top)
    return f"\ncProfile of EventProducer.send, {count} batches of {BATCH}:\n{out.getvalue()}"


def main() -> None:
    args = parse_args()
    with bench_home("sdp-bench-intake-") as home, kafka_broker(home / "kafka") as bootstrap:
        intake, url = start_intake(home, bootstrap, home / "intake.log")
        try:
            runs = measure(url, bootstrap, args)
        finally:
            stop(intake)
    rows = []
    bare_before = runs[0]
    for i, run in enumerate(runs):
        ratio = ""
        if run["path"] == "bare":
            bare_before = run
        else:  # the bare runs that open and close this round
            bare_after = next(r for r in runs[i:] if r["path"] == "bare")
            peer = (bare_before["rate"] + bare_after["rate"]) / 2
            ratio = f"{run['rate'] / peer:.1%}"
        rows.append(
            (
                run["path"],
                f"{run['accepted']:,}",
                f"{run['seconds']:.1f}",
                f"{run['rate']:,.0f}",
                f"{1e6 / run['rate']:.0f}",
                f"{run['p50']:.1f}",
                f"{run['p99']:.1f}",
                ratio,
            )
        )
    print(
        f"\n{args.requests} batches of {BATCH} events per run, {args.concurrency} connections "
        f"(threads); load average now {os.getloadavg()[0]:.2f}"
    )
    print_table(
        (
            "path",
            "events accepted",
            "seconds",
            "events/s",
            "µs per event",
            "p50 ms",
            "p99 ms",
            "ratio to bare (mean of the round's bare runs)",
        ),
        rows,
    )


if __name__ == "__main__":
    main()
