"""Landing throughput to S3 (SeaweedFS) against local disk, in the same run.

    uv run python bench/s3_landing.py [--events 100000] [--files 1,10] [--rounds 3]

Starts its own SeaweedFS (deploy/seaweedfs.sh, free ports, temporary folder), writes N copies of
the 500 real recentchange events (fresh meta.id each, event times as in the sample, so one
hourly partition) as JSON lines, and stages them as F files. Then, alternating local and S3,
`land_files` lands them into a fresh, empty table: one Iceberg commit per staged file (decode,
validate, deduplicate against the partition's stored ids, parquet write, manifests, catalog).

- local: SQLite catalog, warehouse file:// in the temporary folder (the local environment);
- s3: SQLite catalog, warehouse s3://<bucket>/<fresh prefix> on the SeaweedFS endpoint.

Only `land_files` is timed (table creation, decoder and imports are outside). Nothing is
asserted beyond every run landing all N events.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import orjson
from kafka_support import HASH_KEY, REPO, bench_home, print_table, sample_events

from sdp.catalog import DatasetIndex
from sdp.events import EventDecoder
from sdp.lake import Lake, LakeConfig
from sdp.lander import Lander
from sdp.landing import land_files
from sdp.schemas import SchemaRegistry
from sdp.staging import Staging
from sdp_assets import definitions

S3_PORTS = ("PORT", "GRPC_PORT", "MASTER_PORT", "MASTER_GRPC_PORT", "VOLUME_PORT")
S3_PORTS += ("VOLUME_GRPC_PORT", "FILER_PORT", "FILER_GRPC_PORT", "ADMIN_PORT", "ADMIN_GRPC_PORT")
ACCESS_KEY, SECRET_KEY, BUCKET = "bench", "bench-secret", "bench"


def free_ports(count: int) -> list[int]:
    """Distinct free ports: all held open at once, so none is handed out twice."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


@contextmanager
def seaweedfs(state_dir: Path) -> Iterator[tuple[dict[str, str], float]]:
    """SeaweedFS from deploy/seaweedfs.sh on free ports; yields the lake's S3 properties and the
    seconds `start` took, and stops it on exit, also on failure."""
    ports = dict(zip(S3_PORTS, free_ports(len(S3_PORTS)), strict=True))
    env = {
        **os.environ,
        **{f"SDP_S3_{name}": str(port) for name, port in ports.items()},
        "SDP_S3_DIR": str(state_dir),
        "SDP_S3_ACCESS_KEY": ACCESS_KEY,
        "SDP_S3_SECRET_KEY": SECRET_KEY,
        "SDP_S3_BUCKET": BUCKET,
    }

    def run(command: str) -> None:
        script = REPO / "deploy" / "seaweedfs.sh"
        subprocess.run(
            ["bash", str(script), command], env=env, check=True, stdout=subprocess.DEVNULL
        )

    run("fetch")  # a first install is not start-up time
    try:
        started = time.perf_counter()
        run("start")
        yield (
            {
                "s3.endpoint": f"http://127.0.0.1:{ports['PORT']}",
                "s3.access-key-id": ACCESS_KEY,
                "s3.secret-access-key": SECRET_KEY,
                "s3.region": "us-east-1",  # else pyiceberg asks AWS where the bucket is
            },
            time.perf_counter() - started,
        )
    finally:
        run("stop")


