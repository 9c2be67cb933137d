"""Read routes: health, readiness, telemetry (latest and history), decisions, services, problems."""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from support.builders import T0, decision, placement, provider_score, service, telemetry_sample
from support.http import bearer
from swen.domain.decision import DecisionStatus
from swen.domain.keys import Role
from swen.observability.metrics import ENGINE_HEARTBEAT_FLAG
from swen.store.repository import Store

AWS, ALI = placement("aws/us-east-1"), placement("alibaba/cn-hangzhou")


@pytest.fixture
def viewer(keys: dict[Role, str]) -> dict[str, str]:
    return bearer(keys[Role.VIEWER])


@pytest.fixture
def fleet(store: Store) -> Store:
    store.upsert_services([service("web", latency_slo_ms=120.0), service("api-gw"), service("batch")])
    samples = []
    for i in range(12):  # two hours of 10-minute samples per candidate
        ts = T0 + timedelta(minutes=10 * i)
        for name in ("web", "api-gw", "batch"):
            samples.append(telemetry_sample(name, AWS, ts=ts, hourly=1.0 + i, credits=1000 - i))
            samples.append(telemetry_sample(name, ALI, ts=ts, hourly=0.5, credits=500 - i))
    store.insert_samples(samples)
    ranking = (
        provider_score(ALI, factors=0.8, monthly_cost_usd=500.0),
        provider_score(AWS, rank=2, factors=0.6, monthly_cost_usd=730.0, is_current=True),
    )
    for n in range(3):
        store.save_decision(
            decision(
                f"d-web-{n}",
                service="web",
                target=ALI,
                current_cost=730.0,
                target_cost=500.0,
                migration_cost=180.0,
                confidence=0.75 + n * 0.1,
                created_at=T0 + timedelta(minutes=n),
                ranking=ranking,
                explanation="move web to alibaba/cn-hangzhou: cheaper by $230/month",
            )
        )
    store.save_decision(decision("d-batch-0", service="batch", created_at=T0))
    store.transition("d-web-2", DecisionStatus.MR_OPENED, detail={"mr": 1})
    return store


def test_healthz_is_open(client: TestClient) -> None:
    r = client.get("/healthz")
    assert r.status_code == 200 and r.json() == {"status": "ok"}


def test_readyz_needs_a_recent_heartbeat(client: TestClient, store: Store) -> None:
    r = client.get("/readyz")
    assert r.status_code == 503 and "heartbeat" in r.json()["problems"][0]
    store.set_flag(ENGINE_HEARTBEAT_FLAG, time.time() - 3600)
    r = client.get("/readyz")
    assert r.status_code == 503 and r.json()["engine_heartbeat_age_s"] > 3000
    store.set_flag(ENGINE_HEARTBEAT_FLAG, time.time())
    r = client.get("/readyz")
    assert r.status_code == 200 and r.json()["status"] == "ready" and r.json()["store_reachable"]


def test_readyz_reports_an_unreachable_store(client: TestClient, store: Store) -> None:
    store.set_flag(ENGINE_HEARTBEAT_FLAG, time.time())
    client.app.state.store = None  # type: ignore[attr-defined]
    r = client.get("/readyz")
    assert r.status_code == 503 and r.json()["store_reachable"] is False


def test_latest_telemetry_per_service_and_provider(client: TestClient, fleet: Store, viewer: dict) -> None:
    body = client.get("/telemetry", headers=viewer).json()
    assert body["mode"] == "latest" and body["total"] == 6
    web_aws = next(i for i in body["items"] if i["service"] == "web" and i["provider"] == "aws")
    assert web_aws["hourly_cost_usd"] == 12.0 and web_aws["monthly_cost_usd"] == pytest.approx(12 * 730)
    assert web_aws["ts"] == "2026-11-01T01:50:00Z"
    only = client.get("/telemetry?service=web&provider=alibaba", headers=viewer).json()
    assert [(i["service"], i["provider"]) for i in only["items"]] == [("web", "alibaba")]
    assert only["items"][0]["simulated_price"] is True


def test_latest_telemetry_pagination(client: TestClient, fleet: Store, viewer: dict) -> None:
    first = client.get("/telemetry?limit=4", headers=viewer).json()
    second = client.get(f"/telemetry?limit=4&offset={first['next_offset']}", headers=viewer).json()
    assert len(first["items"]) == 4 and first["next_offset"] == 4
    assert len(second["items"]) == 2 and second["next_offset"] is None
    seen = [(i["service"], i["provider"]) for i in first["items"] + second["items"]]
    assert len(set(seen)) == 6


