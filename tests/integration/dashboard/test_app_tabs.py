"""Each tab of the real dashboard (Streamlit AppTest) against a real API on a seeded store."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import pytest
from dashboard_env import TABS, LiveApi, make_app
from streamlit.testing.v1 import AppTest

from swen.demo.harness import free_port


def _get(api: LiveApi, path: str, **params: Any) -> Any:
    headers = {"Authorization": f"Bearer {api.platform.viewer_key}"}
    return httpx.get(api.url + path, params=params, headers=headers, timeout=10).json()


def _charts(at: AppTest) -> list[dict[str, Any]]:
    return [json.loads(el.proto.spec) for el in at.get("plotly_chart")]


def _titles(at: AppTest) -> list[str]:
    return [c["layout"]["title"]["text"] for c in _charts(at)]


def _texts(at: AppTest) -> str:
    parts = [m.value for m in at.markdown] + [c.value for c in at.caption]
    return "\n".join(str(p) for p in parts)


def _plain(markdown: str) -> str:
    """Markdown escaped by ``md`` as a reader sees it."""
    return re.sub(r"\\(.)", r"\1", markdown)


def _frame(at: AppTest, column: str, nth: int = 0) -> Any:
    """The nth dataframe on the page that has ``column``."""
    frames = [f.value for f in at.dataframe if column in f.value.columns]
    return frames[nth]


def _run(at: AppTest) -> AppTest:
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_overview_shows_kpis_placements_and_provider_health(
    live_api: LiveApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = _run(make_app(live_api.url, live_api.platform.viewer_key, monkeypatch, tab="Overview"))

    assert not at.error, [e.value for e in at.error]
    metrics = {m.label: m.value for m in at.metric}
    cost = _get(live_api, "/cost-analysis")
    opened = _get(live_api, "/mrs", state="opened")
    assert metrics["Monthly spend"] == f"${cost['total_monthly_usd']:,.0f}"
    assert metrics["Savings projected"] == f"${cost['savings_projected_monthly_usd']:,.0f}/mo"
    assert opened["total"] >= 1 and metrics["Open MRs"] == str(opened["total"])
    incidents = httpx.get(
        live_api.url + "/incidents", headers={"Authorization": f"Bearer {live_api.platform.viewer_key}"}
    )
    if incidents.status_code == 404:
        assert metrics["Incidents"] == "n/a"
        assert "does not expose them" in _texts(at)
    titles = _titles(at)
    assert any("Where each service runs now" in t for t in titles)
    assert any("Health per provider" in t for t in titles)
    matrix = next(c for c in _charts(at) if "Where each service" in c["layout"]["title"]["text"])
    services = {s["name"]: s for s in _get(live_api, "/services")["items"]}
    assert set(matrix["data"][0]["y"]) == set(services)
    health = _frame(at, "with data")
    assert set(health["provider"]) == {
        (s["placement"] or s["current"])["provider"] for s in services.values()
    }
    assert "SIMULATED" in _texts(at)


def test_decisions_tab_lists_decisions_and_drills_into_ranking_and_pipeline(
    live_api: LiveApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = _run(make_app(live_api.url, live_api.platform.operator_key, monkeypatch, tab="AI Decisions"))

    assert not at.error, [e.value for e in at.error]
    page = _get(live_api, "/decisions", limit=200)
    listing = _frame(at, "explanation")
    assert set(listing["id"]) == {d["id"] for d in page["items"]}
    waiting_mrs = [m for m in _get(live_api, "/mrs", state="opened")["items"] if m["waiting_for_person"]]
    assert waiting_mrs
    queued = [a for a in _get(live_api, "/actions")["items"] if a["state"] in ("pending", "running")]
    assert [s.value for s in at.subheader][:3] == [
        f"Waiting for review ({len(waiting_mrs)})",
        f"Action queue ({len(queued)})",  # what the engine's workers have still to carry out
        f"Decisions ({page['total']} shown of {page['total']})",
    ]
    assert sum(1 for b in at.button if b.label == "Approve") >= len(waiting_mrs)  # operator: review buttons

    waiting = next(d for d in page["items"] if d["status"] == "awaiting_approval")
    at.selectbox(key="dec-drill").select(waiting["id"])
    _run(at)
    assert any(t.startswith("Pipeline of MR") and "awaiting_approval" in t for t in _titles(at))
    assert waiting["explanation"] in _texts(at)

    # the seed's waiting move is a person's choice; the engine's own (verified) move has the full ranking
    scored = next(d for d in page["items"] if d["ranking"] and d["chosen_by"] is None)
    at.selectbox(key="dec-drill").select(scored["id"])
    _run(at)
    titles = _titles(at)
    assert any(t.startswith("Factor contributions per candidate") for t in titles)
    assert "Confidence and its parts" in titles
    factors = next(c for c in _charts(at) if c["layout"]["title"]["text"].startswith("Factor"))
    assert [bar["name"] for bar in factors["data"]] == ["cost", "latency", "credits", "availability"]
    assert len(factors["data"][0]["y"]) == len(scored["ranking"])
    ranking = _frame(at, "rank")
    assert list(ranking["rank"]) == [s["rank"] for s in scored["ranking"]]
    if any(s["simulated_price"] for s in scored["ranking"]):
        assert "SIMULATED" in set(ranking["price"])
        assert any("SIMULATED" in t for t in titles)
    excluded = _frame(at, "why not")
    assert set(excluded["candidate"]) == {
        f"{e['placement']['provider']}/{e['placement']['region']}" for e in scored["excluded"]
    }
    assert scored["explanation"] in _texts(at)

    # the price catalog version: the decision's on its detail, the active one in the sidebar
    versions = _get(live_api, "/catalog/versions")
    assert versions["active"] is not None and scored["catalog_version"] == versions["active"]
    assert f"Prices: catalog version {versions['active']} (the packaged prices, " in _plain(_texts(at))
    assert "), the active one" in _plain(_texts(at))
    sidebar = _plain("\n".join(c.value for c in at.sidebar.caption))
    assert f"Price catalog: version {versions['active']} (the packaged prices, " in sidebar
    assert set(listing["catalog"]) <= {f"v{d['catalog_version']}" for d in page["items"]} | {"-"}


def test_decisions_filters_narrow_the_list(live_api: LiveApi, monkeypatch: pytest.MonkeyPatch) -> None:
    at = _run(make_app(live_api.url, live_api.platform.viewer_key, monkeypatch, tab="AI Decisions"))
    at.selectbox(key="dec-status").select("awaiting_approval")
    _run(at)
    assert set(_frame(at, "explanation")["status"]) == {"awaiting_approval"}

    at.selectbox(key="dec-status").select("rolled_back")
    _run(at)
    assert any("No decisions match" in i.value for i in at.info)


def test_viewer_key_gets_no_review_buttons(live_api: LiveApi, monkeypatch: pytest.MonkeyPatch) -> None:
    at = _run(make_app(live_api.url, live_api.platform.viewer_key, monkeypatch, tab="AI Decisions"))
    assert not [b for b in at.button if b.label in ("Approve", "Reject")]
    assert any("operator role" in i.value for i in at.info)


def test_cost_tab_shows_spend_savings_services_and_credits(
    live_api: LiveApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = _run(make_app(live_api.url, live_api.platform.viewer_key, monkeypatch, tab="Cost Analysis"))

    assert not at.error, [e.value for e in at.error]
    cost = _get(live_api, "/cost-analysis", days=7)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Monthly spend"] == f"${cost['total_monthly_usd']:,.0f}"
    assert metrics["Open recommendations"] == str(cost["open_recommendations"])
    charts = {c["layout"]["title"]["text"]: c for c in _charts(at)}
    spend = charts["Spend per provider over time (monthly rate)"]
    assert {t["name"].split(" ")[0] for t in spend["data"]} == {p["provider"] for p in cost["by_provider"]}
    assert "Projected savings of open recommendations" in charts
    per_service = charts["Monthly cost per service"]
    assert sum(len(t["y"]) for t in per_service["data"]) == len(cost["services"])
    assert "Credits burn-down per provider" in charts
    verified = _get(live_api, "/decisions", status="verified")["total"]
    if verified:
        assert "Cumulative savings realised (net $/month of verified moves)" in charts
    else:
        assert any("No savings realised yet" in i.value for i in at.info)
    if any(c["simulated_price"] for c in cost["services"]):
        assert any("SIMULATED" in t["name"] for t in per_service["data"])
        assert "SIMULATED" in _texts(at)


def test_cost_table_lists_the_most_expensive_services_and_says_where_the_rest_are(
    live_api: LiveApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    from swen.dashboard.tabs import cost as cost_tab

    cost = _get(live_api, "/cost-analysis", days=7)
    usd = {c["service"]: c["monthly_cost_usd"] for c in cost["services"]}
    at = _run(make_app(live_api.url, live_api.platform.viewer_key, monkeypatch, tab="Cost Analysis"))
    assert sorted(_frame(at, "$/month")["service"]) == sorted(usd)  # a small fleet: every service
    assert "most expensive of" not in _texts(at)

    monkeypatch.setattr(cost_tab, "TABLE_ROWS", 4)
    at = _run(make_app(live_api.url, live_api.platform.viewer_key, monkeypatch, tab="Cost Analysis"))
    shown = list(_frame(at, "$/month")["service"])
    assert len(shown) == 4
    assert [usd[s] for s in shown] == sorted(usd.values(), reverse=True)[:4]  # the dearest first
    assert f"Showing the 4 most expensive of {len(usd)} services" in _texts(at)
    assert "`GET /cost-analysis`" in _texts(at) and "`swen services`" in _texts(at)


def test_cost_range_changes_the_window(live_api: LiveApi, monkeypatch: pytest.MonkeyPatch) -> None:
    at = _run(make_app(live_api.url, live_api.platform.viewer_key, monkeypatch, tab="Cost Analysis"))
    week = {c["layout"]["title"]["text"]: c for c in _charts(at)}["Credits burn-down per provider"]
    at.radio(key="cost-range").set_value("30 days")
    _run(at)
    month = {c["layout"]["title"]["text"]: c for c in _charts(at)}["Credits burn-down per provider"]
    assert not at.error
    # 100 buckets over the window: a month's buckets are wider, so the same hours give fewer points
    assert 0 < len(month["data"][0]["x"]) < len(week["data"][0]["x"])


def test_telemetry_tab_draws_four_series_with_the_slo_line(
    live_api: LiveApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = _run(make_app(live_api.url, live_api.platform.viewer_key, monkeypatch, tab="Telemetry"))
    at.selectbox(key="tel-service").select("service-2")
    at.selectbox(key="tel-provider").select("alibaba")
    _run(at)

    assert not at.error, [e.value for e in at.error]
    charts = {c["layout"]["title"]["text"]: c for c in _charts(at)}
    assert set(charts) == {
        "Cost ($/month) - Alibaba prices are SIMULATED",
        "Latency p95 (ms)",
        "Availability",
        "GPU availability",
    }
    service = _get(live_api, "/services/service-2")
    latency = charts["Latency p95 (ms)"]
    slo = [s for s in latency["layout"]["shapes"] if s["y0"] == s["y1"]]
    assert slo and slo[0]["y0"] == service["latency_slo_ms"]
    assert all(t["name"].startswith("alibaba/") for t in latency["data"])


def test_live_feed_shows_events_newest_first_and_filters(
    live_api: LiveApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = _run(make_app(live_api.url, live_api.platform.viewer_key, monkeypatch, tab="Live Feed"))

    assert not at.error, [e.value for e in at.error]
    rows = at.dataframe[0].value
    assert list(rows["id"]) == sorted(rows["id"], reverse=True)
    assert not any("=" in str(w) for w in rows["what happened"])  # sentences, not action=..., to=...
    assert "telemetry_cycle" not in set(rows["type"])  # noisy types hidden by default
    assert {"decision", "mr", "pipeline"} <= set(rows["type"])

    at.multiselect(key="feed-types").set_value(["mr"])
    _run(at)
    assert set(at.dataframe[0].value["type"]) == {"mr"}


def test_operator_approves_a_waiting_merge_request(
    fresh_api: LiveApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    mr_id = fresh_api.platform.waiting_mr_id
    assert mr_id is not None
    at = _run(make_app(fresh_api.url, fresh_api.platform.operator_key, monkeypatch, tab="AI Decisions"))

    at.button(key=f"approve-list-{mr_id}").click()
    _run(at)
    headers = {"Authorization": f"Bearer {fresh_api.platform.viewer_key}"}
    assert (
        httpx.get(f"{fresh_api.url}/mrs/{mr_id}", headers=headers).json()["approved_by"] is None
    )  # asks first
    assert any(f"Approve MR {mr_id}" in w.value for w in at.warning)
    at.button(key=f"confirm-approve-list-{mr_id}").click()
    _run(at)

    assert not at.error, [e.value for e in at.error]
    assert any(f"MR {mr_id}" in s.value and "approved" in s.value for s in at.success)
    mr = httpx.get(f"{fresh_api.url}/mrs/{mr_id}", headers=headers).json()
    assert mr["approved_by"] and mr["approved_by"].startswith("dashboard-operator")
    decision = httpx.get(f"{fresh_api.url}/decisions/{mr['decision_id']}", headers=headers).json()
    assert decision["status"] in ("approved", "applied")
    assert f"approve-list-{mr_id}" not in [b.key for b in at.button]


def test_operator_rejects_with_a_reason(fresh_api: LiveApi, monkeypatch: pytest.MonkeyPatch) -> None:
    mr_id = fresh_api.platform.waiting_mr_id
    at = _run(make_app(fresh_api.url, fresh_api.platform.operator_key, monkeypatch, tab="AI Decisions"))
    at.text_input(key=f"reason-list-{mr_id}").input("too risky before the sale")
    at.button(key=f"reject-list-{mr_id}").click()
    _run(at)
    at.button(key=f"confirm-reject-list-{mr_id}").click()
    _run(at)

    headers = {"Authorization": f"Bearer {fresh_api.platform.viewer_key}"}
    mr = httpx.get(f"{fresh_api.url}/mrs/{mr_id}", headers=headers).json()
    assert mr["state"] == "closed"
    decision = httpx.get(f"{fresh_api.url}/decisions/{mr['decision_id']}", headers=headers).json()
    assert decision["status"] == "rejected"
    reasons = [e["payload"].get("detail", e["payload"]) for e in decision["history"]]
    assert "too risky before the sale" in json.dumps(reasons)


@pytest.mark.parametrize("tab", TABS)
def test_every_tab_says_in_a_sentence_that_the_api_is_down(tab: str, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    at = _run(make_app(url, "swen_not-a-real-key", monkeypatch, tab=tab))
    errors = [e.value for e in at.error]
    assert errors and all(
        e.startswith(f"The API at {url} is not reachable") or "not reachable" in e for e in errors
    )
    assert any("swen api" in e for e in errors)


def test_missing_and_refused_keys_are_explained(live_api: LiveApi, monkeypatch: pytest.MonkeyPatch) -> None:
    at = _run(make_app(live_api.url, None, monkeypatch, tab="Overview"))
    assert any("has no API key" in e.value and "swen keys create" in e.value for e in at.error)

    at = _run(make_app(live_api.url, "swen_revoked-or-unknown", monkeypatch, tab="Cost Analysis"))
    assert any("refused the dashboard's key" in e.value for e in at.error)


@pytest.mark.parametrize(
    ("tab", "sentence"),
    [
        ("Overview", "No services yet"),
        ("AI Decisions", "No decisions match"),
        ("Cost Analysis", "No services yet"),
        ("Telemetry", "No services yet"),
    ],
)
def test_an_empty_platform_gets_a_sentence_not_an_error(
    empty_api: LiveApi, monkeypatch: pytest.MonkeyPatch, tab: str, sentence: str
) -> None:
    at = _run(make_app(empty_api.url, empty_api.platform.viewer_key, monkeypatch, tab=tab))
    assert not at.error, [e.value for e in at.error]
    assert any(sentence in i.value for i in at.info), [i.value for i in at.info]


def test_live_feed_of_a_new_platform_shows_only_its_key_events(
    empty_api: LiveApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = _run(make_app(empty_api.url, empty_api.platform.viewer_key, monkeypatch, tab="Live Feed"))
    assert not at.error
    assert list(at.dataframe[0].value["type"]) == ["api_key", "api_key"]
    at.multiselect(key="feed-types").set_value(["decision"])
    _run(at)
    assert any("No events match yet" in i.value for i in at.info)
