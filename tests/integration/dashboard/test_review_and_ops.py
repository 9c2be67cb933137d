"""Issue 14's dashboard points, each on the real app (AppTest) against a real API on a seeded store:
the review queue holds every MR waiting for a person (a rollback too), the review card shows the
gate's reasons, cost table, plan and diff, the pause state is on every tab with pause/resume for
operators, the Incidents tab has the report, the charts carry distinct colours and marks, the cost
charts make sense from the first minute, money and tables read well and the feed speaks sentences."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from dashboard_env import TABS, LiveApi, make_app, serve
from streamlit.testing.v1 import AppTest

from swen.dashboard.tabs.common import md
from swen.dashboard.tabs.review import reason_text
from swen.demo.seed import SeededPlatform, demo_fleet, demo_settings
from swen.domain.clock import utcnow
from swen.domain.keys import Role
from swen.moves import automation
from swen.store.keys import ApiKeyRepository
from swen.store.repository import Store


def _get(api: LiveApi, path: str, **params: Any) -> Any:
    headers = {"Authorization": f"Bearer {api.platform.viewer_key}"}
    return httpx.get(api.url + path, params=params, headers=headers, timeout=10).json()


def _run(at: AppTest) -> AppTest:
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    return at


def _charts(at: AppTest) -> dict[str, dict[str, Any]]:
    specs = [json.loads(el.proto.spec) for el in at.get("plotly_chart")]
    return {c["layout"]["title"]["text"]: c for c in specs}


def _texts(at: AppTest) -> str:
    parts = [m.value for m in at.markdown] + [c.value for c in at.caption] + [w.value for w in at.warning]
    return "\n".join(str(p) for p in parts)


def _frames(at: AppTest) -> list[Any]:
    return [f.value for f in at.dataframe]


def test_every_mr_waiting_for_a_person_is_in_the_queue_with_its_review(
    live_api: LiveApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    waiting = [m for m in _get(live_api, "/mrs", state="opened")["items"] if m["waiting_for_person"]]
    assert {m["kind"] for m in waiting} >= {"migration", "rollback"}  # the seed leaves both

    at = _run(make_app(live_api.url, live_api.platform.operator_key, monkeypatch, tab="AI Decisions"))

    assert at.subheader[0].value == f"Waiting for review ({len(waiting)})"
    text = _texts(at)
    for mr in waiting:
        review = _get(live_api, f"/mrs/{mr['id']}/review")
        assert f"MR {mr['id']}" in text
        assert review["gate_reasons"]
        for reason in review["gate_reasons"]:
            assert md(reason_text(reason)) in text  # the reason's own words, shown literally
        assert review["plan"]["summary"] in text
        assert any(review["tfvars_diff"].strip() == str(c.value).strip() for c in at.code), [
            c.value for c in at.code
        ]
        assert f"approve-list-{mr['id']}" in [b.key for b in at.button]
    costs = [f for f in _frames(at) if "before $/month" in f.columns]
    # one cost table per waiting MR in the queue (the drill-down below may show its decision's MR again)
    assert len(costs) >= len(waiting)
    services_costed = {str(v) for f in costs for v in f.iloc[:, 0]}
    assert {_get(live_api, f"/mrs/{m['id']}/review")["service"] for m in waiting} <= services_costed
    assert all(v.startswith("$") for f in costs for v in f["before $/month"])
    rollback = next(m for m in waiting if m["kind"] == "rollback")
    assert f"MR {rollback['id']} (rollback)" in text

    overview = _run(make_app(live_api.url, live_api.platform.viewer_key, monkeypatch, tab="Overview"))
    open_mrs = next(m for m in overview.metric if m.label == "Open MRs")
    assert open_mrs.help.startswith(f"{len(waiting)} waiting")  # the Overview and the queue agree


def test_the_confirmation_can_be_cancelled_and_nothing_is_sent(
    live_api: LiveApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    mr_id = live_api.platform.waiting_mr_id
    at = _run(make_app(live_api.url, live_api.platform.operator_key, monkeypatch, tab="AI Decisions"))
    at.button(key=f"approve-list-{mr_id}").click()
    _run(at)
    assert any(f"Approve MR {mr_id} (" in w.value for w in at.warning)
    at.button(key=f"cancel-list-{mr_id}").click()
    _run(at)
    assert f"approve-list-{mr_id}" in [b.key for b in at.button]
    assert _get(live_api, f"/mrs/{mr_id}")["approved_by"] is None


@pytest.fixture
def switch_api(live_api: LiveApi) -> Iterator[LiveApi]:
    """The shared platform, set running again afterwards."""
    yield live_api
    automation.set_paused(live_api.store, False, by="test cleanup")


def test_an_operator_pauses_from_the_sidebar_and_every_tab_shows_it(
    switch_api: LiveApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    api = switch_api
    at = _run(make_app(api.url, api.platform.operator_key, monkeypatch, tab="Overview"))
    assert not [w for w in at.warning if "Automation is paused" in w.value]
    at.sidebar.text_input(key="automation-reason").input("change freeze")
    at.sidebar.button(key="automation-toggle").click()
    _run(at)

    state = _get(api, "/automation")
    assert state["paused"] is True and state["reason"] == "change freeze"
    assert "dashboard-operator" in state["by"]
    for tab in TABS:
        page = _run(make_app(api.url, api.platform.viewer_key, monkeypatch, tab=tab))
        banners = [w.value for w in page.warning if "Automation is paused" in w.value]
        assert banners and "change freeze" in banners[0], tab
        assert "automation-toggle" not in [b.key for b in page.sidebar.button]  # a viewer cannot

    at = _run(make_app(api.url, api.platform.operator_key, monkeypatch, tab="Overview"))
    assert at.sidebar.button(key="automation-toggle").label == "Resume automation"
    at.sidebar.button(key="automation-toggle").click()
    _run(at)
    assert _get(api, "/automation")["paused"] is False


def test_the_incidents_tab_lists_incidents_and_shows_the_report(
    live_api: LiveApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    items = _get(live_api, "/incidents")["items"]
    assert items
    at = _run(make_app(live_api.url, live_api.platform.viewer_key, monkeypatch, tab="Incidents"))

    listing = _frames(at)[0]
    assert list(listing["id"]) == [i["id"] for i in items]
    assert "None" not in {str(v) for v in listing["decision"]}
    report = _get(live_api, f"/incidents/{items[0]['id']}")
    metrics = {m.label: m.value for m in at.metric}
    ttr = report["time_to_recovery_s"]
    assert metrics["Time to recovery"] == (f"{round(ttr)} s" if ttr < 60 else metrics["Time to recovery"])
    delta = report["cost_impact"]["monthly_impact_usd"]
    assert metrics["Cost impact"] == f"{'+' if delta >= 0 else '-'}${abs(delta):,.0f}/mo"
    frames = _frames(at)
    timeline = next(f for f in frames if list(f.columns) == ["time", "event", "what"])
    assert len(timeline) == len(report["timeline"])
    assert list(timeline["what"]) == [e["what"] for e in report["timeline"]]
    actions = next(f for f in frames if "move" in f.columns)
    assert list(actions["decision"]) == [a["decision_id"] for a in report["attempts"]]
    alerts = next(f for f in frames if "alert" in f.columns)
    assert list(alerts["alert"]) == [a["alertname"] for a in report["alerts"]]


def test_telemetry_colours_are_distinct_and_mark_placement_moves_and_incidents(
    live_api: LiveApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = make_app(live_api.url, live_api.platform.viewer_key, monkeypatch, tab="Telemetry")
    _run(at)
    at.selectbox(key="tel-service").select("analytics-api")  # three providers, every region
    _run(at)
    lines = _charts(at)["Latency p95 (ms)"]["data"]
    assert len(lines) >= 12
    colours = [t["line"]["color"] for t in lines]
    assert len(set(colours)) == len(colours)

    incident = _get(live_api, "/incidents")["items"][0]
    service = incident["service"]
    at.selectbox(key="tel-service").select(service)
    at.selectbox(key="tel-range").select("7 days")
    _run(at)
    latency = _charts(at)["Latency p95 (ms)"]
    lines = latency["data"]
    where = _get(live_api, f"/services/{service}")["running"]["placement"]
    current = [t for t in lines if t["name"].endswith("(current)")]
    assert [t["name"] for t in current] == [f"{where['provider']}/{where['region']} (current)"]
    assert current[0]["line"]["width"] > max(t["line"]["width"] for t in lines if t not in current)
    shapes = latency["layout"]["shapes"]
    spans = [s for s in shapes if s["type"] == "rect"]
    assert spans, "the incident is shaded"
    moves = [s for s in shapes if s["type"] == "line" and s["x0"] == s["x1"]]
    assert moves, "the emergency move is marked"
    texts = [a["text"] for a in latency["layout"]["annotations"]]
    assert any(t.startswith(f"incident {incident['id']}") for t in texts)
    assert any(t.startswith("move to ") for t in texts)
    assert latency["layout"]["xaxis"]["tickformatstops"][0]["value"] == "%H:%M:%S"  # never fractions


@pytest.fixture
def day_one_api(tmp_path: Path) -> Iterator[LiveApi]:
    """A platform whose simulator has run three cycles: the first half minute of `swen up`."""
    from swen.telemetry.runner import run_simulator

    settings = demo_settings(tmp_path / "home")
    settings.home.mkdir()
    with Store.open(settings) as store:
        start = utcnow() - timedelta(seconds=3 * settings.sim_interval_s)
        for step in range(3):  # three cycles, sim_interval_s apart
            at = start + timedelta(seconds=step * settings.sim_interval_s)
            run_simulator(settings, store, start=at, max_steps=1, services=demo_fleet())
        keys = ApiKeyRepository(store)
        viewer, operator = keys.create("v", Role.VIEWER)[1], keys.create("o", Role.OPERATOR)[1]
    yield from serve(SeededPlatform(settings, viewer, operator, None, 0, 0))


def test_cost_charts_make_sense_in_the_first_minute(
    day_one_api: LiveApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = _run(make_app(day_one_api.url, day_one_api.platform.viewer_key, monkeypatch, tab="Cost Analysis"))

    charts = _charts(at)
    with Store.open(day_one_api.platform.settings, migrate=False) as store:
        times = sorted(
            {
                s.ts
                for s in store.samples_between(
                    start=utcnow() - timedelta(days=1), end=utcnow() + timedelta(hours=1)
                )
            }
        )
    first, newest = times[0], times[-1]
    for title in ("Spend per provider over time (monthly rate)", "Credits burn-down per provider"):
        chart = charts[title]
        assert chart["data"], title
        for trace in chart["data"]:
            xs = [datetime.fromisoformat(x) for x in trace["x"]]
            assert trace["mode"] == "lines+markers"
            assert len(xs) >= 2 and xs[0] >= first and xs[-1] == newest, (title, xs, first, newest)
        assert chart["layout"]["xaxis"]["tickformatstops"], title


def test_money_and_tables_read_well(live_api: LiveApi, monkeypatch: pytest.MonkeyPatch) -> None:
    at = _run(make_app(live_api.url, live_api.platform.viewer_key, monkeypatch, tab="AI Decisions"))
    listing = next(f for f in _frames(at) if "explanation" in f.columns)
    assert all(str(v)[0] in "+-" and "$" in str(v) for v in listing["net $/month"])
    big = [v for v in listing["net $/month"] if abs(float(str(v).replace("$", "").replace(",", ""))) >= 1000]
    assert all("," in str(v) for v in big)

    at = _run(make_app(live_api.url, live_api.platform.viewer_key, monkeypatch, tab="Cost Analysis"))
    table = next(f for f in _frames(at) if "budget $/month" in f.columns)
    assert "None" not in {str(v) for v in table["budget $/month"]}
    assert all(str(v).startswith("$") or v == "-" for v in table["$/month"])

    at = _run(make_app(live_api.url, live_api.platform.viewer_key, monkeypatch, tab="Overview"))
    for frame in _frames(at):
        if "decision" in frame.columns:
            assert "None" not in {str(v) for v in frame["decision"]}


def test_the_live_feed_speaks_sentences(live_api: LiveApi, monkeypatch: pytest.MonkeyPatch) -> None:
    at = _run(make_app(live_api.url, live_api.platform.viewer_key, monkeypatch, tab="Live Feed"))
    at.multiselect(key="feed-types").set_value(["automation", "mr", "incident", "decision_status"])
    _run(at)
    rows = _frames(at)[0]
    said = list(rows["what happened"])
    assert said and not any("=" in s for s in said)
    assert any(s.startswith("Rollback MR ") and " opened on " in s for s in said)
    assert any(s.startswith("Incident ") and "opened: outage on" in s for s in said)
    assert any(" waits for a person" in s for s in said)
