"""The Dagster UI shows both domains' datasets, their cross-domain lineage, owners and schemas."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

pytestmark = [pytest.mark.browser, pytest.mark.slow]

TIMEOUT_MS = 30_000  # generous: the machine running this has 2 shared cores
DIALOG_WAIT_MS = 10_000  # the dialog's own delay is 1 s after the page's first queries answer


def skip_community_dialog(page: Page) -> None:
    """Click Skip on "Join the Dagster community" if it shows up.

    Dagster's UI opens it 1 s after each page load when served from localhost, until it is
    dismissed (localStorage `communityNux` in the browser, DAGSTER_HOME/.nux/nux.yaml on the
    server). A fresh DAGSTER_HOME means it normally comes: wait for it once, so it is gone before
    the screenshot, without failing when it does not come.
    """
    dialog = page.get_by_role("dialog").filter(has_text="Join the Dagster community")
    try:
        dialog.wait_for(state="visible", timeout=DIALOG_WAIT_MS)
    except PlaywrightTimeoutError:
        pass
    else:
        dialog.get_by_role("button", name="Skip").click()
        expect(dialog).to_be_hidden(timeout=TIMEOUT_MS)
    # Backup for a dialog that comes later (slow machine): dismissed before any action or
    # assertion it would get in the way of. Registered only now, or it would race the click above.
    page.add_locator_handler(dialog, lambda d: d.get_by_role("button", name="Skip").click())


def test_lineage_owners_and_schema(dagster_url: str, page: Page, tmp_path: Path) -> None:
    # Global lineage: with several groups, Dagster starts with each group collapsed to one node.
    page.goto(f"{dagster_url}/asset-groups")
    # Nodes are HTML in the graph's SVG <foreignObject>s; scoping there ignores the sidebar tree,
    # which lists the same group names.
    graph = page.locator("svg foreignObject")
    for group in ("mediawiki", "editors"):
        expect(graph.get_by_text(group, exact=True)).to_be_visible(timeout=TIMEOUT_MS)
    skip_community_dialog(page)

    # Expand the groups the way a user would: the graph's gear ("settings" icon) menu.
    page.get_by_role("button", name="settings", exact=True).click()
    page.get_by_role("menuitem", name=re.compile("Expand all groups")).click()
    page.keyboard.press("Escape")
    for asset in (
        "recentchange",
        "recentchange_sanitized",
        "edits_hourly",
        "edits_daily",
        "editor_daily_activity",
    ):
        expect(graph.get_by_text(asset, exact=True)).to_be_visible(timeout=TIMEOUT_MS)

    # Expanding keeps the zoom fitted to the collapsed graph, which cuts the editors group off;
    # the expanded state is in the URL, so a reload lays the whole graph out to fit the view.
    assert "expanded=" in page.url
    page.reload()
    expect(graph.get_by_text("editor_daily_activity", exact=True)).to_be_visible(timeout=TIMEOUT_MS)
    # Let the nodes' partition counts load, so the picture is the finished graph.
    expect(graph.get_by_text(re.compile(r"^Loading"))).to_have_count(0, timeout=TIMEOUT_MS)
    expect(page.get_by_role("dialog")).to_have_count(0)
    page.screenshot(path=tmp_path / "lineage.png")

    # Owners: a team owner is rendered as a people icon plus the name, without "team:". Owner
    # names also sit in hidden copies that Dagster measures for truncation: match visible ones.
    def owner(name: str):
        return page.get_by_text(name, exact=True).filter(visible=True)

    page.goto(f"{dagster_url}/assets/editors/editor_daily_activity")
    expect(owner("editor-growth@example.org")).to_be_visible(timeout=TIMEOUT_MS)
    expect(owner("editor-growth")).to_be_visible()

    page.goto(f"{dagster_url}/assets/mediawiki/recentchange")
    expect(owner("mediawiki-platform")).to_be_visible(timeout=TIMEOUT_MS)
    # Column schema: a row of the Columns table for `user` (below the fold; visible still holds).
    user_row = page.get_by_role("row").filter(has=page.get_by_text("user", exact=True))
    expect(user_row).to_be_visible(timeout=TIMEOUT_MS)
    expect(user_row).to_contain_text("string")
