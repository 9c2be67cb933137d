"""The running dashboard in a real browser: `swen api` + `swen dashboard` as processes (swen up style)
on a seeded temporary store, Debian's Chromium driven by Playwright (no browser download).

Every tab shows its key elements; clicking Approve on the MR waiting for review records the approval
(checked through the API), and the engine's next look applies it. The AI Decisions tab's action
queue shows each queued move with why it is held. On CI (CI=true) a missing Chromium is a failure,
locally a skip.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from support.alertmanager import PROVIDER_ONLY, alert, payload
from support.builders import decision
from support.http import bearer
from swen.demo.browser import TAB_CHECKS, chromium_page, open_tab, wait_drawn, warm_up
from swen.demo.harness import RunningPlatform, chromium_missing_reason, running_platform
from swen.demo.seed import SeededPlatform, demo_settings, seed_demo
from swen.domain.clock import utcnow
from swen.moves.driver import MoveDriver
from swen.moves.queue import action_for
from swen.store.actions import ActionQueue
from swen.store.repository import Store

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> SeededPlatform:
    reason = chromium_missing_reason()
    if reason is not None:
        if os.environ.get("CI"):
            pytest.fail(f"CI requires the browser test: {reason}")
        pytest.skip(reason)
    root = tmp_path_factory.mktemp("dash-browser")
    tf_config = root / "empty.tfrc"
    tf_config.write_text("")
    with pytest.MonkeyPatch.context() as mp:
        for key in [k for k in os.environ if k.startswith("SWEN_") and k != "SWEN_TEST_PG_URL"]:
            mp.delenv(key)
        mp.setenv("TF_CLI_CONFIG_FILE", str(tf_config))
        home = Path(root) / "home"
        return seed_demo(home, settings=demo_settings(home, dashboard_refresh_s=2.0))


@pytest.fixture(scope="module")
def platform(seeded: SeededPlatform) -> Iterator[RunningPlatform]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TF_CLI_CONFIG_FILE", str(seeded.settings.home.parent / "empty.tfrc"))
        with running_platform(seeded.settings, seeded.operator_key) as running:
            yield running


def _api(platform: RunningPlatform, seeded: SeededPlatform, path: str) -> dict[str, object]:
    headers = {"Authorization": f"Bearer {seeded.viewer_key}"}
    body: dict[str, object] = httpx.get(platform.api_url + path, headers=headers, timeout=10).json()
    return body


def test_each_tab_draws_its_key_elements_and_approve_moves_the_mr_on(
    platform: RunningPlatform, seeded: SeededPlatform
) -> None:
    mr_id = seeded.waiting_mr_id
    assert mr_id is not None, "the seed should leave a merge request waiting for review"
    with chromium_page() as page:
        warm_up(page, platform.dashboard_url)  # the first load after a start can be a bare skeleton
        for tab, check in TAB_CHECKS.items():
            open_tab(page, platform.dashboard_url, tab)
            assert page.locator(".js-plotly-plot").count() >= check.charts, tab
            errors = page.locator('[data-testid="stAlertContentError"], [data-testid="stException"]')
            assert errors.count() == 0, (tab, errors.all_inner_texts())
            body = page.inner_text("body")
            assert "Traceback" not in body, tab
            if tab == "Overview":
                assert "SIMULATED" in body
            if tab == "AI Decisions":
                assert f"MR {mr_id}" in body and "Pipeline of MR" in body
                assert "Why a person is needed" in body and "(rollback)" in body

        open_tab(page, platform.dashboard_url, "AI Decisions")
        page.locator(f".st-key-approve-list-{mr_id} button").click()
        page.get_by_text(f"Approve MR {mr_id} (").first.wait_for(timeout=30_000)  # asks first
        page.locator(f".st-key-confirm-approve-list-{mr_id} button").click()
        # the flash after the API answered (not "MR N ... approved by -", drawn before the click)
        page.get_by_text(re.compile(rf"MR {mr_id} \(.*\) approved; it is now")).first.wait_for(timeout=60_000)
        wait_drawn(page, "AI Decisions", timeout_s=60)

    mr = _api(platform, seeded, f"/mrs/{mr_id}")
    assert mr["approved_by"] and mr["state"] == "opened", mr  # recorded; the API applies nothing
    decision = _api(platform, seeded, f"/decisions/{mr['decision_id']}")
    assert decision["status"] == "approved"

    with Store.open(seeded.settings) as store:  # the engine's next look applies it
        report = MoveDriver(seeded.settings, store).resume()
    assert report.outcomes.get(str(mr["decision_id"])) == "applied", (report, platform.log_tail())
    assert _api(platform, seeded, f"/mrs/{mr_id}")["state"] == "merged"
    assert _api(platform, seeded, f"/decisions/{mr['decision_id']}")["status"] == "applied"


LAST_ID_JS = (
    """() => { const m = document.body.innerText.match(/last id (\\d+)/); return m ? Number(m[1]) : -1; }"""
)


def test_the_open_tab_refreshes_itself(platform: RunningPlatform, seeded: SeededPlatform) -> None:
    """The Live Feed shows an event written after the page was drawn, without a reload."""
    with chromium_page() as page:
        open_tab(page, platform.dashboard_url, "Live Feed", timeout_s=60)
        before = int(page.evaluate(LAST_ID_JS))
        assert before > 0
        latency = payload(
            [alert("HighLatency", service="service-1", summary="from the browser test", **PROVIDER_ONLY)]
        )
        response = httpx.post(
            platform.api_url + "/alerts", json=latency, headers=bearer(seeded.operator_key), timeout=30
        )
        assert response.status_code == 202, response.text
        page.wait_for_function(f"() => ({LAST_ID_JS})() > {before}", timeout=20_000)


def test_the_action_queue_shows_why_each_move_is_held(
    platform: RunningPlatform, seeded: SeededPlatform
) -> None:
    """Three moves queued as the engine queues them (an emergency and two moves), then an operator
    pauses automation through the API: the page lists the emergency first (never held), then the
    moves by value, each with its service, target, value, state and why it waits."""
    now = utcnow()
    moves = [
        decision("held-small", service="ledger-api", net_monthly=75.0, target="alibaba/us-west-1",
                 created_at=now),
        decision("held-big", service="catalog-api", net_monthly=820.0, target="alibaba/eu-central-1",
                 created_at=now),
        decision("fire", service="checkout-api", net_monthly=-4.0, emergency=True, target="aws/us-west-2",
                 created_at=now),
    ]  # fmt: skip
    with Store.open(seeded.settings) as store:
        for d in moves:
            store.save_decision(d)
        ActionQueue(store).enqueue([action_for(d) for d in moves])
    operator = bearer(seeded.operator_key)
    paused = httpx.post(platform.api_url + "/automation/pause", json={"reason": "browser test"},
                        headers=operator, timeout=30)  # fmt: skip
    assert paused.status_code == 200, paused.text
    try:
        with chromium_page() as page:
            open_tab(page, platform.dashboard_url, "AI Decisions", timeout_s=60)
            table = page.locator('[data-testid="stTable"]').filter(has_text="checkout-api").first
            try:
                table.wait_for(timeout=30_000)
            except PlaywrightTimeout:
                raise AssertionError(f"no queue table; page: {page.inner_text('body')[:3000]!r}") from None
            text = table.inner_text()
            rows = [" | ".join(tr.locator("td, th").all_inner_texts()) for tr in table.locator("tr").all()]
            assert "Action queue (" in page.inner_text("body")
    finally:
        httpx.post(platform.api_url + "/automation/resume", headers=operator, timeout=30)
    held = "waiting: automation is paused (`swen automation resume`)"
    assert text.count(held) == 2, text
    rows = [row for row in rows if "-api" in row]
    services = [next(s for s in ("checkout", "catalog", "ledger") if s in row) for row in rows]
    assert services == ["checkout", "catalog", "ledger"], text  # the emergency, then the most valuable
    assert "(emergency)" in rows[0] and "aws/us-west-2" in rows[0] and "goes when a worker is free" in rows[0]
    assert "held" in rows[1] and "+$820" in rows[1] and "alibaba/eu-central-1" in rows[1], rows
    assert "+$75" in rows[2] and "alibaba/us-west-1" in rows[2], rows