def test_latest_telemetry_is_not_stale_after_an_insert(
    client: TestClient, fleet: Store, viewer: dict
) -> None:
    client.get("/telemetry?service=web", headers=viewer)
    fleet.insert_samples([telemetry_sample("web", AWS, ts=T0 + timedelta(hours=5), hourly=99.0)])
    items = client.get("/telemetry?service=web", headers=viewer).json()["items"]
    assert next(i for i in items if i["provider"] == "aws")["hourly_cost_usd"] == 99.0


def test_history_is_downsampled_server_side(client: TestClient, fleet: Store, viewer: dict) -> None:
    q = "/telemetry?service=web&provider=aws&start=2026-11-01T00:00:00Z&end=2026-11-01T02:00:00Z&step_s=3600"
    body = client.get(q, headers=viewer).json()
    assert body["mode"] == "history" and body["step_s"] == 3600 and body["total"] == 2
    first, second = body["items"]
    assert first["ts"] == "2026-11-01T00:00:00Z" and first["samples"] == 6
    assert first["hourly_cost_usd"] == pytest.approx(sum(1.0 + i for i in range(6)) / 6)
    assert second["ts"] == "2026-11-01T01:00:00Z" and second["samples"] == 6


def test_history_pages_and_default_step(client: TestClient, fleet: Store, viewer: dict) -> None:
    q = "/telemetry?start=2026-11-01T00:00:00Z&end=2026-11-01T02:00:00Z"
    body = client.get(q + "&limit=5", headers=viewer).json()
    assert body["step_s"] == 24 and body["total"] == 6 * 12  # 7200 s / 300 points; one sample per bucket
    assert len(body["items"]) == 5 and body["next_offset"] == 5
    last = client.get(q + "&limit=5&offset=70", headers=viewer).json()
    assert len(last["items"]) == 2 and last["next_offset"] is None


@pytest.mark.parametrize(
    "query",
    [
        "start=yesterday",
        "start=1969-12-31T00:00:00Z",  # SWEN's times are years 1970 to 9998
        "end=9999-01-01T00:00:00Z",
        "start=1700000000",
        "start=2026-11-01T00:00:00",  # no offset
        "service=Web",
        "provider=aws;drop",
        "limit=0",
        "limit=1001",
        "offset=-1",
        "step_s=0",
    ],
)
def test_bad_telemetry_queries_are_422_problems(client: TestClient, viewer: dict, query: str) -> None:
    r = client.get(f"/telemetry?{query}", headers=viewer)
    assert r.status_code == 422
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["status"] == 422 and r.json()["title"]


@pytest.mark.parametrize(
    ("start", "end"),
    [("2026-11-01T01:00:00Z", "2026-11-01T01:00:00Z"), ("2026-11-02T00:00:00Z", "2026-11-01T00:00:00Z")],
)
def test_a_range_from_start_at_or_after_end_is_empty(
    client: TestClient, fleet: Store, viewer: dict, start: str, end: str
) -> None:
    """[start, end) holds nothing when start >= end: a page without items, not an error."""
    r = client.get(f"/telemetry?start={start}&end={end}", headers=viewer)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["mode"] == "history" and body["total"] == 0 and body["items"] == []


def test_a_long_range_is_downsampled_like_any_other(client: TestClient, fleet: Store, viewer: dict) -> None:
    q = "/telemetry?service=web&provider=aws&start=2020-11-01T00:00:00Z&end=2026-11-01T02:00:00Z"
    body = client.get(q, headers=viewer).json()
    span = (datetime(2026, 11, 1, 2, tzinfo=UTC) - datetime(2020, 11, 1, tzinfo=UTC)).total_seconds()
    assert body["step_s"] == math.ceil(span / 300)
    assert body["total"] == 1 and body["items"][0]["samples"] == 12  # the fleet's 2 h of samples


def test_decisions_list_with_full_detail(client: TestClient, fleet: Store, viewer: dict) -> None:
    body = client.get("/decisions", headers=viewer).json()
    ids = [d["id"] for d in body["items"]]
    assert body["total"] == 4 and ids == ["d-web-2", "d-web-1", "d-web-0", "d-batch-0"]
    top = body["items"][0]
    assert top["status"] == "mr_opened"
    assert [h["status"] for h in top["history"]] == ["proposed", "mr_opened"]
    assert top["history"][1]["payload"]["detail"] == {"mr": 1}
    assert top["ranking"][0]["contributions"]["cost"] == pytest.approx(0.32)
    assert set(top["confidence"]) >= {"value", "margin", "stability", "freshness"}
    assert top["explanation"].startswith("move web")
    assert top["savings"]["net_monthly_usd"] == 200.0


