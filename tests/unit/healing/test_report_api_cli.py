"""The post-incident report, GET /incidents(/{id}), `swen incident list|show` and `swen automation`."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from support.alertmanager import alert, payload
from support.builders import T0, decision, placement, service
from swen.api.app import create_app
from swen.cli import app as cli_app
from swen.config import Settings
from swen.domain.decision import DecisionStatus
from swen.domain.errors import NotFoundError
from swen.domain.keys import Role
from swen.domain.merge_requests import MRKind
from swen.healing.remediation import Healer
from swen.healing.report import incident_report
from swen.moves import automation
from swen.observability.alerts import intake
from swen.store.incidents import IncidentRepository
from swen.store.keys import ApiKeyRepository
from swen.store.mrs import MergeRequestRepository, PipelineRepository
from swen.store.repository import Store
from swen.store.state import StoredVerification

_S = DecisionStatus
AWS, ALI = placement("aws/us-east-1"), placement("alibaba/us-west-1")
POLICY = {"outcome": "auto_approve", "override": True, "reasons": [
    "emergency_override: emergency move of stateless web waives confidence_too_low"]}  # fmt: skip


@pytest.fixture
def settings(swen_home: Path) -> Settings:
    return Settings(home=swen_home, quarantine_s=600)


@pytest.fixture
def resolved(settings: Settings) -> tuple[Store, int]:
    """An outage of web on aws seen by Alertmanager at T0, moved to alibaba, verified at T0 + 42 s."""
    store = Store.open(settings)
    store.upsert_services([service("web")])
    store.record_placement("web", AWS, decision_id=None, at=T0)
    result = intake(store, payload([alert(service="web", starts_at=T0)]))
    (incident_id,) = result.incidents_opened
    healer = Healer(settings, store)
    plan = healer.plan(["web"], store.get_placements(), T0 + timedelta(seconds=2))
    d = decision(
        "d-web-1",
        service="web",
        target=ALI,
        emergency=True,
        created_at=T0 + timedelta(seconds=3),
        current_cost=140.0,
        target_cost=120.0,
    )
    store.save_decision(d)
    store.transition(d.id, _S.MR_OPENED)
    mr = MergeRequestRepository(store).create(
        decision_id=d.id, service="web", branch="emergency/web-alibaba-20261126T100003Z", host="local",
        title="swen: emergency move", description="d", kind=MRKind.EMERGENCY,
    )  # fmt: skip
    run = PipelineRepository(store).start_run(mr.id)
    PipelineRepository(store).save_results(run.id, policy_result=POLICY)
    for step in (_S.PIPELINE_RUNNING, _S.APPROVED, _S.APPLIED):
        store.transition(d.id, step)
    healer.started(d, plan, T0 + timedelta(seconds=3))
    store.transition(d.id, _S.VERIFIED, detail={"healthy_samples": 3})
    store.save_state(StoredVerification(last_ts=T0 + timedelta(seconds=42)), decision_id=d.id)
    healer.follow_up(plan, None, T0 + timedelta(seconds=45))
    return store, incident_id


def test_the_report_has_timeline_decision_policy_ttr_cost_and_first_detector(
    resolved: tuple[Store, int],
) -> None:
    store, incident_id = resolved
    report = incident_report(store, incident_id)
    assert report["incident"]["status"] == "resolved"
    assert report["time_to_recovery_s"] == 42.0
    assert report["decision"]["id"] == "d-web-1" and report["decision"]["emergency"] is True
    assert [r["placement"] for r in report["decision"]["ranking"]] == ["alibaba/us-west-1", "aws/us-east-1"]
    assert report["policy"]["outcome"] == "auto_approve" and report["policy"]["override"] is True
    assert report["cost_impact"]["monthly_impact_usd"] == -19.25  # -20 list price + 4.50 over 6 months
    assert report["first_detector"]["source"] == "alertmanager"
    assert report["first_detector"]["engine_at"] is None
    assert [a["alertname"] for a in report["alerts"]] == ["ProviderOutage"]
    assert report["quarantine"]["placement"] == "aws/us-east-1"
    whats = [row["what"] for row in report["timeline"]]
    for expected in ("alert ProviderOutage firing", "incident opened", "incident quarantined",
                     "decision proposed -> mr_opened", "incident remediating",
                     "decision applied -> verified", "incident resolved"):  # fmt: skip
        assert any(w.startswith(expected) for w in whats), (expected, whats)
    m = report["milestones"]
    assert (
        m["fault"] == T0.isoformat() and m["mr_opened"] and m["applied"] and m["verified"] and m["resolved"]
    )
    with pytest.raises(NotFoundError):
        incident_report(store, 999)


def test_an_engine_anomaly_before_the_alert_counts_as_the_engine_first(settings: Settings) -> None:
    store = Store.open(settings)
    store.upsert_services([service("web")])
    incident, _ = IncidentRepository(store).open_incident(
        service="web", provider="aws", region="us-east-1", kind="outage", source="engine", at=T0,
        details={"anomalies": {"outage": "firing"}, "anomaly": {"first_seen": T0.isoformat()}},
    )  # fmt: skip
    intake(store, payload([alert(service="web", starts_at=T0 + timedelta(seconds=9))]))
    first = incident_report(store, incident.id)["first_detector"]
    assert first["source"] == "engine" and first["lead_s"] == 9.0


def test_api_lists_incidents_and_serves_the_report(settings: Settings, resolved: tuple[Store, int]) -> None:
    store, incident_id = resolved
    key = ApiKeyRepository(store).create("viewer", Role.VIEWER)[1]
    headers = {"Authorization": f"Bearer {key}"}
    with TestClient(create_app(settings, store=store)) as client:
        page = client.get("/incidents", headers=headers)
        assert page.status_code == 200, page.text
        body = page.json()
        assert body["total"] == 1 and [i["id"] for i in body["items"]] == [incident_id]
        assert client.get("/incidents?status=open", headers=headers).json()["total"] == 0
        report = client.get(f"/incidents/{incident_id}", headers=headers)
        assert report.status_code == 200, report.text
        assert report.json()["time_to_recovery_s"] == 42.0
        missing = client.get("/incidents/4242", headers=headers)
        assert missing.status_code == 404
        assert missing.headers["content-type"] == "application/problem+json"
        assert client.get("/incidents").status_code == 401


@pytest.fixture
def cli(swen_home: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("SWEN_HOME", str(swen_home))
    monkeypatch.setenv("COLUMNS", "200")
    return CliRunner()


def test_cli_incident_list_and_show(cli: CliRunner, resolved: tuple[Store, int]) -> None:
    _store, incident_id = resolved
    listed = cli.invoke(cli_app, ["incident", "list"])
    assert listed.exit_code == 0, listed.output
    assert "web" in listed.output and "resolved" in listed.output and "42.0" in listed.output
    shown = cli.invoke(cli_app, ["incident", "show", str(incident_id)])
    assert shown.exit_code == 0, shown.output
    for text in ("time to recovery: 42.0 s", "first seen by: alertmanager", "emergency override",
                 "cost impact: -$19.25/month net", "ranking", "timeline"):  # fmt: skip
        assert text in shown.output, (text, shown.output)
    as_json = cli.invoke(cli_app, ["incident", "show", str(incident_id), "--json"])
    assert json.loads(as_json.output)["decision"]["to"] == "alibaba/us-west-1"
    missing = cli.invoke(cli_app, ["incident", "show", "999"])
    assert missing.exit_code != 0 and isinstance(missing.exception, NotFoundError)


def test_cli_automation_switch(cli: CliRunner, settings: Settings) -> None:
    Store.open(settings).close()  # `swen automation` needs existing state (`swen init`)
    paused = cli.invoke(cli_app, ["automation", "pause", "--by", "alice", "--reason", "db maintenance"])
    assert paused.exit_code == 0, paused.output
    assert "paused by alice" in paused.output and "db maintenance" in paused.output
    status = cli.invoke(cli_app, ["automation", "status", "--json"])
    data = json.loads(status.output)
    assert data["paused"] is True and data["by"] == "alice" and data["reason"] == "db maintenance"
    with Store.open(settings) as store:
        assert automation.is_paused(store)
    resumed = cli.invoke(cli_app, ["automation", "resume", "--by", "bob"])
    assert resumed.exit_code == 0 and "active" in resumed.output
    with Store.open(settings) as store:
        assert not automation.is_paused(store)
        events = [e.payload for e in store.events_after(0) if e.type == "automation"]
    assert [(e["action"], e["by"]) for e in events] == [("paused", "alice"), ("resumed", "bob")]


def test_cli_incident_resolve_closes_an_escalated_incident(cli: CliRunner, settings: Settings) -> None:
    store = Store.open(settings)
    store.upsert_services([service("web")])
    incident, _ = IncidentRepository(store).open_incident(
        service="web", provider="aws", region="us-east-1", kind="outage", source="engine", at=T0
    )
    IncidentRepository(store).escalate(incident.id, "attempt limit", at=T0)
    refused = cli.invoke(cli_app, ["incident", "resolve", str(incident.id), "--reason", " "])
    assert refused.exit_code != 0
    done = cli.invoke(
        cli_app, ["incident", "resolve", str(incident.id), "--reason", "moved by hand", "--by", "al"]
    )
    assert done.exit_code == 0, done.output
    closed = IncidentRepository(store).get(incident.id)
    assert closed.status.value == "resolved"
    last = [e.payload for e in store.events_after(0) if e.type == "incident"][-1]
    assert last["action"] == "resolved" and last["reason"] == "closed by al: moved by hand"


def test_the_cost_impact_is_one_number_the_api_and_the_cli_agree_on(
    settings: Settings, cli: CliRunner
) -> None:
    """An emergency that costs more at list price but less after credits (figures of a real outage of
    service-3): the report used to say "+30.22 $/month" next to the explanation's "Net cost $7/month".
    Now there is one number, the net monthly impact, = -(net savings), and its parts add up to it."""
    store = Store.open(settings)
    store.upsert_services([service("web")])
    store.record_placement("web", AWS, decision_id=None, at=T0)
    (incident_id,) = intake(store, payload([alert(service="web", starts_at=T0)])).incidents_opened
    base = decision("d-web-9", service="web", target=ALI, emergency=True)
    savings = base.savings.model_copy(
        update={"current_monthly_usd": 255.65, "target_monthly_usd": 285.87, "gross_monthly_usd": -30.22,
                "credits_offset_monthly_usd": 23.38, "migration_cost_usd": 2.4, "amortisation_months": 12.0,
                "net_monthly_usd": -30.22 + 23.38 - 0.2, "cost_delta_pct": 11.82}
    )  # fmt: skip
    d = base.model_copy(update={"savings": savings})
    store.save_decision(d)
    store.transition(d.id, _S.MR_OPENED)
    IncidentRepository(store).start_remediation(incident_id, d.id)

    cost = incident_report(store, incident_id)["cost_impact"]
    assert cost["monthly_impact_usd"] == pytest.approx(-savings.net_monthly_usd, abs=0.01) == 7.04
    parts = cost["list_price_change_usd"] - cost["credits_offset_usd"] + cost["migration_amortised_usd"]
    assert parts == pytest.approx(cost["monthly_impact_usd"], abs=1e-9)
    assert "net" in cost["definition"]

    key = ApiKeyRepository(store).create("viewer", Role.VIEWER)[1]
    with TestClient(create_app(settings, store=store)) as client:
        api = client.get(f"/incidents/{incident_id}", headers={"Authorization": f"Bearer {key}"})
    assert api.status_code == 200, api.text
    assert api.json()["cost_impact"] == cost
    shown = cli.invoke(cli_app, ["incident", "show", str(incident_id)])
    assert shown.exit_code == 0, shown.output
    line = next(x for x in shown.output.splitlines() if x.startswith("cost impact:"))
    assert line.startswith("cost impact: +$7.04/month net = list price $255.65 -> $285.87 (+$30.22"), line
    assert "credits +$23.38" in line and "migration $2.40 over 12 months (+$0.20)" in line
