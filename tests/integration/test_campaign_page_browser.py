"""The campaign page opened in headless Chromium: both charts draw, the tables hold the run.

Needs Debian's ``chromium`` (``tests/ensure-chromium.sh`` installs it), driven through
Playwright's Python package without any browser download of Playwright's own. It needs no
PostgreSQL or Kafka: the page is drawn from a hand-built campaign directory.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

import pytest

from campaign.page import write_campaign_page
from tests.unit.campaign_builders import (
    CLIENT_OPERATIONS,
    LOST_ID,
    PHANTOM_ID,
    SCHEDULE,
    write_small_campaign,
)

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Milliseconds: plotly draws in well under a second; the rest is a slow CI machine's margin.
DRAW_TIMEOUT_MS = 15_000


def _unavailable(reason: str, remedy: str = "tests/ensure-chromium.sh installs it") -> NoReturn:
    # CI must run this test: there a missing browser is a broken machine, not a choice.
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}: {remedy}")
    pytest.skip(f"{reason}; {remedy}")


# Debian's package, then the names other systems (a GitHub runner) give a Chromium build.
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")


def _chromium_path() -> str:
    for name in CHROMIUM_NAMES:
        path = shutil.which(name)
        if path is not None:
            return path
    _unavailable("no chromium on PATH")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's Chromium, headless, closed after the module's tests pass or fail."""
    executable = _chromium_path()
    try:
        from playwright.sync_api import sync_playwright  # noqa: PLC0415
    except ImportError:
        _unavailable(
            "the playwright package is not installed", "pip install -r requirements-dev.txt"
        )
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=executable, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser: Any, tmp_path: Path) -> Iterator[tuple[Any, list[str]]]:
    """The campaign page of a small run, loaded; with the console and page errors seen."""
    html = write_campaign_page(write_small_campaign(tmp_path / "run"))
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    errors: list[str] = []
    try:
        tab = context.new_page()
        tab.on(
            "console",
            lambda message: (
                errors.append(f"console: {message.text}") if message.type == "error" else None
            ),
        )
        tab.on("pageerror", lambda error: errors.append(f"page error: {error}"))
        # Any request but the file itself would mean the page is not self-contained.
        tab.on(
            "request",
            lambda request: (
                errors.append(f"request: {request.url}")
                if not request.url.startswith("file://")
                else None
            ),
        )
        tab.goto(html.as_uri(), wait_until="load")
        tab.wait_for_selector("#throughput .main-svg", timeout=DRAW_TIMEOUT_MS)
        yield tab, errors
    finally:
        context.close()


def _count(tab: Any, selector: str) -> int:
    return tab.locator(selector).count()


def test_timeline_draws_every_operation_under_the_fault_bands(page):
    tab, errors = page
    assert _count(tab, "#timeline .main-svg") >= 1
    assert _count(tab, "#timeline .scatterlayer .point") == CLIENT_OPERATIONS
    assert _count(tab, "#timeline .shapelayer path") == len(SCHEDULE)
    assert errors == []


def test_throughput_draws_its_bars(page):
    tab, errors = page
    assert _count(tab, "#throughput .main-svg") >= 1
    assert _count(tab, "#throughput .barlayer .point") > 0
    assert _count(tab, "#throughput .shapelayer path") == len(SCHEDULE)
    assert errors == []


def test_anomaly_table_shows_the_lost_and_the_phantom_order(page):
    tab, errors = page
    rows = tab.locator("#anomalies tbody tr")
    assert rows.count() == 2
    cells = sorted(rows.nth(n).locator("td").nth(2).inner_text() for n in range(rows.count()))
    assert cells == sorted([LOST_ID, PHANTOM_ID])
    assert _count(tab, "#schedule tbody tr") == len(SCHEDULE)
    assert errors == []