def test_a_decision_says_whether_it_is_an_slo_repair(client: TestClient, fleet: Store, viewer: dict) -> None:
    fleet.save_decision(decision("d-rep", service="batch", created_at=T0, slo_repair=True))
    assert client.get("/decisions/d-rep", headers=viewer).json()["slo_repair"] is True
    assert client.get("/decisions/d-batch-0", headers=viewer).json()["slo_repair"] is False


def test_decisions_filters_and_pages(client: TestClient, fleet: Store, viewer: dict) -> None:
    web = client.get("/decisions?service=web", headers=viewer).json()
    assert web["total"] == 3
    opened = client.get("/decisions?status=mr_opened", headers=viewer).json()
    assert [d["id"] for d in opened["items"]] == ["d-web-2"]
    since = client.get("/decisions?since=2026-11-01T00:01:00Z", headers=viewer).json()
    assert {d["id"] for d in since["items"]} == {"d-web-1", "d-web-2"}
    page = client.get("/decisions?limit=3&offset=3", headers=viewer).json()
    assert [d["id"] for d in page["items"]] == ["d-batch-0"] and page["next_offset"] is None
    assert client.get("/decisions?status=bogus", headers=viewer).status_code == 422


def test_decision_list_sees_a_transition_made_after_it_was_cached(
    client: TestClient, fleet: Store, viewer: dict
) -> None:
    assert client.get("/decisions?service=batch", headers=viewer).json()["items"][0]["status"] == "proposed"
    fleet.transition("d-batch-0", DecisionStatus.REJECTED)
    assert client.get("/decisions?service=batch", headers=viewer).json()["items"][0]["status"] == "rejected"


def test_one_decision_and_missing_one(client: TestClient, fleet: Store, viewer: dict) -> None:
    r = client.get("/decisions/d-web-2", headers=viewer)
    assert r.status_code == 200 and r.json()["id"] == "d-web-2" and len(r.json()["history"]) == 2
    missing = client.get("/decisions/d-nope", headers=viewer)
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    assert "d-nope" in missing.json()["detail"]


def test_services_with_applied_placement(client: TestClient, fleet: Store, viewer: dict) -> None:
    fleet.record_placement("web", ALI, decision_id="d-web-0", at=T0)
    items = {s["name"]: s for s in client.get("/services", headers=viewer).json()["items"]}
    assert set(items) == {"web", "api-gw", "batch"}
    assert items["web"]["placement"] == {"provider": "alibaba", "region": "cn-hangzhou"}
    assert items["batch"]["placement"] is None
    one = client.get("/services/web", headers=viewer).json()
    assert one["name"] == "web" and one["latency_slo_ms"] == 120.0
    assert one["running"] == items["web"]["running"]


def test_services_say_where_each_runs_and_what_it_costs(
    client: TestClient, fleet: Store, viewer: dict
) -> None:
    fleet.upsert_services([service("web", replicas=3)])
    fleet.record_placement("web", ALI, decision_id="d-web-0", at=T0)
    items = {s["name"]: s for s in client.get("/services", headers=viewer).json()["items"]}
    web, batch = items["web"]["running"], items["batch"]["running"]
    assert web["placement"] == {"provider": "alibaba", "region": "cn-hangzhou"}
    assert (web["source"], web["decision_id"], web["simulated_price"]) == ("applied", "d-web-0", True)
    assert web["instance_monthly_cost_usd"] == pytest.approx(0.5 * 730)
    assert web["monthly_cost_usd"] == pytest.approx(0.5 * 730 * 3)
    # never applied: where the fleet file says, at the newest of its samples there (11th: 12.0/h)
    assert (
        batch["placement"] == {"provider": "aws", "region": "us-east-1"} and batch["source"] == "fleet file"
    )
    assert batch["decision_id"] is None and batch["monthly_cost_usd"] == pytest.approx(12.0 * 730)
    assert batch["sample_ts"] == (T0 + timedelta(minutes=110)).isoformat().replace("+00:00", "Z")
    assert client.get("/services/nope", headers=viewer).status_code == 404
    assert client.get("/services/NOPE", headers=viewer).status_code == 422


def test_unknown_path_and_method_are_problems(client: TestClient, viewer: dict) -> None:
    r = client.get("/nowhere", headers=viewer)
    assert r.status_code == 404 and r.headers["content-type"] == "application/problem+json"
    r = client.delete("/decisions", headers=viewer)
    assert r.status_code == 405 and r.json()["status"] == 405


def test_websocket_refuses_unknown_event_types(client: TestClient, viewer: dict) -> None:
    from starlette.testclient import WebSocketDenialResponse

    with (
        pytest.raises(WebSocketDenialResponse) as denied,
        client.websocket_connect("/ws?types=bogus", headers=viewer),
    ):
        pass
    assert denied.value.status_code == 422
