"""Drive the running dashboard in Debian's Chromium with Playwright (no browser download).

``open_tab`` loads ``/?tab=<label>`` and waits until the tab is really drawn: its header, the
number of Plotly charts the tab shows (each with its SVG drawn), its key texts, and no script
still running. The first load after a Streamlit start can be an empty skeleton, so this waits for
content instead of sleeping.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import quote

from swen.demo.harness import CHROMIUM, CHROMIUM_ARGS

if TYPE_CHECKING:
    from playwright.sync_api import Page


@dataclass(frozen=True)
class TabCheck:
    charts: int
    texts: tuple[str, ...]
    dataframes: int = 0


TAB_CHECKS: dict[str, TabCheck] = {
    "Overview": TabCheck(
        2, ("Monthly spend", "Savings realised", "Savings projected", "Open MRs", "Incidents"), 1
    ),
    "AI Decisions": TabCheck(
        2,
        (
            "Waiting for review",
            "Why a person is needed",
            "Monthly cost",
            "Factor contributions",
            "Explanation.",
        ),
        2,
    ),
    "Incidents": TabCheck(0, ("Time to recovery", "Actions taken", "Timeline", "Alerts"), 3),
    "Cost Analysis": TabCheck(
        4, ("Spend per provider over time", "Monthly cost per service", "Credits burn-down")
    ),
    "Telemetry": TabCheck(4, ("Latency p95 (ms)", "Availability", "GPU availability")),
    "Live Feed": TabCheck(0, ("Event types",), 1),
}
DRAWN_JS = """([header, charts, frames, texts]) => {
  const h = [...document.querySelectorAll('h2')].some(e => e.textContent.trim().startsWith(header));
  if (!h) return false;
  if (document.querySelector('[data-testid="stSkeleton"]')) return false;
  const running = document.querySelector('[data-testid="stStatusWidget"]');
  if (running && running.textContent.includes('Running')) return false;
  const plots = [...document.querySelectorAll('.js-plotly-plot')];
  const drawn = plots.filter(p => p.querySelector('svg.main-svg')).length;
  if (drawn < charts) return false;
  if (document.querySelectorAll('[data-testid="stDataFrame"]').length < frames) return false;
  const body = document.body.innerText;
  return texts.every(t => body.includes(t));
}"""


def tab_url(base: str, tab: str, query: str = "") -> str:
    return f"{base}/?tab={quote(tab)}" + (f"&{query}" if query else "")


@contextmanager
def chromium_page(width: int = 1440, height: int = 1000) -> Iterator[Page]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            yield page
        finally:
            browser.close()


def wait_drawn(page: Page, tab: str, *, timeout_s: float = 30.0) -> None:
    """Wait until ``tab`` is drawn; on a timeout, say which of its key texts are missing."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    check = TAB_CHECKS[tab]
    try:
        page.wait_for_function(
            DRAWN_JS, arg=[tab, check.charts, check.dataframes, list(check.texts)], timeout=timeout_s * 1000
        )
    except PlaywrightTimeout:
        body = page.inner_text("body")
        missing = [t for t in check.texts if t not in body]
        frames = page.locator('[data-testid="stDataFrame"]').count()
        charts = page.locator(".js-plotly-plot").count()
        errors = page.locator('[data-testid="stAlertContentError"]').all_inner_texts()
        raise TimeoutError(
            f"tab {tab!r} not drawn in {timeout_s:g} s: missing texts {missing}, {charts}/{check.charts} "
            f"charts, {frames}/{check.dataframes} tables, errors {errors}; page: {body[:1500]!r}"
        ) from None


def open_tab(page: Page, base: str, tab: str, *, query: str = "", timeout_s: float = 30.0) -> float:
    """Load the tab (``query``: more URL parameters, e.g. ``cost-range=7+days``) and wait until it is
    drawn; returns seconds from navigation start to drawn."""
    started = time.perf_counter()
    page.goto(tab_url(base, tab, query), wait_until="domcontentloaded")
    wait_drawn(page, tab, timeout_s=timeout_s)
    return time.perf_counter() - started


def navigation_timing(page: Page) -> dict[str, float]:
    """The page's Navigation Timing entry (ms since navigation start)."""
    entry = page.evaluate(
        "() => { const n = performance.getEntriesByType('navigation')[0];"
        " return {ttfb: n.responseStart, dom: n.domContentLoadedEventEnd, load: n.loadEventEnd,"
        " now: performance.now()}; }"
    )
    return {k: float(v) for k, v in entry.items()}


def warm_up(page: Page, base: str, *, timeout_s: float = 60.0) -> None:
    """First load after a Streamlit start (can be an empty skeleton): wait for the Overview to draw."""
    open_tab(page, base, "Overview", timeout_s=timeout_s)
