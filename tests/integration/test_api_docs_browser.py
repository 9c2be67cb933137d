"""The API docs in a real browser without internet: `swen api` as a process on loopback, Debian's
Chromium driven by Playwright (no browser download), and every request to anything but 127.0.0.1
aborted. Swagger UI (/docs) lists every operation of the schema and never tries to reach another
host; ReDoc (/redoc) draws its menu, and its one outside request is the "API docs by Redocly" logo
that its bundle hard-codes (the image hides itself when it cannot load). On CI (CI=true) a missing
Chromium is a failure, locally a skip.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import httpx
import pytest

from swen.config import Settings
from swen.demo.browser import chromium_page
from swen.demo.harness import RunningPlatform, chromium_missing_reason, running_api

if TYPE_CHECKING:
    from playwright.sync_api import Route

pytestmark = pytest.mark.slow

REDOC_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"
"""Hard-coded in redoc.standalone.js's menu footer; cosmetic, and hidden when it fails to load."""


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningPlatform]:
    reason = chromium_missing_reason()
    if reason is not None:
        if os.environ.get("CI"):
            pytest.fail(f"CI requires the browser test: {reason}")
        pytest.skip(reason)
    home = Path(tmp_path_factory.mktemp("docs-browser")) / "home"
    home.mkdir()
    with pytest.MonkeyPatch.context() as mp:
        for key in [k for k in os.environ if k.startswith("SWEN_") and k != "SWEN_TEST_PG_URL"]:
            mp.delenv(key)
        with running_api(Settings(home=home)) as running:
            yield running


@dataclass
class LoopbackOnly:
    """A Playwright route handler: requests to 127.0.0.1 go through, every other one is aborted."""

    allowed: list[str] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)

    def __call__(self, route: Route) -> None:
        url = route.request.url
        if urlsplit(url).hostname == "127.0.0.1":
            self.allowed.append(url)
            route.continue_()
        else:
            self.blocked.append(url)
            route.abort()


def _operations(api: RunningPlatform) -> set[tuple[str, str]]:
    schema = httpx.get(api.api_url + "/openapi.json", timeout=10).json()
    return {(method.upper(), path) for path, item in schema["paths"].items() for method in item}


def test_swagger_ui_lists_every_operation_offline(api: RunningPlatform) -> None:
    expected = _operations(api)
    network = LoopbackOnly()
    with chromium_page() as page:
        page.route("**/*", network)
        page.goto(api.api_url + "/docs", wait_until="domcontentloaded")
        page.locator(".swagger-ui .opblock").nth(len(expected) - 1).wait_for(timeout=30_000)
        title = page.locator(".swagger-ui .info .title").inner_text()
        shown = {
            (block.locator(".opblock-summary-method").inner_text().strip(),
             block.locator(".opblock-summary-path").get_attribute("data-path"))
            for block in page.locator(".swagger-ui .opblock").all()
        }  # fmt: skip
    assert "SWEN API" in title
    assert shown == expected
    assert network.blocked == [], "the page tried to reach another host"
    assert any(url.endswith("swagger-ui-bundle.js") for url in network.allowed), network.allowed


def test_redoc_draws_its_menu_offline(api: RunningPlatform) -> None:
    network = LoopbackOnly()
    with chromium_page() as page:
        page.route("**/*", network)
        page.goto(api.api_url + "/redoc", wait_until="domcontentloaded")
        page.locator(".menu-content").get_by_text("telemetry", exact=False).first.wait_for(timeout=30_000)
        heading = page.locator("h1").first.inner_text()
    assert "SWEN API" in heading
    assert set(network.blocked) <= {REDOC_LOGO}, "the page tried to reach another host"
    assert any(url.endswith("redoc.standalone.js") for url in network.allowed), network.allowed
