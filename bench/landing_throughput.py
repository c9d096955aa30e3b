"""Landing throughput: Kafka topic -> Iceberg table with `land_topic`, against a bare consumer.

    uv run python bench/landing_throughput.py [--events 1000000] [--batch-sizes 20000,50000,100000]
                                              [--profile-events 100000]

Starts its own broker (deploy/kafka.sh, free ports, temporary folder), produces N copies of the
500 real recentchange events (fresh meta.id, meta.dt spread in order over 2026-09-18, so 24
hourly partitions) to `mediawiki.recentchange`, then measures in the same run, interleaved:

- bare: a confluent_kafka Consumer assigned at offset 0, `consume(10000, 1s)` until N messages,
  touching each value (the peer: what reading the topic costs at all);
- platform: `land_topic(lander, config, topic, batch_size=B)` from an empty table to the end
  (decode, validate, deduplicate, Arrow, one Iceberg commit per batch with its offsets).

A bare run comes before and after every platform run; the ratio uses the mean of the two.
Then a smaller landing is timed by phase and profiled with cProfile. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pyarrow.compute as pc
from confluent_kafka import Consumer, Producer, TopicPartition
from kafka_support import (
    TOPIC,
    bench_home,
    kafka_broker,
    platform_env,
    print_table,
    sample_events,
)

import sdp.lander as lander_module
from sdp.catalog import DatasetIndex
from sdp.events import EventDecoder
from sdp.lake import Lake, LakeConfig
from sdp.lander import Lander
from sdp.landing import land_topic
from sdp.producer import ensure_topics
from sdp.schemas import SchemaRegistry
from sdp_assets import definitions
from sdp_resources.kafka import KafkaResource

DAY_START = datetime(2026, 9, 18, tzinfo=UTC).timestamp()


def payloads(n: int) -> Iterator[bytes]:
    """N serialized events: the samples round-robin, new ids, event times in order over a day."""
    samples = sample_events()
    for i in range(n):
        event = samples[i % len(samples)]  # mutated then serialized at once: no copy needed
        moment = datetime.fromtimestamp(DAY_START + i * 86_400 / n, UTC)
        event["meta"]["id"] = str(uuid.uuid4())
        event["meta"]["dt"] = moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        event["timestamp"] = int(moment.timestamp())
        yield orjson.dumps(event)


def produce(bootstrap: str, n: int) -> float:
    """Produce N events as fast as a tuned plain producer can; returns seconds."""
    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "linger.ms": 50,
            "batch.size": 1_000_000,
            "compression.type": "lz4",
            "queue.buffering.max.messages": 500_000,
            "queue.buffering.max.kbytes": 1_048_576,
        }
    )
    started = time.perf_counter()
    for i, value in enumerate(payloads(n)):
        while True:
            try:
                producer.produce(TOPIC, value)
                break
            except BufferError:  # local queue full: let deliveries drain
                producer.poll(0.1)
        if i % 10_000 == 0:
            producer.poll(0)
    if producer.flush(120):
        raise RuntimeError("events were not all delivered")
    return time.perf_counter() - started


def bare_consume(config: dict[str, str], n: int) -> float:
    """Seconds for a plain consumer to read the first N messages of the topic."""
    consumer = Consumer(
        {**config, "group.id": f"bench-bare-{uuid.uuid4()}", "enable.auto.commit": False}
    )
    try:
        consumer.assign([TopicPartition(TOPIC, 0, 0)])
        seen = size = 0
        started = time.perf_counter()
        while seen < n:
            for message in consumer.consume(num_messages=10_000, timeout=1):
                if message.error() is None:
                    size += len(message.value())
                    seen += 1
        return time.perf_counter() - started
    finally:
        consumer.close()


def new_lander(folder: Path) -> Lander:
    """A Lander of mediawiki.recentchange on a fresh, empty catalog and warehouse (the local
    environment's layout), so every run starts from an empty table."""

    index = DatasetIndex(definitions.domains())
    entry = index.get("mediawiki.recentchange")
    folder.mkdir(parents=True)
    lake = Lake(LakeConfig(f"sqlite:///{folder / 'catalog.db'}", (folder / "warehouse").as_uri()))
    lake.table(entry.domain.name, entry.dataset)  # created outside the timing
    decoder = EventDecoder.for_source(entry.dataset.source, SchemaRegistry(), index.streams)
    return Lander(lake, entry.domain.name, entry.dataset, decoder)


def land(lander: Lander, config: dict[str, str], batch_size: int, end: int | None = None) -> float:
    """Seconds for `land_topic` to land the topic (up to `end`, default its end)."""

    started = time.perf_counter()
    result = land_topic(
        lander, config, TOPIC, None if end is None else {0: end}, batch_size=batch_size
    )
    elapsed = time.perf_counter() - started
    if result.rejected or result.duplicates or result.dropped:
        print(f"  note: rejected {len(result.rejected)}, dup {result.duplicates}")
    return elapsed


def table_rows(lander) -> tuple[int, int]:
    """(rows, distinct ids) of the landed table."""
    ids = lander.lake.read(lander.domain, lander.dataset, columns=("meta_id",))["meta_id"]
    return ids.length(), pc.count_distinct(ids).as_py()


class PhaseTimer:
    """Wall time per phase, from wrappers around the Lander's steps (cheap, unlike cProfile)."""

    def __init__(self) -> None:
        self.seconds: Counter[str] = Counter()

    def wrap(self, name: str, fn: Callable) -> Callable:
        def timed(*args, **kwargs):
            started = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.seconds[name] += time.perf_counter() - started

        return timed


class TimedRegistry:
    """The schema registry, with its validators timed (EventDecoder.check calls them)."""

    def __init__(self, registry, timer: PhaseTimer):
        self._registry, self._timer, self._validators = registry, timer, {}

    def validator(self, uri: str) -> Callable:
        if uri not in self._validators:
            self._validators[uri] = self._timer.wrap("validate", self._registry.validator(uri))
        return self._validators[uri]


def phase_breakdown(lander, config: dict[str, str], batch_size: int, n: int) -> list[tuple]:
    """Land the first N events with every step of the Lander timed; rows of (phase, s, %)."""

    timer = PhaseTimer()
    lander.decoder.registry = TimedRegistry(lander.decoder.registry, timer)
    for name in ("prepare", "_drop_landed", "remember", "_commit", "_keep_rejected"):
        setattr(lander, name, timer.wrap(name, getattr(lander, name)))
    lander.decoder.decode = timer.wrap("decode", lander.decoder.decode)
    originals = {name: getattr(lander_module, name) for name in ("events_to_arrow", "conform")}
    for name, fn in originals.items():  # module globals that Lander.prepare looks up per call
        setattr(lander_module, name, timer.wrap(name, fn))
    try:
        total = land(lander, config, batch_size, end=n)
    finally:
        for name, fn in originals.items():
            setattr(lander_module, name, fn)
    s = timer.seconds
    rest = s["prepare"] - s["decode"] - s["events_to_arrow"] - s["_drop_landed"] - s["conform"]
    loop = total - s["prepare"] - s["_commit"] - s["remember"] - s["_keep_rejected"]
    phases = [
        ("JSON parse, stream/schema checks, in-batch dedup", s["decode"] - s["validate"]),
        ("schema validation (fastjsonschema)", s["validate"]),
        ("Arrow build (events_to_arrow)", s["events_to_arrow"]),
        ("dedup against landed ids (_drop_landed)", s["_drop_landed"]),
        ("conform (select + cast)", s["conform"]),
        ("partition counts in prepare", rest),
        ("Iceberg commit (parquet write, manifests, catalog)", s["_commit"]),
        ("remember landed ids", s["remember"]),
        ("Kafka consume + landing loop (the rest)", loop),
    ]
    rows = [(name, f"{sec:.2f}", f"{100 * sec / total:.0f}%") for name, sec in phases]
    return [*rows, ("total", f"{total:.2f}", f"{n / total:,.0f} events/s")]


def profile(lander, config: dict[str, str], batch_size: int, n: int, top: int = 25) -> str:
    profiler = cProfile.Profile()
    profiler.enable()
    land(lander, config, batch_size, end=n)
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(top)
    return out.getvalue()


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--batch-sizes", default="20000,50000,100000")
    parser.add_argument("--profile-events", type=int, default=100_000, help="0: no profile")
    parser.add_argument("--profile-batch", type=int, default=50_000)
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    n = args.events
    batch_sizes = [int(b) for b in args.batch_sizes.split(",") if b]
    with bench_home("sdp-bench-landing-") as home, kafka_broker(home / "kafka") as bootstrap:
        os.environ.update(platform_env(home / "sdp", bootstrap))

        config = KafkaResource(bootstrap_servers=bootstrap).client_config()
        ensure_topics(config, list(DatasetIndex(definitions.domains()).streams.values()))
        produced = produce(bootstrap, n)
        print(f"produced {n:,} events in {produced:.1f} s ({n / produced:,.0f} events/s)")

        # Warm-up, not counted: first reads of the log, the imports of the Iceberg write path.
        bare_consume(config, min(n, 50_000))
        land(new_lander(home / "lake-warmup"), config, 5_000, end=min(n, 5_000))
        print(f"load average before the measured runs: {os.getloadavg()[0]:.2f}")

        bare = [bare_consume(config, n)]
        rows = []
        for batch_size in batch_sizes:
            lander = new_lander(home / f"lake-{batch_size}")
            seconds = land(lander, config, batch_size)
            bare.append(bare_consume(config, n))
            landed, distinct = table_rows(lander)
            peer = (bare[-2] + bare[-1]) / 2
            rows.append(
                (
                    f"{batch_size:,}",
                    f"{seconds:.1f}",
                    f"{n / seconds:,.0f}",
                    f"{peer:.1f}",
                    f"{n / peer:,.0f}",
                    f"{peer / seconds:.1%}",
                    f"{landed:,} / {distinct:,}",
                )
            )
            print(f"  batch {batch_size:,}: {seconds:.1f} s, bare {bare[-2]:.1f}/{bare[-1]:.1f} s")
        print(
            f"\nlanding {n:,} events (bare runs: {', '.join(f'{b:.1f}' for b in bare)} s; "
            f"load average now {os.getloadavg()[0]:.2f})"
        )
        print_table(
            (
                "batch size",
                "platform s",
                "platform events/s",
                "bare s (mean before/after)",
                "bare events/s",
                "platform / bare",
                "rows / distinct ids",
            ),
            rows,
        )

        if args.profile_events:
            m = min(args.profile_events, n)
            print(f"\nphases, landing the first {m:,} events, batch {args.profile_batch:,}:")
            breakdown = phase_breakdown(
                new_lander(home / "lake-phases"), config, args.profile_batch, m
            )
            print_table(("phase", "seconds", "share"), breakdown)
            print(f"\ncProfile of the same landing ({m:,} events), top functions by own time:")
            print(profile(new_lander(home / "lake-profile"), config, args.profile_batch, m))


if __name__ == "__main__":
    main()
