"""Write routes: MR approve/reject, GitLab webhook, Alertmanager intake, scenarios, cost analysis."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from support.alertmanager import PROVIDER_ONLY, alert, payload
from support.builders import T0, decision, placement, service, telemetry_sample
from support.http import bearer
from swen.domain.decision import DecisionStatus
from swen.domain.events import EventType
from swen.domain.keys import Role
from swen.domain.merge_requests import MRKind, MRState, StageName
from swen.store.mrs import MergeRequestRepository, PipelineRepository
from swen.store.repository import Store
from swen.store.tables import alerts

AWS, ALI = placement("aws/us-east-1"), placement("alibaba/cn-hangzhou")


FIXTURES = Path(__file__).parents[2] / "fixtures" / "gitlab_webhooks"
BRANCH = "swen/web/d-web-0"
GITLAB = {"X-Gitlab-Token": "gitlab-secret-for-tests", "X-Gitlab-Event": "Merge Request Hook"}


def hook(name: str, branch: str = BRANCH) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / name).read_text().replace("__BRANCH__", branch))
    return data


def open_mr(
    store: Store, status: DecisionStatus = DecisionStatus.AWAITING_APPROVAL, *, host: str = "gitlab"
) -> int:
    store.upsert_services([service("web")])
    store.save_decision(decision("d-web-0", service="web", created_at=T0))
    path = [DecisionStatus.MR_OPENED, DecisionStatus.PIPELINE_RUNNING, DecisionStatus.AWAITING_APPROVAL]
    for step in path[: path.index(status) + 1] if status in path else []:
        store.transition("d-web-0", step)
    mr = MergeRequestRepository(store).create(
        decision_id="d-web-0",
        service="web",
        branch=BRANCH,
        host=host,
        title="move web",
        description="d",
        kind=MRKind.MIGRATION,
    )
    return mr.id


def status_of(store: Store) -> DecisionStatus:
    return store.get_decision("d-web-0").status


# --- merge requests ---------------------------------------------------------------------------------
def test_list_and_get_mrs_with_pipeline_runs(client: TestClient, store: Store, keys: dict) -> None:
    mr_id = open_mr(store)
    runs = PipelineRepository(store)
    run = runs.start_run(mr_id)
    runs.record_stage(run.id, StageName.VALIDATE, "success", duration_s=0.4)
    body = client.get("/mrs", headers=bearer(keys[Role.VIEWER])).json()
    assert body["total"] == 1 and body["items"][0]["branch"] == BRANCH
    stages = body["items"][0]["pipelines"][0]["stages"]
    assert stages == [
        {"name": "validate", "status": "success", "started_at": stages[0]["started_at"], "duration_s": 0.4}
    ]
    assert client.get("/mrs?state=merged", headers=bearer(keys[Role.VIEWER])).json()["total"] == 0
    assert client.get(f"/mrs/{mr_id}", headers=bearer(keys[Role.VIEWER])).json()["id"] == mr_id
    assert client.get("/mrs/999", headers=bearer(keys[Role.VIEWER])).status_code == 404


def test_approve_records_the_approval_once_and_answers_202(
    client: TestClient, store: Store, keys: dict
) -> None:
    mr_id = open_mr(store)
    r = client.post(f"/mrs/{mr_id}/approve", headers=bearer(keys[Role.OPERATOR]))
    assert r.status_code == 202 and r.json()["merge_request"]["approved_by"].startswith("operator-key")
    assert r.json()["decision_status"] == "approved"  # recorded; the engine applies it
    assert status_of(store) is DecisionStatus.APPROVED
    events = store.events_after(0)
    again = client.post(f"/mrs/{mr_id}/approve", headers=bearer(keys[Role.ADMIN]))
    assert again.status_code == 409 and "already approved" in again.json()["detail"]
    assert store.events_after(0) == events  # the second approval wrote nothing
    last = store.decision_history("d-web-0")[-1]
    assert last.payload["to"] == "approved" and last.payload["detail"]["mr_id"] == mr_id


def test_reject_closes_the_mr_and_rejects_the_decision(client: TestClient, store: Store, keys: dict) -> None:
    mr_id = open_mr(store)
    r = client.post(f"/mrs/{mr_id}/reject", json={"reason": "too risky"}, headers=bearer(keys[Role.ADMIN]))
    assert r.status_code == 200 and r.json()["merge_request"]["state"] == "closed"
    assert status_of(store) is DecisionStatus.REJECTED
    rejected = [e for e in store.decision_history("d-web-0") if e.payload.get("to") == "rejected"]
    assert rejected[-1].payload["detail"]["reason"] == "too risky"
    again = client.post(f"/mrs/{mr_id}/approve", headers=bearer(keys[Role.ADMIN]))
    assert again.status_code == 409 and again.headers["content-type"] == "application/problem+json"


def test_reviewing_a_missing_mr_is_404(client: TestClient, keys: dict) -> None:
    assert client.post("/mrs/42/approve", headers=bearer(keys[Role.OPERATOR])).status_code == 404
    assert client.post("/mrs/0/approve", headers=bearer(keys[Role.OPERATOR])).status_code == 422


# --- GitLab webhook --------------------------------------------------------------------------------
def test_webhook_needs_the_secret_token(client: TestClient, store: Store) -> None:
    open_mr(store)
    before = store.events_after(0)
    for headers in ({}, {"X-Gitlab-Token": "wrong"}, {"X-Gitlab-Token": ""}):
        r = client.post("/deployments", json=hook("merge_request_merge.json"), headers=headers)
        assert r.status_code == 401 and r.headers["content-type"] == "application/problem+json"
    assert store.events_after(0) == before and status_of(store) is DecisionStatus.AWAITING_APPROVAL


def test_webhook_refused_when_no_secret_is_configured(swen_home: Path, store: Store) -> None:
    from swen.api.app import create_app
    from swen.config import Settings

    client = TestClient(create_app(Settings(home=swen_home), store=store))
    r = client.post("/deployments", json=hook("pipeline_success.json"), headers={"X-Gitlab-Token": "x"})
    assert r.status_code == 401 and "SWEN_GITLAB_WEBHOOK_SECRET" in r.json()["hint"]


def test_pipeline_and_merge_hooks_drive_the_lifecycle(client: TestClient, store: Store) -> None:
    open_mr(store, DecisionStatus.MR_OPENED)
    r = client.post("/deployments", json=hook("pipeline_running.json"), headers=GITLAB)
    assert r.json() == {
        "accepted": True,
        "action": "pipeline running",
        "decision_id": "d-web-0",
        "status": "pipeline_running",
    }
    client.post("/deployments", json=hook("pipeline_success.json"), headers=GITLAB)
    assert status_of(store) is DecisionStatus.AWAITING_APPROVAL
    r = client.post("/deployments", json=hook("merge_request_merge.json"), headers=GITLAB)
    assert r.json()["status"] == "approved"
    assert MergeRequestRepository(store).get_by_branch(BRANCH).state is MRState.MERGED  # type: ignore[union-attr]
    client.post("/deployments", json=hook("merge_request_merge.json"), headers=GITLAB)  # GitLab retries
    assert status_of(store) is DecisionStatus.APPROVED
    client.post("/deployments", json=hook("pipeline_success.json"), headers=GITLAB)
    assert status_of(store) is DecisionStatus.APPLIED
    pipeline_events = store.events_after(0, types=[EventType.PIPELINE])
    assert [e.payload["status"] for e in pipeline_events] == ["running", "success", "success"]


def test_close_hook_rejects_and_failed_pipeline_fails(client: TestClient, store: Store) -> None:
    open_mr(store, DecisionStatus.PIPELINE_RUNNING)
    client.post("/deployments", json=hook("pipeline_failed.json"), headers=GITLAB)
    assert status_of(store) is DecisionStatus.FAILED
    r = client.post("/deployments", json=hook("merge_request_close.json"), headers=GITLAB)
    assert r.status_code == 200 and r.json()["status"] == "failed"  # failed -> rejected is not allowed


def test_close_hook_rejects_an_open_decision(client: TestClient, store: Store) -> None:
    open_mr(store)
    r = client.post("/deployments", json=hook("merge_request_close.json"), headers=GITLAB)
    assert r.json()["status"] == "rejected"
    assert MergeRequestRepository(store).get_by_branch(BRANCH).state is MRState.CLOSED  # type: ignore[union-attr]


def test_approved_hook_records_the_approver(client: TestClient, store: Store) -> None:
    open_mr(store)
    client.post("/deployments", json=hook("merge_request_approved.json"), headers=GITLAB)
    assert status_of(store) is DecisionStatus.APPROVED
    assert MergeRequestRepository(store).get_by_branch(BRANCH).approved_by == "root"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "name", ["merge_request_merge.json", "merge_request_approved.json", "pipeline_success.json"]
)
def test_hooks_about_a_local_merge_request_change_nothing(
    client: TestClient, store: Store, name: str
) -> None:
    """SWEN_MR_HOST=local: nothing was merged or applied on GitLab, whatever a hook says."""
    mr_id = open_mr(store, host="local")
    before = store.events_after(0)
    r = client.post("/deployments", json=hook(name), headers=GITLAB)
    assert r.status_code == 200 and r.json()["accepted"] is False and "local host" in r.json()["action"]
    assert store.events_after(0) == before
    assert status_of(store) is DecisionStatus.AWAITING_APPROVAL
    assert MergeRequestRepository(store).get(mr_id).state is MRState.OPENED


def test_hooks_for_other_branches_are_ignored(client: TestClient, store: Store) -> None:
    open_mr(store)
    before = store.events_after(0)
    r = client.post("/deployments", json=hook("merge_request_merge.json", "feature/x"), headers=GITLAB)
    assert r.status_code == 200 and r.json()["accepted"] is False
    assert store.events_after(0) == before


def test_malformed_hook_is_422(client: TestClient) -> None:
    r = client.post("/deployments", json={"object_kind": "push"}, headers=GITLAB)
    assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"


# --- Alertmanager -----------------------------------------------------------------------------------
DOWN = "SwenProviderDown"


def test_alert_intake_stores_and_emits_events(client: TestClient, store: Store) -> None:
    store.upsert_services([service("web")])
    token = bearer("alert-token-for-tests")
    first = client.post("/alerts", json=payload([alert(DOWN, service="web", **PROVIDER_ONLY)]), headers=token)
    assert first.status_code == 202 and first.json()["received"] == 1 and first.json()["stored"] == 1
    r = client.post(
        "/alerts",
        json=payload([alert(DOWN, service="web", status="resolved", **PROVIDER_ONLY)]),
        headers=token,
    )
    assert r.json()["stored"] == 0
    assert r.json()["received"] == 1
    with store.engine.connect() as conn:
        rows = conn.execute(select(alerts)).all()
    assert len(rows) == 1 and rows[0].status == "resolved" and rows[0].service == "web"
    events = store.events_after(0, types=[EventType.ALERT])
    assert len(events) == 2 and all(e.service == "web" for e in events)
    assert {e.id for e in events} <= set(first.json()["event_ids"]) | set(r.json()["event_ids"])


def test_alert_with_a_bad_service_label_keeps_it_out_of_names(client: TestClient, store: Store) -> None:
    r = client.post(
        "/alerts",
        json=payload([alert(DOWN, service="../etc", **PROVIDER_ONLY)]),
        headers=bearer("alert-token-for-tests"),
    )
    assert r.status_code in (202, 422)  # refused, or stored without using the label as a name
    with store.engine.connect() as conn:
        services = conn.execute(select(alerts.c.service)).scalars().all()
    assert "../etc" not in services


def test_minimal_alert_storage_without_self_healing(store: Store) -> None:
    from swen.api.routers.alerts import store_alerts
    from swen.api.schemas import AlertmanagerPayload

    firing = payload([alert(DOWN, service="web", **PROVIDER_ONLY)])
    resolved = payload([alert(DOWN, service="web", status="resolved", **PROVIDER_ONLY)])
    result = store_alerts(store, AlertmanagerPayload.model_validate_json(json.dumps(firing)))
    again = store_alerts(store, AlertmanagerPayload.model_validate_json(json.dumps(resolved)))
    assert (result.stored, again.stored) == (1, 0)
    with store.engine.connect() as conn:
        row = conn.execute(select(alerts)).one()
    assert row.status == "resolved" and row.service == "web" and row.alertname == "SwenProviderDown"
    events = store.events_after(0, types=[EventType.ALERT])
    assert [e.id for e in events] == result.event_ids + again.event_ids


@pytest.mark.parametrize(
    "mutate",
    [
        lambda p: p.update(version="3"),
        lambda p: p.update(alerts=[]),
        lambda p: p["alerts"][0].update(startsAt="yesterday"),
        lambda p: p["alerts"][0].update(status="maybe"),
        lambda p: p["alerts"][0].update(labels={"n": 1}),
    ],
)
def test_bad_alert_payloads_are_422_and_store_nothing(client: TestClient, store: Store, mutate: Any) -> None:
    body = payload([alert(DOWN, service="web", **PROVIDER_ONLY)])
    mutate(body)
    r = client.post("/alerts", json=body, headers=bearer("alert-token-for-tests"))
    assert r.status_code == 422
    with store.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(alerts)).scalar_one() == 0


# --- scenarios --------------------------------------------------------------------------------------
def test_scenario_injection_appends_a_scenario_event(client: TestClient, store: Store, keys: dict) -> None:
    body = {"kind": "outage", "provider": "aws", "region": "us-east-1", "duration_s": 120}
    r = client.post("/scenarios", json=body, headers=bearer(keys[Role.ADMIN]))
    assert r.status_code == 202, r.text
    assert "outage on aws/us-east-1" in r.json()["description"]
    events = store.events_after(0, types=[EventType.SCENARIO])
    assert [e.id for e in events] == [r.json()["event_id"]] and events[0].payload["kind"] == "outage"


def test_a_scenario_for_a_service_outside_the_fleet_is_404_naming_the_known_ones(
    client: TestClient, store: Store, keys: dict
) -> None:
    store.upsert_services([service("web")])
    body = {"kind": "outage", "provider": "aws", "service": "nope"}
    r = client.post("/scenarios", json=body, headers=bearer(keys[Role.ADMIN]))
    assert r.status_code == 404, r.text
    assert r.json()["detail"] == "unknown service 'nope': known services are web"
    assert store.events_after(0, types=[EventType.SCENARIO]) == []


@pytest.mark.parametrize(
    "body",
    [
        {"kind": "outage", "provider": "nocloud"},
        {"kind": "outage", "provider": "aws", "region": "mars-1"},
        {"kind": "outage", "provider": "aws", "magnitude": 2.0},
        {"kind": "meteor", "provider": "aws"},
        {"kind": "outage", "provider": "aws", "duration_s": "60"},
        {"kind": "outage", "provider": "aws", "extra": 1},
    ],
)
def test_bad_scenarios_are_422(client: TestClient, store: Store, keys: dict, body: dict) -> None:
    r = client.post("/scenarios", json=body, headers=bearer(keys[Role.ADMIN]))
    assert r.status_code == 422, r.text
    assert store.events_after(0, types=[EventType.SCENARIO]) == []


# --- cost analysis ----------------------------------------------------------------------------------
def test_cost_analysis(client: TestClient, store: Store, keys: dict) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    store.upsert_services([service("web"), service("db", replicas=2), service("idle")])
    store.record_placement("web", AWS, decision_id=None, at=T0)
    store.record_placement("db", ALI, decision_id=None, at=T0)
    store.insert_samples(
        [
            telemetry_sample("web", AWS, ts=now - timedelta(hours=h), hourly=2.0, credits=900.0 + 10 * h)
            for h in range(3)
        ]
        + [telemetry_sample("db", ALI, ts=now - timedelta(hours=1), hourly=1.0, credits=50.0)]
        + [telemetry_sample("db", AWS, ts=now - timedelta(hours=1), hourly=9.0)]
    )
    store.save_decision(
        decision("d-web-1", service="web", created_at=T0 + timedelta(minutes=1), net_monthly=300.0)
    )
    store.save_decision(
        decision("d-web-2", service="web", created_at=T0 + timedelta(minutes=2), net_monthly=250.0)
    )  # newer open recommendation of the same service
    store.save_decision(
        decision("d-db-1", service="db", created_at=T0 + timedelta(minutes=1), net_monthly=120.0)
    )
    for step in (
        DecisionStatus.MR_OPENED,
        DecisionStatus.PIPELINE_RUNNING,
        DecisionStatus.APPROVED,
        DecisionStatus.APPLIED,
        DecisionStatus.VERIFIED,
    ):
        store.transition("d-db-1", step)
    body = client.get("/cost-analysis?days=1", headers=bearer(keys[Role.VIEWER])).json()
    per = {c["service"]: c for c in body["services"]}
    assert per["web"]["monthly_cost_usd"] == pytest.approx(1460.0)
    assert per["db"]["provider"] == "alibaba" and per["db"]["replicas"] == 2
    assert per["db"]["monthly_cost_usd"] == pytest.approx(1460.0)  # 1.0/h x 730 x 2 replicas
    assert per["idle"]["monthly_cost_usd"] is None
    assert body["total_monthly_usd"] == pytest.approx(2920.0)
    assert {p["provider"]: p["monthly_cost_usd"] for p in body["by_provider"]} == pytest.approx(
        {"aws": 1460.0, "alibaba": 1460.0}
    )
    spend = {s["provider"]: [p["monthly_usd"] for p in s["points"]] for s in body["spend_by_provider"]}
    assert spend["aws"] == pytest.approx([1460.0] * 3)  # web at its placement (not db's aws candidate)
    assert spend["alibaba"] == pytest.approx([1460.0])
    assert body["savings_realised_monthly_usd"] == 120.0 and body["verified_decisions"] == 1
    assert body["savings_projected_monthly_usd"] == 250.0 and body["open_recommendations"] == 1
    burn = {b["provider"]: [p["credits_usd"] for p in b["points"]] for b in body["credits_burndown"]}
    assert burn["aws"][0] > burn["aws"][-1] and burn["alibaba"] == [50.0]
    assert client.get("/cost-analysis?days=0", headers=bearer(keys[Role.VIEWER])).status_code == 422


def test_cost_analysis_windows_end_at_a_simulator_ahead_of_wall_time(
    client: TestClient, store: Store, keys: dict
) -> None:
    ahead = datetime.now(UTC).replace(microsecond=0) + timedelta(days=3)  # an accelerated simulator
    store.upsert_services([service("web", replicas=3)])
    store.insert_samples(
        [telemetry_sample("web", AWS, ts=ahead - timedelta(hours=h), hourly=2.0) for h in range(3)]
    )
    body = client.get("/cost-analysis?days=1", headers=bearer(keys[Role.VIEWER])).json()
    [spend] = body["spend_by_provider"]
    assert spend["provider"] == "aws" and [p["monthly_usd"] for p in spend["points"]] == [2.0 * 730 * 3] * 3
    assert [len(b["points"]) for b in body["credits_burndown"]] == [3]
