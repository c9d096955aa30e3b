"""A backfill of two hourly partitions, launched from the Dagster UI, is run by the daemon."""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Locator, Page, expect

from tests.conftest import SAMPLE
from tests.ui.conftest import REPO, daemon, dagster_env, free_port, tail, webserver

pytestmark = [pytest.mark.browser, pytest.mark.slow]

TIMEOUT_MS = 30_000  # generous: the machine running this has 2 shared cores
# The daemon loads the code location, then the run starts a process that loads it again and a
# subprocess per step (multiprocess executor): minutes on a loaded machine.
BACKFILL_TIMEOUT_S = 420
ASSET = "mediawiki/recentchange_sanitized"
PARTITIONS = ["2026-09-17-03:00", "2026-09-17-04:00"]  # the sample's hour, and an empty one
TERMINAL = {"COMPLETED", "COMPLETED_SUCCESS", "COMPLETED_FAILED", "FAILED", "CANCELED"}

SENSORS_QUERY = """
{
  sensorsOrError(repositorySelector: {repositoryLocationName: "sdp",
                                      repositoryName: "__repository__"}) {
    ... on Sensors { results { name sensorState { id status } } }
    ... on PythonError { message }
  }
}
"""
STOP_SENSOR = """
mutation($id: String!) {
  stopSensor(id: $id) {
    __typename
    ... on StopSensorMutationResult { instigationState { status } }
    ... on PythonError { message }
  }
}
"""
BACKFILLS_QUERY = """
{
  partitionBackfillsOrError {
    ... on PartitionBackfills {
      results {
        id
        status
        partitionNames
        assetBackfillData {
          assetBackfillStatuses {
            ... on AssetPartitionsStatusCounts {
              assetKey { path }
              numPartitionsTargeted
              numPartitionsInProgress
              numPartitionsMaterialized
              numPartitionsFailed
            }
          }
        }
        runs(limit: 10) { runId status }
      }
    }
    ... on PythonError { message }
  }
}
"""


@dataclass
class Stack:
    url: str
    root: Path
    daemon: subprocess.Popen | None = None

    def graphql(self, query: str, **variables) -> dict:
        response = httpx.post(
            f"{self.url}/graphql", json={"query": query, "variables": variables}, timeout=30
        )
        response.raise_for_status()
        body = response.json()
        assert "errors" not in body, body["errors"]
        return body["data"]

    def backfills(self) -> list[dict]:
        return self.graphql(BACKFILLS_QUERY)["partitionBackfillsOrError"]["results"]


