"""The Healer without git: planning from incidents, guards and escalation, follow-up after verification."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from support.alertmanager import alert, payload
from support.builders import T0, decision, placement, service
from swen.config import Settings
from swen.domain.decision import DecisionStatus
from swen.domain.events import EventType
from swen.domain.incidents import IncidentStatus
from swen.healing.quarantine import Quarantine
from swen.healing.remediation import Healer, HealingPlan
from swen.observability.alerts import intake
from swen.observability.metrics import build_registry
from swen.store.incidents import IncidentRepository
from swen.store.repository import Store
from swen.store.state import StoredVerification

_S = DecisionStatus
AWS, ALI, GCP = placement("aws/us-east-1"), placement("alibaba/us-west-1"), placement("gcp/us-central1")
TO_APPLIED = (_S.MR_OPENED, _S.PIPELINE_RUNNING, _S.APPROVED, _S.APPLIED)


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    """Every test here runs on SQLite and on PostgreSQL."""
    return Settings(home=tmp_path, database_url=database_url, quarantine_s=600, max_remediations_per_hour=3)


@pytest.fixture
def store(settings: Settings) -> Store:
    s = Store.open(settings)
    s.upsert_services([service("web"), service("api")])
    s.record_placement("web", AWS, decision_id=None, at=T0)
    s.record_placement("api", AWS, decision_id=None, at=T0)
    return s


def advance(store: Store, decision_id: str, *steps: DecisionStatus, detail: dict | None = None) -> None:  # type: ignore[type-arg]
    for step in steps:
        store.transition(decision_id, step, detail=detail)


def placements(store: Store):  # type: ignore[no-untyped-def]
    return store.get_placements()


def test_an_outage_alert_becomes_an_emergency_and_quarantines_the_region_for_everyone(
    settings: Settings, store: Store
) -> None:
    result = intake(store, payload([alert(service="web")]))
    healer = Healer(settings, store)
    plan = healer.plan(["web", "api"], placements(store), T0)
    assert plan.emergency == {"web"} and plan.incidents == {"web": result.incidents_opened}
    # api runs on aws/us-east-1 too: the wildcard does not push it out, only keeps others from coming
    assert ("api", "aws/us-east-1") not in plan.quarantined
    assert ("web", "aws/us-east-1") not in plan.quarantined
    (entry,) = Quarantine(store).entries(T0)
    assert (entry.service, entry.placement) == ("*", "aws/us-east-1")
    assert entry.until == T0 + timedelta(seconds=600)
    # planning again does not quarantine twice (and the expiry is in simulated time)
    healer.plan(["web", "api"], placements(store), T0 + timedelta(seconds=30))
    assert Quarantine(store).entries(T0 + timedelta(seconds=600)) == []


def test_a_chronic_latency_alert_rides_the_ordinary_migration(settings: Settings, store: Store) -> None:
    """HighLatency from Prometheus alone (no engine anomaly): not an emergency, no quarantine."""
    intake(store, payload([alert("HighLatency", service="web", kind="latency")]))
    healer = Healer(settings, store)
    plan = healer.plan(["web", "api"], placements(store), T0)
    assert plan.emergency == set() and Quarantine(store).entries(T0) == []
    (incident,) = IncidentRepository(store).list(service="web")
    assert incident.status is IncidentStatus.OPEN and incident.details["waiting_for_engine"] is True

    ordinary = decision("d-web-1", service="web", target=ALI, emergency=False, created_at=T0)
    store.save_decision(ordinary)  # the engine's ordinary recommendation
    plan = healer.plan(["web", "api"], placements(store), T0 + timedelta(seconds=5))
    assert plan.emergency == set()
    incident = IncidentRepository(store).get(incident.id)
    assert incident.status is IncidentStatus.REMEDIATING and incident.decision_id == "d-web-1"
    assert incident.details["mode"] == "ordinary"


def test_an_engine_latency_anomaly_is_an_emergency_quarantining_only_that_service(
    settings: Settings, store: Store
) -> None:
    IncidentRepository(store).open_incident(
        service="web", provider="aws", region="us-east-1", kind="latency", source="engine", at=T0,
        details={"anomalies": {"latency_spike": "firing"}},
    )  # fmt: skip
    plan = Healer(settings, store).plan(["web", "api"], placements(store), T0)
    assert plan.emergency == {"web"}
    assert [(e.service, e.placement) for e in Quarantine(store).entries(T0)] == [("web", "aws/us-east-1")]
    assert plan.quarantined == [("web", "aws/us-east-1")]


def test_verification_resolves_with_time_to_recovery_in_simulated_time(
    settings: Settings, store: Store
) -> None:
    result = intake(store, payload([alert(service="web", starts_at=T0)]))
    healer = Healer(settings, store)
    plan = healer.plan(["web", "api"], placements(store), T0)
    d = decision("d-web-1", service="web", target=ALI, emergency=True, created_at=T0 + timedelta(seconds=5))
    store.save_decision(d)
    advance(store, d.id, *TO_APPLIED)
    assert healer.started(d, plan, T0 + timedelta(seconds=5)) == result.incidents_opened
    assert healer.follow_up(plan, None, T0 + timedelta(seconds=10)).resolved == []
    advance(store, d.id, _S.VERIFIED)
    store.save_state(StoredVerification(last_ts=T0 + timedelta(seconds=42)), decision_id=d.id)
    done = healer.follow_up(plan, None, T0 + timedelta(seconds=60))
    (incident_id,) = result.incidents_opened
    assert done.resolved == [incident_id]
    incident = IncidentRepository(store).get(incident_id)
    assert incident.status is IncidentStatus.RESOLVED and incident.time_to_recovery_s == 42.0


def test_a_failed_attempt_quarantines_its_target_and_asks_for_the_next_candidate(
    settings: Settings, store: Store
) -> None:
    intake(store, payload([alert(service="web")]))
    healer = Healer(settings, store)
    plan = healer.plan(["web", "api"], placements(store), T0)
    d = decision("d-web-1", service="web", target=ALI, emergency=True, created_at=T0)
    store.save_decision(d)
    advance(store, d.id, *TO_APPLIED)
    healer.started(d, plan, T0)
    store.record_placement("web", ALI, decision_id=d.id, at=T0)
    advance(store, d.id, _S.FAILED, detail={"reason": "unhealthy after the move: availability 0.2"})
    done = healer.follow_up(plan, None, T0 + timedelta(seconds=20))
    (incident,) = IncidentRepository(store).list(service="web")
    assert done.retried == [incident.id] and incident.details["retry"] is True
    assert ("web", "alibaba/us-west-1") in [(e.service, e.placement) for e in Quarantine(store).entries(T0)]
    # the next plan asks for an emergency again (from where the service is now), and the guards
    # allow the next candidate but refuse to go back to aws
    plan = healer.plan(["web", "api"], placements(store), T0 + timedelta(seconds=25))
    assert plan.emergency == {"web"} and plan.incidents == {"web": [incident.id]}
    onward = decision("d-web-2", service="web", current=ALI, target=GCP, emergency=True, created_at=T0)
    homeward = decision("d-web-3", service="web", current=ALI, target=AWS, emergency=True, created_at=T0)
    assert healer.admit(onward, plan, T0 + timedelta(seconds=25)).allowed
    back = healer.admit(homeward, plan, T0 + timedelta(seconds=25))
    assert not back.allowed and back.code == "ping_pong"
    assert IncidentRepository(store).get(incident.id).status is IncidentStatus.ESCALATED


def test_the_attempt_limit_escalates_with_an_event_a_notification_and_the_metric(
    settings: Settings, store: Store
) -> None:
    intake(store, payload([alert(service="web")]))
    healer = Healer(settings, store)
    plan = healer.plan(["web", "api"], placements(store), T0)
    for n, target in enumerate((ALI, GCP, ALI), start=1):
        d = decision(
            f"d-web-{n}", service="web", target=target, emergency=True, created_at=T0 + timedelta(minutes=n)
        )
        store.save_decision(d)
        advance(store, d.id, _S.MR_OPENED, _S.FAILED)
    fourth = decision("d-web-9", service="web", target=GCP, emergency=True, created_at=T0)
    verdict = healer.admit(fourth, plan, T0 + timedelta(minutes=10))
    assert not verdict.allowed and verdict.code == "attempt_limit"
    (incident,) = IncidentRepository(store).list(service="web")
    assert incident.status is IncidentStatus.ESCALATED
    assert "3 remediation attempts" in incident.details["escalation_reason"]
    # the only other candidate is on GCP, which cannot be applied: the command with where to look
    assert incident.details["escalation_reason"].endswith(
        "choose a placement with `swen place web PROVIDER/REGION` (no candidate meets the service's "
        "constraints now: see `swen explain web`)"
    )
    events = store.events_after(0, types=[EventType.INCIDENT, EventType.NOTIFICATION])
    assert any(e.payload.get("action") == "escalated" for e in events)
    assert any(e.type == "notification" and e.payload["status"] == "escalated" for e in events)
    text = {m.name: m for m in build_registry(store).registry.collect()}["swen_remediation_escalated"]
    assert {s.labels["service"]: s.value for s in text.samples}["web"] == 1.0
    # held from now on: no emergency for the service, and admit refuses without a second escalation
    plan = healer.plan(["web", "api"], placements(store), T0 + timedelta(minutes=11))
    assert plan.held == {"web"} and plan.emergency == set()
    fifth = decision("d-web-10", service="web", target=GCP, emergency=True, created_at=T0)
    assert healer.admit(fifth, plan, T0 + timedelta(minutes=11)).code == "escalated"


def test_a_rejected_emergency_escalates(settings: Settings, store: Store) -> None:
    intake(store, payload([alert(service="web")]))
    healer = Healer(settings, store)
    plan = healer.plan(["web", "api"], placements(store), T0)
    d = decision("d-web-1", service="web", target=ALI, emergency=True, created_at=T0)
    store.save_decision(d)
    advance(store, d.id, _S.MR_OPENED, _S.PIPELINE_RUNNING, _S.AWAITING_APPROVAL)
    healer.started(d, plan, T0)
    healer.follow_up(plan, None, T0)
    (incident,) = IncidentRepository(store).list(service="web")
    assert incident.details["awaiting_person"] is True
    advance(store, d.id, _S.REJECTED, detail={"by": "alice"})
    assert healer.follow_up(plan, None, T0).escalated == [incident.id]
    reason = IncidentRepository(store).get(incident.id).details["escalation_reason"]
    assert "rejected by alice" in reason
    # web runs where the fleet put it (no decision moved it): nothing to roll back; the candidate
    # the engine ranked is offered as a real command
    assert "swen rollback" not in reason and "DECISION" not in reason
    assert reason.endswith("a person decides: choose a placement: `swen place web alibaba/us-west-1`")
    note = store.events_after(0, types=[EventType.NOTIFICATION])[-1].payload
    assert "`swen place web alibaba/us-west-1`" in note["text"] and "swen incident resolve" in note["text"]


def test_an_escalation_offers_the_rollback_of_the_move_that_placed_the_service(
    settings: Settings, store: Store
) -> None:
    moved = decision("d-web-0", service="web", target=ALI, created_at=T0 - timedelta(hours=2))
    store.save_decision(moved)
    advance(store, moved.id, *TO_APPLIED, _S.VERIFIED)
    store.record_placement("web", ALI, decision_id=moved.id, at=T0 - timedelta(hours=1))
    intake(store, payload([alert(service="web", provider="alibaba", region="us-west-1")]))
    healer = Healer(settings, store)
    healer.escalate(IncidentRepository(store).list(service="web"), "loop guard", T0)
    (incident,) = IncidentRepository(store).list(service="web")
    reason = incident.details["escalation_reason"]
    assert reason.startswith("loop guard; a person decides: roll back with `swen rollback d-web-0` "
                             "(puts aws/us-east-1 back), or choose a placement: "), reason  # fmt: skip
    # the engine's candidates other than where it runs now; gcp (no Terraform module) never
    assert "`swen place web aws/us-east-1`" in reason and "gcp" not in reason


def test_an_alert_about_a_placement_already_left_attaches_to_the_move(
    settings: Settings, store: Store
) -> None:
    d = decision("d-web-1", service="web", target=ALI, emergency=True, created_at=T0)
    store.save_decision(d)
    advance(store, d.id, *TO_APPLIED)
    store.record_placement("web", ALI, decision_id=d.id, at=T0)
    intake(store, payload([alert(service="web")]))  # Prometheus is late: the engine already moved web off aws
    healer = Healer(settings, store)
    plan = healer.plan(["web", "api"], placements(store), T0)
    assert plan.emergency == set()
    (incident,) = IncidentRepository(store).list(service="web")
    assert incident.status is IncidentStatus.REMEDIATING and incident.decision_id == d.id
    # an alert about api's old placement when a person moved it: nothing to remediate, closed
    store.record_placement("api", GCP, decision_id=None, at=T0)
    result = intake(store, payload([alert(service="api")]))
    healer.plan(["web", "api"], placements(store), T0)
    assert IncidentRepository(store).get(result.incidents_opened[0]).status is IncidentStatus.RESOLVED


def test_superseded_attempts_hand_the_incident_to_the_newer_decision(
    settings: Settings, store: Store
) -> None:
    intake(store, payload([alert(service="web")]))
    healer = Healer(settings, store)
    plan = healer.plan(["web", "api"], placements(store), T0)
    old = decision("d-web-1", service="web", target=ALI, emergency=True, created_at=T0)
    new = decision("d-web-2", service="web", target=GCP, emergency=True, created_at=T0)
    store.save_decision(old)
    store.save_decision(new)
    advance(store, old.id, _S.MR_OPENED)
    healer.started(old, plan, T0)
    advance(store, old.id, _S.SUPERSEDED, detail={"by_decision": new.id})
    healer.follow_up(HealingPlan(), None, T0)
    (incident,) = IncidentRepository(store).list(service="web")
    assert incident.decision_id == new.id


def test_a_failed_ordinary_move_waits_for_the_next_move_instead_of_an_emergency(
    settings: Settings, store: Store
) -> None:
    intake(store, payload([alert("HighLatency", service="web", kind="latency")]))
    healer = Healer(settings, store)
    ordinary = decision("d-web-1", service="web", target=ALI, emergency=False, created_at=T0)
    store.save_decision(ordinary)
    plan = healer.plan(["web", "api"], placements(store), T0)
    advance(store, ordinary.id, *TO_APPLIED)
    store.record_placement("web", ALI, decision_id=ordinary.id, at=T0)
    advance(store, ordinary.id, _S.FAILED, detail={"reason": "unhealthy after the move: p95 above the SLO"})
    healer.follow_up(plan, None, T0 + timedelta(seconds=20))
    plan = healer.plan(["web", "api"], placements(store), T0 + timedelta(seconds=25))
    assert plan.emergency == set()
    (incident,) = IncidentRepository(store).list(service="web")
    assert incident.decision_id == ordinary.id and incident.details["retry"] is True
    following = decision(
        "d-web-2",
        service="web",
        current=ALI,
        target=GCP,
        emergency=False,
        created_at=T0 + timedelta(seconds=30),
    )
    store.save_decision(following)
    healer.plan(["web", "api"], placements(store), T0 + timedelta(seconds=30))
    incident = IncidentRepository(store).get(incident.id)
    assert incident.decision_id == following.id and incident.details["retry"] is False
