"""Browser-test fixtures: a real dagster-webserver on the repo's workspace, headless Chromium."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
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


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _tail(path: Path, lines: int = 40) -> str:
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
    # Reap a code server left behind by a hard kill: it is in the session started below.
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


@pytest.fixture(scope="module")
def dagster_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URL of a dagster-webserver serving workspace.yaml, with the location loaded."""
    root = tmp_path_factory.mktemp("webserver")
    dagster_home = root / "dagster_home"
    dagster_home.mkdir()
    # Fresh instance per run: no run history, and the community dialog shows (see the test).
    (dagster_home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    venv_bin = Path(sys.executable).parent
    env = {
        **os.environ,
        "DAGSTER_HOME": str(dagster_home),
        "SDP_HOME": str(root / "sdp"),
        "SDP_USER_HASH_KEY": "test-key",
        "SDP_ENV": "local",
        # DbtCliResource looks `dbt` up on PATH at load time; `uv run` adds the venv's bin, but
        # the test must not depend on how pytest was launched.
        "PATH": f"{venv_bin}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    stdout, stderr = root / "webserver.out", root / "webserver.err"
    with stdout.open("wb") as out, stderr.open("wb") as err:
        process = subprocess.Popen(
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
            cwd=REPO,
            env=env,
            stdout=out,  # files, not pipes: nobody reads them while the server runs
            stderr=err,
            start_new_session=True,  # own process group, so teardown can reap the code server
        )
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        with httpx.Client(timeout=5) as client:
            while True:
                if process.poll() is not None:
                    pytest.fail(
                        f"dagster-webserver exited with {process.returncode}:\n{_tail(stderr)}"
                    )
                status, error = _location_state(client, url)
                if error:
                    pytest.fail(f"code location {LOCATION!r} failed to load:\n{error}")
                if status == "LOADED":
                    break
                if time.monotonic() > deadline:
                    pytest.fail(
                        f"dagster-webserver not ready after {STARTUP_TIMEOUT_S}s "
                        f"(location status {status}):\n{_tail(stderr)}"
                    )
                time.sleep(0.5)
        yield url
    finally:
        _stop(process)


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
