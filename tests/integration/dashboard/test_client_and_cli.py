"""The API client's error sentences, the live feed reader, the tab helpers and `swen dashboard`."""

from __future__ import annotations

import stat
from datetime import UTC, datetime, timedelta

import pytest
from dashboard_env import LiveApi

from swen.cli.dashboard_cmds import KEY_FILE, app_path, dashboard_command, local_dashboard_key
from swen.config import Settings
from swen.dashboard.client import ApiAuthError, ApiClient, ApiNotFoundError, ApiUnreachableError
from swen.dashboard.live import FeedEvent, LiveFeed
from swen.dashboard.tabs.cost import cumulative, open_recommendations
from swen.dashboard.tabs.feed import filter_events
from swen.dashboard.tabs.overview import provider_health
from swen.demo.harness import free_port
from swen.store.keys import ApiKeyRepository
from swen.store.repository import Store


def test_unreachable_api_is_one_sentence_with_a_remedy() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(ApiUnreachableError) as caught:
        ApiClient(url, "swen_x").services()
    assert caught.value.message == f"The API at {url} is not reachable"
    assert "swen api" in (caught.value.hint or "")


def test_no_key_is_refused_before_any_request() -> None:
    with pytest.raises(ApiAuthError, match="has no API key"):
        ApiClient(f"http://127.0.0.1:{free_port()}", None).services()


def test_client_reads_the_real_api_and_translates_its_errors(live_api: LiveApi) -> None:
    viewer = ApiClient(live_api.url, live_api.platform.viewer_key)
    operator = ApiClient(live_api.url, live_api.platform.operator_key)
    names = {s.name for s in viewer.services()}
    assert "service-2" in names
    latest = viewer.telemetry_latest()
    assert {p.service for p in latest} == names
    now = datetime.now(UTC)
    history = viewer.telemetry_history(start=now - timedelta(days=30), end=now, step_s=60)
    assert len(history) > 1000  # more than one page of 1000: the client followed next_offset
    assert len({(p.service, p.provider, p.region, p.ts) for p in history}) == len(history)
    assert viewer.decisions(limit=1).total >= 2
    assert not viewer.can_operate() and operator.can_operate()
    with pytest.raises(ApiAuthError, match="may not do this"):
        viewer.approve(live_api.platform.waiting_mr_id or 1)
    with pytest.raises(ApiNotFoundError):
        viewer.decision("no-such-decision")
    with pytest.raises(ApiAuthError, match="refused the dashboard's key"):
        ApiClient(live_api.url, "swen_unknown").services()


def test_live_feed_reads_the_websocket_and_resumes_after_its_cursor(live_api: LiveApi) -> None:
    client = ApiClient(live_api.url, live_api.platform.viewer_key)
    feed = LiveFeed(client.ws_url, live_api.platform.viewer_key, start_after=0)
    assert feed.poll(max_wait_s=2.0) > 0
    ids = [e.id for e in feed.events]
    assert ids == sorted(ids) and feed.cursor == ids[-1]
    assert feed.poll(max_wait_s=0.3) == 0  # nothing new: nothing twice
    live_api.store.append_event(  # type: ignore[arg-type]
        "scenario", {"kind": "outage", "note": "from the test"}, service="service-1"
    )
    assert feed.poll(max_wait_s=2.0) == 1
    assert feed.newest_first()[0].payload.get("note") == "from the test"
    assert len({e.id for e in feed.events}) == len(feed.events)


def test_live_feed_with_a_bad_key_says_so(live_api: LiveApi) -> None:
    feed = LiveFeed(ApiClient(live_api.url, "x").ws_url, "swen_unknown")
    with pytest.raises(ApiAuthError, match="refused"):
        feed.poll()


def test_feed_events_parse_and_filter() -> None:
    raw = (
        '{"id": 5, "ts": "2026-11-26T10:00:00+00:00", "type": "mr", "service": "a", '
        '"payload": {"action": "opened"}}'
    )
    event = FeedEvent.parse(raw)
    assert event is not None and event.summary == "MR opened"
    assert FeedEvent.parse("not json") is None
    other = FeedEvent(6, datetime(2026, 11, 26, tzinfo=UTC), "pipeline", "b", None, {"stage": "plan"})
    assert filter_events([event, other], ["mr"], None, "") == [event]
    assert filter_events([event, other], [], "b", "") == [other]
    assert filter_events([event, other], [], None, "PLAN") == [other]


def test_tab_helpers_on_real_data(live_api: LiveApi) -> None:
    client = ApiClient(live_api.url, live_api.platform.viewer_key)
    services, latest = client.services(), client.telemetry_latest()
    health = {h["provider"]: h for h in provider_health(services, latest)}
    placed = [s.running.placement for s in services]
    assert sum(h["services"] for h in health.values()) == len(services)
    assert {p.provider for p in placed} == set(health)
    assert all(0.0 <= (h["availability"] or 0.0) <= 1.0 for h in health.values())
    if "alibaba" in health:
        assert health["alibaba"]["prices"] == "SIMULATED"

    decisions = client.decisions(limit=200).items
    projected = open_recommendations(decisions)
    assert {label.split(" ->")[0] for label, _, _ in projected} <= {d.service for d in decisions}
    assert cumulative([]) == []
    ordered = sorted(decisions, key=lambda d: d.updated_at)
    steps = cumulative(ordered)
    assert steps[0][1] == 0.0 and len(steps) == len(ordered) + 1
    assert steps[-1][1] == pytest.approx(sum(d.savings.net_monthly_usd for d in decisions))


def test_dashboard_command_runs_streamlit_headless_on_loopback(tmp_path: pytest.TempPathFactory) -> None:
    settings = Settings(home=tmp_path, api_port=8123, dashboard_port=8600)  # type: ignore[arg-type]
    argv, env = dashboard_command(settings, "swen_k")
    assert argv[1:5] == ["-m", "streamlit", "run", str(app_path())]
    assert app_path().is_file()
    flags = dict(zip(argv[5::2], argv[6::2], strict=True))
    assert flags["--server.address"] == "127.0.0.1" and flags["--server.port"] == "8600"
    assert flags["--server.headless"] == "true" and flags["--browser.gatherUsageStats"] == "false"
    assert env["SWEN_API_URL"] == "http://127.0.0.1:8123" and env["SWEN_API_KEY"] == "swen_k"
    argv, _ = dashboard_command(settings, None, host="127.0.0.2", port=9000)
    flags = dict(zip(argv[5::2], argv[6::2], strict=True))
    assert (flags["--server.address"], flags["--server.port"]) == ("127.0.0.2", "9000")


def test_local_dashboard_key_is_created_once_and_reused(settings: Settings) -> None:
    first = local_dashboard_key(settings)
    path = settings.home / KEY_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert local_dashboard_key(settings) == first
    with Store.open(settings) as store:
        repo = ApiKeyRepository(store)
        record = repo.authenticate(first)
        assert record is not None and record.role.value == "operator"
        repo.revoke(record.id)
    replaced = local_dashboard_key(settings)
    assert replaced != first and path.read_text().strip() == replaced
