"""Browser-test fixtures: a real dagster-webserver on the repo's workspace, headless Chromium."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

REPO = Path(__file__).resolve().parents[2]
LOCATION = "sdp"  # location_name in workspace.yaml
STARTUP_TIMEOUT_S = 120  # first load also parses the dbt manifest; 2 shared cores are slow
CHROMIUM = Path("/usr/bin/chromium")  # Debian's build: `playwright install` cannot download here
CHROMIUM_ARGS = [
    "--no-sandbox",  # runs as root in a container
    "--disable-gpu",
    # No traffic to Google's services: nothing is reachable here, and retries only cost time.
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
]

LOCATION_QUERY = """
{
  workspaceOrError {
    __typename
    ... on Workspace {
      locationEntries {
        name
        loadStatus
        locationOrLoadError {
          __typename
          ... on PythonError { message errorChain { error { message } } }
        }
      }
    }
  }
}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tail(path: Path, lines: int = 40) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def _location_state(client: httpx.Client, url: str) -> tuple[str | None, str | None]:
    """(loadStatus, load error message) of our location; (None, None) while not answering."""
    try:
        response = client.post(f"{url}/graphql", json={"query": LOCATION_QUERY})
        response.raise_for_status()
        workspace = response.json()["data"]["workspaceOrError"]
    except (httpx.HTTPError, ValueError, KeyError, TypeError):
        return None, None
    for entry in workspace.get("locationEntries", []):
        if entry["name"] == LOCATION:
            location = entry["locationOrLoadError"] or {}
            # A location that failed to import is also LOADED: the error is in locationOrLoadError,
            # with the user's exception (e.g. dbt not found) as a cause in its chain.
            if location.get("__typename") == "PythonError":
                chain = [location["message"]]
                chain += [link["error"]["message"] for link in location.get("errorChain") or []]
                return entry["loadStatus"], "\n".join(chain)
            return entry["loadStatus"], None
    return None, None


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()  # the webserver shuts its code-server child down on SIGTERM
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
    # Reap a code server (or a run) left behind: they are in the process group started by _start.
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def dagster_env(root: Path, **extra: str) -> dict[str, str]:
    """Environment for Dagster processes on a fresh instance and platform under `root`."""
    venv_bin = Path(sys.executable).parent
    return {
        **os.environ,
        "DAGSTER_HOME": str(root / "dagster_home"),
        "SDP_HOME": str(root / "sdp"),
        "SDP_USER_HASH_KEY": "test-key",
        "SDP_ENV": "local",
        # DbtCliResource looks `dbt` up on PATH at load time; `uv run` adds the venv's bin, but
        # the test must not depend on how pytest was launched.
        "PATH": f"{venv_bin}{os.pathsep}{os.environ.get('PATH', '')}",
        **extra,
    }


def _start(command: list[str], env: dict[str, str], logs: Path) -> subprocess.Popen:
    with logs.with_suffix(".out").open("wb") as out, logs.with_suffix(".err").open("wb") as err:
        return subprocess.Popen(
            command,
            cwd=REPO,
            env=env,
            stdout=out,  # files, not pipes: nobody reads them while the server runs
            stderr=err,
            start_new_session=True,  # own process group, so teardown can reap its children
        )


@contextmanager
def webserver(env: dict[str, str], logs: Path) -> Iterator[str]:
    """A dagster-webserver serving workspace.yaml in `env`; yields its base URL once the code
    location is loaded, and stops it (and its code server) on exit. Logs go to logs.{out,err}."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    stderr = logs.with_suffix(".err")
    process = _start(
        [
            sys.executable,
            "-m",
            "dagster_webserver",
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
            "-w",
            str(REPO / "workspace.yaml"),
        ],
        env,
        logs,
    )
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        with httpx.Client(timeout=5) as client:
            while True:
                if process.poll() is not None:
                    pytest.fail(
                        f"dagster-webserver exited with {process.returncode}:\n{tail(stderr)}"
                    )
                status, error = _location_state(client, url)
                if error:
                    pytest.fail(f"code location {LOCATION!r} failed to load:\n{error}")
                if status == "LOADED":
                    break
                if time.monotonic() > deadline:
                    pytest.fail(
                        f"dagster-webserver not ready after {STARTUP_TIMEOUT_S}s "
                        f"(location status {status}):\n{tail(stderr)}"
                    )
                time.sleep(0.5)
        yield url
    finally:
        _stop(process)


@contextmanager
def daemon(env: dict[str, str], logs: Path) -> Iterator[subprocess.Popen]:
    """`dagster-daemon run` on workspace.yaml in `env` (sensors, backfills, the run queue);
    stopped on exit together with its code server and any run it launched."""
    command = [str(Path(sys.executable).parent / "dagster-daemon"), "run"]
    process = _start([*command, "-w", str(REPO / "workspace.yaml")], env, logs)
    try:
        yield process
    finally:
        _stop(process)


@pytest.fixture(scope="module")
def dagster_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URL of a dagster-webserver serving workspace.yaml, with the location loaded."""
    root = tmp_path_factory.mktemp("webserver")
    env = dagster_env(root)
    dagster_home = Path(env["DAGSTER_HOME"])
    dagster_home.mkdir()
    # Fresh instance per run: no run history, and the community dialog shows (see the test).
    (dagster_home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    with webserver(env, root / "webserver") as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} not installed")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    # Wide enough that the lineage graph's layout is not squeezed beside the asset sidebar.
    context = browser.new_context(viewport={"width": 1600, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(30_000)
    yield page
    context.close()
