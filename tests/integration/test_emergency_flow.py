"""The emergency flow without Prometheus: the engine's own detector, real git, real Terraform, SQLite.

An outage hits the current provider of a stateless service; in the same engine cycle the detector
opens an incident, the failing (provider, region) is quarantined, the engine picks the best healthy
candidate, the move goes through an ``emergency/...`` branch and the pipeline (the gate may override
its cost/confidence rules), and once the telemetry of the new placement is healthy for
``verify_samples`` samples the incident is resolved with its time to recovery.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from support.platform import Platform, make_platform
from swen.config import Settings
from swen.domain.decision import DecisionStatus
from swen.domain.events import EventType
from swen.domain.incidents import IncidentStatus
from swen.healing.quarantine import Quarantine
from swen.healing.remediation import NO_CANDIDATE_LIMIT
from swen.moves import automation
from swen.moves.choice import choose, parse_target
from swen.store.incidents import IncidentRepository
from swen.store.mrs import MergeRequestRepository, PipelineRepository
from swen.store.repository import Store
from swen.telemetry.catalog import load_catalog
from swen.telemetry.credit_file import load_credit_ledger
from swen.telemetry.fleet import load_fleet_file
from swen.telemetry.runner import run_simulator
from swen.telemetry.scenarios import Scenario, ScenarioKind

pytestmark = pytest.mark.skipif(shutil.which("terraform") is None, reason="needs terraform on PATH")

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
SERVICE = "service-3"
HOME = "alibaba/ap-southeast-1"


def _simulate(settings: Settings, store: Store, start: datetime, steps: int, *scenarios: Scenario,
              stateful: str | None = None) -> datetime:  # fmt: skip
    fleet = load_fleet_file(None, load_catalog())
    services = [s.model_copy(update={"stateful": s.name == stateful}) for s in fleet.services]
    run_simulator(settings, store, start=start, max_steps=steps, seed=11, scenarios=scenarios,
                  services=services, credits=load_credit_ledger().grants)  # fmt: skip
    return start + timedelta(seconds=settings.sim_interval_s * steps)


def _outage(service: str = SERVICE, provider: str = "alibaba", region: str = "ap-southeast-1") -> Scenario:
    return Scenario(kind=ScenarioKind.OUTAGE, provider=provider, region=region, service=service,
                    duration_s=3600)  # fmt: skip


@pytest.fixture
def platform(tmp_path: Path) -> Platform:
    return make_platform(
        tmp_path / "home", sync=False, loop=True, sim_speed=1e9, verify_samples=3, quarantine_s=900
    )


def test_an_outage_is_detected_moved_verified_and_resolved(
    platform: Platform,
) -> None:
    settings, store, loop = platform.settings, platform.store, platform.loop
    t = _simulate(settings, store, T0, settings.window_size + 2)
    loop.cycle()  # warm-up (service-2 gets its ordinary recommendation here)
    start = store.get_placements()[SERVICE]
    assert start.key == HOME

    t = _simulate(settings, store, t, 1, _outage())
    report = loop.cycle()
    assert not report.errors, report.errors
    incidents = IncidentRepository(store)
    (incident,) = incidents.list(service=SERVICE)
    assert (incident.source, incident.kind, incident.provider) == ("engine", "outage", "alibaba")
    assert incident.status is IncidentStatus.REMEDIATING and incident.id in report.incidents_remediating
    decision = store.get_decision(str(incident.decision_id)).decision
    assert decision.emergency and decision.current == start and decision.target != start
    assert store.get_placements()[SERVICE] == decision.target
    # the failing region is quarantined for everybody for SWEN_QUARANTINE_S (simulated time)
    (entry,) = Quarantine(store).entries(t)
    assert (entry.service, entry.placement, entry.incident_id) == ("*", HOME, incident.id)
    assert entry.until == t - timedelta(seconds=settings.sim_interval_s) + timedelta(seconds=900)

    mr = next(m for m in MergeRequestRepository(store).list() if m.decision_id == decision.id)
    assert mr.branch.startswith(f"emergency/{SERVICE}-{decision.target.provider}-")
    origin = Path(settings.infra_remote_url)
    branches = subprocess.run(["git", "-C", str(origin), "branch", "--format=%(refname:short)"],
                              capture_output=True, text=True, check=True).stdout.split()  # fmt: skip
    assert mr.branch in branches
    run = PipelineRepository(store).latest_run(mr.id)
    assert run is not None and run.policy_result is not None
    assert run.policy_result["outcome"] == "auto_approve"
    assert run.policy_result["input"]["decision"]["emergency"] is True

    _simulate(settings, store, t, settings.verify_samples + 1, _outage())
    report = loop.cycle()
    assert store.get_decision(decision.id).status is DecisionStatus.VERIFIED
    resolved = incidents.get(incident.id)
    assert resolved.status is IncidentStatus.RESOLVED and incident.id in report.incidents_resolved
    assert resolved.time_to_recovery_s is not None and resolved.time_to_recovery_s > 0
    assert resolved.resolved_at is not None and resolved.resolved_at > resolved.opened_at
    # the cooldown counts from the simulated time of the move, not the pipeline's wall-clock stamp
    moved_at = store.placement_records()[SERVICE].applied_at  # the platform clock (telemetry time)
    assert T0 < moved_at <= t
    # one emergency, no second move although the outage on its old placement goes on
    emergencies = [d for d in store.list_decisions(service=SERVICE) if d.decision.emergency]
    assert [d.decision.id for d in emergencies] == [decision.id]
    assert store.verify_audit().ok


def test_paused_automation_records_the_emergency_and_acts_once_resumed(
    platform: Platform,
) -> None:
    settings, store, loop = platform.settings, platform.store, platform.loop
    t = _simulate(settings, store, T0, settings.window_size + 2)
    loop.cycle()
    automation.set_paused(store, True, by="oncall", reason="maintenance")
    t = _simulate(settings, store, t, 1, _outage())
    loop.cycle()
    (incident,) = IncidentRepository(store).list(service=SERVICE)
    assert incident.status is IncidentStatus.OPEN
    (proposed,) = [d for d in store.list_decisions(service=SERVICE) if d.decision.emergency]
    assert proposed.status is DecisionStatus.PROPOSED
    assert store.get_placements()[SERVICE].key == HOME

    automation.set_paused(store, False, by="oncall")
    _simulate(settings, store, t, 1, _outage())
    loop.cycle()
    assert store.get_decision(proposed.decision.id).status is DecisionStatus.APPLIED
    assert IncidentRepository(store).get(incident.id).status is IncidentStatus.REMEDIATING
    actions = [e.payload["action"] for e in store.events_after(0, types=[EventType.AUTOMATION])]
    assert actions == ["paused", "resumed"]


def test_a_stateful_service_waits_for_a_person(platform: Platform) -> None:
    settings, store, loop = platform.settings, platform.store, platform.loop
    t = _simulate(settings, store, T0, settings.window_size + 2, stateful=SERVICE)
    loop.cycle()
    _simulate(settings, store, t, 1, _outage(), stateful=SERVICE)
    loop.cycle()
    (incident,) = IncidentRepository(store).list(service=SERVICE)
    stored = store.get_decision(str(incident.decision_id))
    assert stored.decision.emergency and stored.decision.stateful
    assert stored.status is DecisionStatus.AWAITING_APPROVAL
    assert store.get_placements()[SERVICE].key == HOME
    assert IncidentRepository(store).get(incident.id).details["awaiting_person"] is True
    notes = [e.payload for e in store.events_after(0, types=[EventType.NOTIFICATION]) if e.service == SERVICE]
    assert any(n["status"] == "awaiting_approval" for n in notes)


def test_a_failed_move_with_no_candidate_left_escalates_to_a_person(
    platform: Platform,
) -> None:
    """The target goes down too: the move fails verification, its target is quarantined for the
    service, no healthy candidate is left, and after NO_CANDIDATE_LIMIT cycles a person is asked."""
    settings, store, loop = platform.settings, platform.store, platform.loop
    t = _simulate(settings, store, T0, settings.window_size + 2)
    loop.cycle()
    t = _simulate(settings, store, t, 1, _outage())
    loop.cycle()
    (first,) = IncidentRepository(store).list(service=SERVICE)
    moved_to = store.get_placements()[SERVICE]
    both = (_outage(), _outage(provider=moved_to.provider, region=moved_to.region))
    for _ in range(settings.verify_samples + NO_CANDIDATE_LIMIT + 1):
        t = _simulate(settings, store, t, 1, *both)
        loop.cycle()
    decision = store.get_decision(str(first.decision_id))
    assert decision.status is DecisionStatus.FAILED
    incidents = IncidentRepository(store).list(service=SERVICE)
    assert {i.provider for i in incidents} == {"alibaba", moved_to.provider}
    assert all(i.status is IncidentStatus.ESCALATED for i in incidents)
    assert all("no healthy candidate" in i.details["escalation_reason"] for i in incidents)
    # the reason names commands that exist, with real arguments: the rollback of the decision that
    # moved the service, and `swen place` with the candidates the engine considered
    reason = incidents[0].details["escalation_reason"]
    assert "DECISION" not in reason and "choose a placement" in reason, reason
    assert f"`swen rollback {decision.decision.id}` (puts {decision.decision.current.key} back)" in reason
    suggested = re.findall(rf"`swen place {SERVICE} ([a-z0-9-]+/[a-z0-9-]+)`", reason)
    assert suggested, reason
    for key in suggested:  # each suggestion is a placement `swen place` accepts
        chosen = choose(settings, store, load_catalog(), SERVICE, parse_target(key), by="test")
        assert chosen.target.key == key and chosen.current == moved_to
    first = IncidentRepository(store).get(first.id)
    assert first.details["failures"][0]["target"] == moved_to.key
    assert (SERVICE, moved_to.key) in [(q.service, q.placement) for q in Quarantine(store).entries(t)]
    notes = [e.payload for e in store.events_after(0, types=[EventType.NOTIFICATION]) if e.service == SERVICE]
    assert [n["status"] for n in notes].count("escalated") == 2
    # held: nothing moves the service any more, even though it is still down where it is
    _simulate(settings, store, t, 2, *both)
    loop.cycle()
    assert store.get_placements()[SERVICE] == moved_to
    assert [d.decision.id for d in store.list_decisions(service=SERVICE) if d.decision.emergency] == [
        decision.decision.id
    ]