def write_events(folder: Path, n: int, files: int) -> list[Path]:
    """N events, the samples round-robin with fresh ids, as `files` JSON-lines files."""
    samples = sample_events()
    folder.mkdir(parents=True)
    paths = [folder / f"recentchange-{i:03d}.jsonl" for i in range(files)]
    bounds = [n * i // files for i in range(files + 1)]
    for path, start, end in zip(paths, bounds, bounds[1:], strict=False):
        with path.open("wb") as out:
            for i in range(start, end):
                event = samples[i % len(samples)]  # mutated then serialized at once: no copy
                event["meta"]["id"] = str(uuid.uuid4())
                out.write(orjson.dumps(event) + b"\n")
    return paths


def new_lander(catalog: Path, warehouse: str, properties: dict[str, str]) -> Lander:
    """A Lander of mediawiki.recentchange on an empty table, built as the landing op does."""
    index = DatasetIndex(definitions.domains())
    entry = index.get("mediawiki.recentchange")
    catalog.parent.mkdir(parents=True, exist_ok=True)
    lake = Lake(LakeConfig(f"sqlite:///{catalog}", warehouse, properties=properties))
    lake.table(entry.domain.name, entry.dataset)  # created outside the timing
    decoder = EventDecoder.for_source(entry.dataset.source, SchemaRegistry(), index.streams)
    return Lander(lake, entry.domain.name, entry.dataset, decoder)


def land(lander: Lander, staging: Staging, n: int) -> tuple[float, float]:
    """Seconds for `land_files` to land every staged file, and of those the seconds in the
    Iceberg commits (parquet write, manifests, metadata, catalog): where the storage is."""
    committing = 0.0
    commit = lander._commit

    def timed_commit(*args, **kwargs):
        nonlocal committing
        started = time.perf_counter()
        try:
            return commit(*args, **kwargs)
        finally:
            committing += time.perf_counter() - started

    lander._commit = timed_commit
    started = time.perf_counter()
    result = land_files(lander, staging)
    seconds = time.perf_counter() - started
    if result.landed != n or result.rejected or result.duplicates:
        raise RuntimeError(
            f"landed {result.landed} of {n} (rejected {len(result.rejected)}, "
            f"duplicates {result.duplicates})"
        )
    return seconds, committing


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--files", default="1,10", help="staged files (= commits), per case")
    parser.add_argument("--rounds", type=int, default=3, help="local/S3 pairs per case")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    n = args.events
    with bench_home("sdp-bench-s3-") as home, seaweedfs(home / "seaweedfs") as (s3, start_s):
        os.environ.update(
            {"SDP_HOME": str(home / "sdp"), "SDP_USER_HASH_KEY": HASH_KEY, "SDP_ENV": "local"}
        )
        print(f"SeaweedFS started (bucket created, a write probed) in {start_s:.1f} s")
        counter = iter(range(1_000_000))

        def lander(target: str) -> Lander:
            run = f"{target}-{next(counter)}"
            if target == "local":
                return new_lander(home / run / "catalog.db", (home / run / "wh").as_uri(), {})
            return new_lander(home / run / "catalog.db", f"s3://{BUCKET}/{run}/warehouse", s3)

        # Warm-up, not counted: imports of the write paths, schema compilation, first connections.
        warm = Staging(home / "staging-warmup")
        for path in write_events(home / "events-warmup", 2_000, 1):
            warm.stage("mediawiki", "recentchange", path)
        for target in ("local", "s3"):
            land(lander(target), warm, 2_000)
        print(f"load average before the measured runs: {os.getloadavg()[0]:.2f}")

        rows = []
        for files in [int(f) for f in args.files.split(",") if f]:
            staging = Staging(home / f"staging-{files}")
            for path in write_events(home / f"events-{files}", n, files):
                staging.stage("mediawiki", "recentchange", path)
            size = sum(p.stat().st_size for p in staging.files("mediawiki", "recentchange"))
            runs: dict[str, list[tuple[float, float]]] = {"local": [], "s3": []}
            for _ in range(args.rounds):
                for target in ("local", "s3"):  # alternating: drift hits both alike
                    runs[target].append(land(lander(target), staging, n))
            for target, timings in runs.items():
                listed = ", ".join(f"{total:.2f} (commit {c:.2f})" for total, c in timings)
                print(f"  {files} file(s), {size / 1e6:.0f} MB, {target}: {listed} s")
            total = {t: statistics.median(s for s, _ in v) for t, v in runs.items()}
            commit = {t: statistics.median(c for _, c in v) for t, v in runs.items()}
            spread = {
                t: f"{min(s for s, _ in v):.1f}–{max(s for s, _ in v):.1f}" for t, v in runs.items()
            }
            rows.append(
                (
                    f"{files} ({n // files:,} events each)",
                    f"{total['local']:.1f} ({spread['local']})",
                    f"{n / total['local']:,.0f}",
                    f"{total['s3']:.1f} ({spread['s3']})",
                    f"{n / total['s3']:,.0f}",
                    f"{total['local'] / total['s3']:.2f}",
                    f"{commit['local']:.2f} / {commit['s3']:.2f}",
                )
            )
        print(
            f"\nlanding {n:,} events, {args.rounds} runs per target, medians "
            f"({datetime.now(UTC):%Y-%m-%d}; load average now {os.getloadavg()[0]:.2f})"
        )
        print_table(
            (
                "staged files = commits",
                "local s (min–max)",
                "local events/s",
                "S3 s (min–max)",
                "S3 events/s",
                "S3 / local throughput",
                "of which commits, local / S3 s",
            ),
            rows,
        )


if __name__ == "__main__":
    main()
