"""``python -m swen.demo.screenshots docs/img``: a PNG of each dashboard tab (``make screenshots``).

Seeds a temporary platform with the real simulator, engine, committer and pipeline
(``swen.demo.seed``), starts ``swen api`` and ``swen dashboard`` on free loopback ports,
captures each tab with Playwright driving /usr/bin/chromium, writes ``<dir>/<tab>.png``, then pauses
automation and captures the Overview again with its banner (``<dir>/paused.png``), and stops
everything it started.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from swen.demo.browser import TAB_CHECKS, chromium_page, open_tab, warm_up
from swen.demo.harness import chromium_missing_reason, running_platform
from swen.demo.seed import seed_demo
from swen.moves import automation
from swen.store.repository import Store

if TYPE_CHECKING:
    from playwright.sync_api import Page


WIDTH, HEIGHT, MAX_HEIGHT = 1440, 1000, 6000
PAUSED_FILE = "paused.png"
QUERIES = {"Telemetry": "tel-service=search-api&tel-range=1+hour"}
"""URL parameters per tab: the service whose outage the seed heals (its incident and move marked)."""
TALLEST_JS = """() => Math.max(document.body.scrollHeight,
  ...[...document.querySelectorAll('[data-testid="stMain"], [data-testid="stAppViewContainer"], section')]
     .map(e => e.scrollHeight))"""


def _fit_height(page: Page) -> None:
    """Streamlit scrolls inside its main container, so grow the viewport to the content's height."""
    tallest = int(page.evaluate(TALLEST_JS))
    page.set_viewport_size({"width": WIDTH, "height": min(MAX_HEIGHT, max(HEIGHT, tallest + 40))})
    page.wait_for_timeout(300)  # let Plotly re-layout to the new width/height


def file_name(tab: str) -> str:
    return tab.lower().replace(" ", "-") + ".png"


def capture(out_dir: Path) -> list[Path]:
    reason = chromium_missing_reason()
    if reason is not None:
        raise SystemExit(f"cannot take screenshots: {reason}")
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    with tempfile.TemporaryDirectory(prefix="swen-screens-") as tmp:
        tf_config = Path(tmp) / "empty.tfrc"
        tf_config.write_text("")
        os.environ["TF_CLI_CONFIG_FILE"] = str(tf_config)
        seeded = seed_demo(Path(tmp) / "home")
        with (
            running_platform(seeded.settings, seeded.operator_key) as platform,
            chromium_page(WIDTH, HEIGHT) as page,
        ):
            warm_up(page, platform.dashboard_url)
            for tab in TAB_CHECKS:
                open_tab(page, platform.dashboard_url, tab, query=QUERIES.get(tab, ""))
                written.append(_shoot(page, out_dir / file_name(tab)))
            with Store.open(seeded.settings, migrate=False) as store:
                automation.set_paused(store, True, by="ops", reason="change freeze over the weekend")
            page.wait_for_timeout(4000)  # the dashboard's cached answers expire (3 s)
            open_tab(page, platform.dashboard_url, "Overview")
            page.get_by_text("Automation is paused").first.wait_for(timeout=30_000)
            written.append(_shoot(page, out_dir / PAUSED_FILE))
    return written


def _shoot(page: Page, path: Path) -> Path:
    _fit_height(page)
    page.screenshot(path=str(path), full_page=True)
    page.set_viewport_size({"width": WIDTH, "height": HEIGHT})
    return path


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    out_dir = Path(args[0] if args else "docs/img")
    for path in capture(out_dir):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