def land_sample(env: dict[str, str]) -> None:
    """Land the real sample events into mediawiki/recentchange (all in hour 2026-09-17-03:00),
    in this process, recording the landing run in the servers' instance: the UI then shows the
    upstream partition as materialized."""
    import dagster as dg

    from sdp.catalog import DatasetIndex
    from sdp.runs import land

    with pytest.MonkeyPatch.context() as monkeypatch:
        for variable in ("SDP_HOME", "SDP_USER_HASH_KEY", "SDP_ENV"):
            monkeypatch.setenv(variable, env[variable])
        from sdp_assets import definitions

        defs = definitions.defs()
        index = DatasetIndex(definitions.domains())
        defs.resources["lakehouse"].staging().stage("mediawiki", "recentchange", SAMPLE)
        with dg.DagsterInstance.from_config(env["DAGSTER_HOME"]) as instance:
            result, touched = land(defs, index.get("mediawiki.recentchange"), instance, topic=False)
        assert result.success
        assert [t.strftime("%Y-%m-%d-%H:%M") for t in touched] == PARTITIONS[:1]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Webserver and daemon on one instance, over a platform holding the landed sample."""
    root = tmp_path_factory.mktemp("backfill")
    # No broker runs here: the stream landing sensor would fail every tick on a closed port.
    env = dagster_env(root, SDP_KAFKA_BOOTSTRAP=f"127.0.0.1:{free_port()}")
    dagster_home = Path(env["DAGSTER_HOME"])
    dagster_home.mkdir()
    # The demo's instance config (telemetry off, concurrency pools), without the community
    # dialog, which would otherwise cover the page.
    instance_yaml = (REPO / "deploy" / "dagster.local.yaml").read_text()
    (dagster_home / "dagster.yaml").write_text(f"{instance_yaml}\nnux:\n  enabled: false\n")
    land_sample(env)

    with webserver(env, root / "webserver") as url:
        stack = Stack(url, root)
        # Stop the sensors before the daemon starts: the landing sensor cannot reach Kafka,
        # and this test is about backfills, not automation (which would leave these old hours
        # alone anyway). A stopped sensor is instance state, which the daemon reads.
        sensors = stack.graphql(SENSORS_QUERY)["sensorsOrError"]["results"]
        assert sensors, "the code location has no sensors"
        for sensor in sensors:
            result = stack.graphql(STOP_SENSOR, id=sensor["sensorState"]["id"])["stopSensor"]
            assert result.get("instigationState", {}).get("status") == "STOPPED", result
        with daemon(env, root / "daemon") as process:
            stack.daemon = process
            yield stack


def innermost(page: Page, *parts: Locator) -> Locator:
    """The innermost div that holds every one of `parts` (a row of Dagster's div tables)."""
    box = page.locator("div")
    for part in parts:
        box = box.filter(has=part)
    return box.last


def wait_for_backfill(stack: Stack, backfill_id: str) -> dict:
    """The backfill once it reached a terminal status (bounded)."""
    deadline = time.monotonic() + BACKFILL_TIMEOUT_S
    while True:
        (backfill,) = [b for b in stack.backfills() if b["id"] == backfill_id]
        if backfill["status"] in TERMINAL:
            return backfill
        if stack.daemon.poll() is not None:
            pytest.fail(f"dagster-daemon exited:\n{tail(stack.root / 'daemon.err')}")
        if time.monotonic() > deadline:
            pytest.fail(
                f"backfill {backfill_id} not done after {BACKFILL_TIMEOUT_S}s: {backfill}\n"
                f"daemon log:\n{tail(stack.root / 'daemon.err')}"
            )
        time.sleep(3)


def test_backfill_two_partitions(stack: Stack, page: Page, tmp_path: Path) -> None:
    page.goto(f"{stack.url}/assets/{ASSET}")
    # The button's accessible name starts with its icon's ("materialization Materialize…").
    page.get_by_role("button", name="Materialize…").click()

    # A partitioned asset opens the launch dialog with a partition selection. (Dagster asks "Are
    # you sure?" first when the upstream asset was never materialized: the landing above was.)
    dialog = page.get_by_role("dialog").filter(has_text="Partition selection")
    expect(dialog).to_be_visible(timeout=TIMEOUT_MS)
    # Wait for the partition bar to be drawn before typing, so it does not reset the selection.
    expect(dialog.get_by_text(re.compile(r"Showing \d+ of \d+ partitions"))).to_be_visible(
        timeout=TIMEOUT_MS
    )
    partitions = dialog.get_by_role("textbox")
    partitions.fill(f"[{PARTITIONS[0]}...{PARTITIONS[1]}]")
    partitions.press("Enter")
    expect(dialog.get_by_text("2 partitions", exact=True)).to_be_visible(timeout=TIMEOUT_MS)
    # Assets built with BackfillPolicy.single_run(): one run for the whole range.
    expect(dialog).to_contain_text("Backfills all partitions in a single run.", timeout=TIMEOUT_MS)
    launch = dialog.get_by_role("button", name="Launch backfill")
    expect(launch).to_be_enabled(timeout=TIMEOUT_MS)
    launch.click()

    # The toast names the backfill it created.
    toast = page.get_by_text(re.compile(r"Created backfill \w+"))
    expect(toast).to_be_visible(timeout=TIMEOUT_MS)
    backfill_id = re.search(r"Created backfill (\w+)", toast.inner_text()).group(1)
    expect(dialog).to_be_hidden(timeout=TIMEOUT_MS)

    backfill = wait_for_backfill(stack, backfill_id)
    assert backfill["status"] == "COMPLETED_SUCCESS", backfill
    assert backfill["partitionNames"] == PARTITIONS
    (counts,) = backfill["assetBackfillData"]["assetBackfillStatuses"]
    assert counts["assetKey"]["path"] == ASSET.split("/")
    assert counts["numPartitionsTargeted"] == 2
    assert counts["numPartitionsMaterialized"] == 2
    assert counts["numPartitionsFailed"] == 0
    assert backfill["runs"] and all(r["status"] == "SUCCESS" for r in backfill["runs"])

    # The backfills list (/overview/backfills redirects to the Runs page's Backfills view). Its
    # table is a grid of divs, not a <table>: a row is the innermost div holding all its cells.
    page.goto(f"{stack.url}/overview/backfills")
    expect(page.get_by_role("tab", name="Backfills", selected=True)).to_be_visible(
        timeout=TIMEOUT_MS
    )
    link = page.get_by_role("link", name=backfill_id)
    row = innermost(page, link, page.get_by_text("Success", exact=True))
    expect(row).to_be_visible(timeout=TIMEOUT_MS)
    expect(row.get_by_role("button", name="2 partitions", exact=True)).to_be_visible()
    expect(row).to_contain_text(ASSET.replace("/", " / "))

    # The backfill's own page: its status, and the asset's partitions: targeted, in progress,
    # succeeded, failed.
    link.click()
    expect(page).to_have_url(re.compile(rf"/runs/b/{backfill_id}"), timeout=TIMEOUT_MS)
    status = innermost(
        page, page.get_by_text("Status", exact=True), page.get_by_text("Succeeded", exact=True)
    )
    expect(status).to_be_visible(timeout=TIMEOUT_MS)
    expect(page.get_by_text(f"{PARTITIONS[0]}...{PARTITIONS[1]}", exact=True)).to_be_visible()
    asset_row = page.locator("div").filter(
        has=page.get_by_role("link", name=ASSET.replace("/", " / ")),
        has_text=re.compile(r"100% completed\s*2\s*0\s*2\s*0$"),
    )
    expect(asset_row.last).to_be_visible(timeout=TIMEOUT_MS)
    page.screenshot(path=tmp_path / "backfill.png")
