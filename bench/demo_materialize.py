"""Baseline: wall time of `make demo` (fresh clone, warm caches) and of materializing the demo.

    uv run python bench/demo_materialize.py [--skip-make-demo]

Figures are printed and meant for bench/RESULTS.md; nothing is asserted.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "sdp_assets" / "mediawiki" / "fixtures" / "recentchange_sample_500.jsonl"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def time_make_demo(timeout: float = 600) -> float:
    """Seconds from `make demo` in a fresh clone until the UI answers (data already built)."""
    with tempfile.TemporaryDirectory() as tmp:
        clone = Path(tmp) / "sdp"
        subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True)
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SDP_", "DAGSTER_"))}
        env.pop("VIRTUAL_ENV", None)
        started = time.perf_counter()
        process = subprocess.Popen(
            ["make", "demo", f"PORT={port}"],
            cwd=clone,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            while time.perf_counter() - started < timeout:
                if process.poll() is not None:
                    raise RuntimeError(f"make demo exited with {process.returncode}")
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=2):
                        return time.perf_counter() - started
                except OSError:
                    time.sleep(0.5)
            raise TimeoutError("the UI did not answer")
        finally:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)


def time_materialize() -> tuple[float, float]:
    """(seconds to load the definitions, seconds to materialize every demo partition)."""
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["SDP_HOME"] = str(Path(tmp) / "sdp")
        os.environ.setdefault("SDP_USER_HASH_KEY", "bench-key")
        started = time.perf_counter()
        import dagster as dg

        from sdp.catalog import DatasetIndex
        from sdp.runs import land, materialize_touched
        from sdp.spec import ref
        from sdp_assets import definitions

        defs = definitions.defs()
        index = DatasetIndex(definitions.domains())
        loaded = time.perf_counter() - started
        defs.resources["lakehouse"].staging().stage("mediawiki", "recentchange", SAMPLE)
        started = time.perf_counter()
        with dg.instance_for_test() as instance:
            entry = index.get("mediawiki.recentchange")
            landing, starts = land(defs, entry, instance, topic=False)
            results = materialize_touched(
                defs, index, ref("mediawiki.recentchange"), starts, instance
            )
        assert landing.success and all(r.success for r in results)
        return loaded, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--skip-make-demo", action="store_true")
    args = parser.parse_args()
    loaded, materialized = time_materialize()
    print(f"load definitions: {loaded:.1f} s")
    print(f"land and materialize the full demo (500 events, 5 datasets): {materialized:.1f} s")
    if not args.skip_make_demo:
        print(
            f"make demo, fresh clone, warm caches, until the UI answers: {time_make_demo():.1f} s"
        )
    sys.stdout.flush()


if __name__ == "__main__":
    main()
