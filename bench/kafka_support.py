"""Shared pieces of the Kafka benchmarks: a throwaway broker, the intake as a process, fresh
copies of the real sample events, free ports, percentiles and a results table. Not a benchmark
itself (running it does nothing)."""

from __future__ import annotations

import math
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import httpx
import orjson
import yaml

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "sdp_assets" / "mediawiki" / "fixtures" / "recentchange_sample_500.jsonl"
TOPIC = "mediawiki.recentchange"
HASH_KEY = "bench-hash-key"
INTAKE_TOKEN = "bench"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def sample_events() -> list[dict]:
    return [orjson.loads(line) for line in SAMPLE.read_bytes().splitlines() if line.strip()]


def fresh(event: dict, dt: str | None = None) -> dict:
    """A deep copy with a new meta.id (and meta.dt when given), so it is not a duplicate."""
    copy = orjson.loads(orjson.dumps(event))
    copy["meta"]["id"] = str(uuid.uuid4())
    if dt is not None:
        copy["meta"]["dt"] = dt
    return copy


@contextmanager
def kafka_broker(state_dir: Path) -> Iterator[str]:
    """A single-node broker from deploy/kafka.sh on free ports; yields its bootstrap address and
    stops it on exit, also on failure."""
    port = free_port()
    env = {
        **os.environ,
        "SDP_KAFKA_DIR": str(state_dir),
        "SDP_KAFKA_PORT": str(port),
        "SDP_KAFKA_CONTROLLER_PORT": str(free_port()),
    }

    def run(command: str) -> None:
        subprocess.run(
            ["bash", str(REPO / "deploy" / "kafka.sh"), command],
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
        )

    try:
        run("start")
        yield f"127.0.0.1:{port}"
    finally:
        run("stop")  # a no-op when the start failed half-way


@contextmanager
def bench_home(prefix: str) -> Iterator[Path]:
    """A temporary folder for SDP_HOME, the broker's state and the Dagster instance."""
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        yield Path(tmp)


def platform_env(home: Path, bootstrap: str) -> dict[str, str]:
    """The environment a platform process needs: its own SDP_HOME, the broker, a hash key."""
    return {
        "SDP_HOME": str(home),
        "SDP_KAFKA_BOOTSTRAP": bootstrap,
        "SDP_USER_HASH_KEY": HASH_KEY,
        "SDP_ENV": "local",
    }


def start_intake(home: Path, bootstrap: str, log: Path) -> tuple[subprocess.Popen, str]:
    """`sdp intake` in its own process group; returns it and its events URL once it answers."""
    tokens = home / "tokens.yaml"
    tokens.write_text(yaml.safe_dump({"tokens": {INTAKE_TOKEN: ["*"]}}))
    port = free_port()
    with log.open("w") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "sdp.cli",
                "intake",
                "--tokens",
                str(tokens),
                "--port",
                str(port),
            ],
            cwd=REPO,
            env={**os.environ, **platform_env(home / "sdp", bootstrap)},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the intake exited: {log.read_text()[-2000:]}")
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return process, f"{url}/v1/events"
        except httpx.HTTPError:
            time.sleep(0.3)
    stop(process)
    raise TimeoutError("the intake did not answer within 120 s")


def stop(process: subprocess.Popen, timeout: float = 20, how: int = signal.SIGTERM) -> None:
    """Stop a process started with start_new_session=True and whatever else is left in its
    process group (children that outlived it get SIGKILL)."""
    signal_group(process.pid, how)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        pass
    signal_group(process.pid, signal.SIGKILL)
    process.wait()


def signal_group(group: int, how: int) -> None:
    try:
        os.killpg(group, how)
    except ProcessLookupError:
        pass  # nothing left in the group


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100); enough for a benchmark report."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def print_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """A Markdown table, ready to paste into bench/RESULTS.md."""
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for row in rows:
        print("| " + " | ".join(str(cell) for cell in row) + " |")
