"""`swen up`'s log of platform events: one readable line per event that matters, from the audit log as
the platform's own code writes it (lifecycle, merge requests, incidents, automation, scenarios)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from swen.config import Settings
from swen.domain.decision import Confidence, Decision, DecisionAction, FactorScores, ProviderScore, Savings
from swen.domain.events import EventType
from swen.domain.merge_requests import MRKind
from swen.domain.models import Placement, Weights
from swen.moves import automation
from swen.moves.lifecycle import Lifecycle
from swen.observability.platform_log import EventTail, event_line
from swen.store.incidents import IncidentRepository
from swen.store.mrs import MergeRequestRepository
from swen.store.records import EventRecord
from swen.store.repository import Store
from swen.telemetry.scenarios import inject_scenario, parse_scenario

HERE = Placement(provider="aws", region="us-east-1")
THERE = Placement(provider="alibaba", region="us-west-1")
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _decision(decision_id: str, *, confidence: float = 0.75, emergency: bool = False) -> Decision:
    score = ProviderScore(
        placement=THERE, rank=1,
        factors=FactorScores(cost=0.9, latency=0.8, credits=0.5, availability=1.0),
        contributions=FactorScores(cost=0.36, latency=0.2, credits=0.1, availability=0.15),
        total=0.81, monthly_cost_usd=990.0, latency_ms=40.0, credits_usd=0.0, availability=0.999,
        gpu_availability=1.0, instance_type="ecs.g7.xlarge", simulated_price=True,
    )  # fmt: skip
    return Decision(
        id=decision_id, service="service-2", created_at=T0, action=DecisionAction.MIGRATE,
        current=HERE, target=THERE, ranking=(score,), excluded=(), emergency=emergency,
        confidence=Confidence(value=confidence, margin=0.29, margin_term=0.8, stability=0.5,
                              stability_cycles=5, stability_window=10, freshness=1.0),
        savings=Savings(current_monthly_usd=1120.0, target_monthly_usd=990.0, gross_monthly_usd=130.0,
                        credits_offset_monthly_usd=0.0, migration_cost_usd=2.0, amortisation_months=6.0,
                        net_monthly_usd=106.0, cost_delta_pct=-11.6),
        weights=Weights(), explanation="cheaper",
    )  # fmt: skip


@pytest.fixture
def store(swen_home: Path) -> Iterator[Store]:
    with Store.open(Settings(home=swen_home)) as s:
        yield s


def _open_mr(store: Store, decision: Decision, branch: str) -> int:
    lifecycle = Lifecycle(store)
    lifecycle.proposed(decision)
    mr = MergeRequestRepository(store).create(
        decision_id=decision.id, service=decision.service, branch=branch, host="local",
        title="move", description="", kind=MRKind.MIGRATION,
    )  # fmt: skip
    lifecycle.opened(decision.id, mr)
    lifecycle.pipeline_started(decision.id, mr_id=mr.id, run_id=1)
    return mr.id


def _texts(lines: list[str]) -> list[str]:
    """The lines without their time (checked on its own)."""
    for line in lines:
        assert re.fullmatch(r"\d\d:\d\d:\d\d ", line[:9]), line
    return [line[9:] for line in lines]


def test_a_move_a_person_approves_reads_as_lines(store: Store) -> None:
    tail = EventTail(store)
    lifecycle = Lifecycle(store)
    decision = _decision("dec-1")
    mr_id = _open_mr(store, decision, "ai-rec/service-2-alibaba-1")
    reasons = ["confidence_too_low: confidence 0.750 is not above 0.85"]
    lifecycle.gate_decided(decision.id, outcome="manual_review", mr_id=mr_id, reasons=reasons)
    lifecycle.approve_review(MergeRequestRepository(store).get(mr_id), by="alice")
    lifecycle.applied(decision.id, service="service-2", placement=THERE, mr_id=mr_id)
    lifecycle.verified(decision.id, {"healthy_samples": 3, "placement": THERE.key})

    assert _texts(tail.poll()) == [
        "decision  service-2 aws/us-east-1 -> alibaba/us-west-1: 12 % cheaper (-$130/month), confidence 0.75",
        "mr        service-2 MR 1 opened (ai-rec/service-2-alibaba-1)",
        "gate      service-2 MR 1 waits for a person: confidence_too_low: confidence 0.750 is not above 0.85"
        " (approve: swen mr approve 1)",
        "approval  service-2 MR 1 approved by alice",
        "applied   service-2 now runs on alibaba/us-west-1 (MR 1)",
        "verified  service-2 healthy on alibaba/us-west-1 (3 healthy samples)",
    ]
    assert tail.poll() == []  # each event once


def test_a_persons_choice_says_who_chose_it(store: Store) -> None:
    tail = EventTail(store)
    chosen = _decision("op-1", confidence=0.0).model_copy(update={"chosen_by": "alice"})
    Lifecycle(store).proposed(chosen)
    assert _texts(tail.poll()) == [
        "decision  service-2 chosen by alice: aws/us-east-1 -> alibaba/us-west-1: 12 % cheaper "
        "(-$130/month), confidence 0.00"
    ]


def test_the_tail_starts_at_the_end_of_the_log(store: Store) -> None:
    Lifecycle(store).proposed(_decision("dec-old"))
    tail = EventTail(store)
    assert tail.poll() == []
    automation.set_paused(store, True, by="bob", reason="freeze")
    assert _texts(tail.poll()) == [
        "automation paused by bob: freeze (no automatic applies until `swen automation resume`)"
    ]


def test_gate_verdicts_failures_and_rejections(store: Store) -> None:
    tail = EventTail(store)
    lifecycle = Lifecycle(store)
    auto = _decision("dec-auto", confidence=0.95)
    auto_mr = _open_mr(store, auto, "b-auto")
    lifecycle.gate_decided(auto.id, outcome="auto_approve", mr_id=auto_mr, reasons=["confidence_ok"])
    lifecycle.failed(auto.id, {"reason": "p95 latency 300 ms above the SLO", "placement": THERE.key})
    denied = _decision("dec-deny", emergency=True)
    denied_mr = _open_mr(store, denied, "b-deny")
    lifecycle.gate_decided(denied.id, outcome="deny", mr_id=denied_mr, reasons=["stateful service"])
    rejected = _decision("dec-reject")
    rejected_mr = _open_mr(store, rejected, "b-reject")
    lifecycle.gate_decided(rejected.id, outcome="manual_review", mr_id=rejected_mr, reasons=[])
    lifecycle.rejected(rejected.id, by="carol", reason="not before the launch", mr_id=rejected_mr)
    all_texts = _texts(tail.poll())
    assert "decision  service-2 EMERGENCY move aws/us-east-1 -> alibaba/us-west-1: 12 % cheaper" in "\n".join(
        all_texts
    )
    texts = [t for t in all_texts if not t.startswith(("decision", "mr "))]
    assert texts == [
        "gate      service-2 MR 1 approved by the policy (auto-approve)",
        "failed    service-2 move failed: p95 latency 300 ms above the SLO",
        "gate      service-2 MR 2 denied by the policy: stateful service",
        "gate      service-2 MR 3 waits for a person (approve: swen mr approve 3)",
        "rejected  service-2 MR 3 rejected by carol: not before the launch",
    ]


def test_a_pipeline_failure_is_one_line(store: Store) -> None:
    """A failed run records the decision's failure and the run's: one line (the run's, with the hint)."""
    tail = EventTail(store)
    lifecycle = Lifecycle(store)
    decision = _decision("dec-fail", confidence=0.95)
    mr_id = _open_mr(store, decision, "b-fail")
    detail = {"mr_id": mr_id, "run_id": 1, "stage": "plan", "error": "terraform plan failed"}
    lifecycle.failed(decision.id, detail)
    store.append_event(  # as pipeline.runner.PipelineRunner._fail appends it
        EventType.PIPELINE,
        {"action": "run_failed", **detail, "hint": "see `swen pipeline show 1`"},
        service=decision.service,
        decision_id=decision.id,
    )
    texts = [t for t in _texts(tail.poll()) if t.startswith("failed")]
    assert texts == [
        "failed    service-2 MR 1 pipeline run 1: stage plan failed: terraform plan failed "
        "(see `swen pipeline show 1`)"
    ]


def test_incidents_and_scenarios(store: Store) -> None:
    tail = EventTail(store)
    repo = IncidentRepository(store)
    first, _ = repo.open_incident(
        service="service-2", provider="aws", region="us-east-1", kind="outage", source="engine", at=T0
    )
    repo.start_remediation(first.id, "dec-9")
    repo.resolve(first.id, ttr=150.0, reason="moved away")
    second, _ = repo.open_incident(
        service="service-3", provider="alibaba", region=None, kind="latency", source="alertmanager", at=T0
    )
    repo.set_kind(second.id, "outage", because="alert ProviderOutage")
    repo.escalate(second.id, "loop guard: 3 remediations in an hour")
    automation.set_paused(store, False, by="dave")
    inject_scenario(
        store,
        parse_scenario(
            {"kind": "outage", "provider": "aws", "region": "us-east-1", "duration_s": 600}, label="t"
        ),
    )
    assert _texts(tail.poll()) == [
        "incident  service-2 incident 1 opened: outage on aws/us-east-1 (seen by engine)",
        "incident  service-2 incident 1: moving away (decision dec-9)",
        "incident  service-2 incident 1 resolved after 2 min: moved away",
        "incident  service-3 incident 2 opened: latency on alibaba/* (seen by alertmanager)",
        "incident  service-3 incident 2 is now an outage incident (was latency; alert ProviderOutage)",
        "escalation service-3 incident 2 handed to a person: loop guard: 3 remediations in an hour",
        "automation resumed by dave",
        "scenario  outage on aws/us-east-1 for 10 min injected",
    ]


def test_noisy_events_make_no_line() -> None:
    for type_ in (EventType.TELEMETRY_CYCLE, EventType.ENGINE_CYCLE, EventType.NOTIFICATION, EventType.LOCK):
        event = EventRecord(id=1, ts=T0, type=type_.value, service=None, decision_id=None, payload={})
        assert event_line(event) is None
    stage = {"action": "stage", "stage": "plan", "status": "success", "mr_id": 1, "run_id": 1}
    event = EventRecord(
        id=2, ts=T0, type=EventType.PIPELINE.value, service="s", decision_id="d", payload=stage
    )
    assert event_line(event) is None


def test_the_time_is_the_events_local_time() -> None:
    payload = {"action": "paused", "by": "x", "reason": ""}
    event = EventRecord(
        id=1, ts=T0, type=EventType.AUTOMATION.value, service=None, decision_id=None, payload=payload
    )
    line = event_line(event)
    assert line is not None and line.startswith(
        T0.astimezone().strftime("%H:%M:%S") + " automation paused by x"
    )


def test_a_catalog_refresh_is_one_line(store: Store) -> None:
    from swen.telemetry.price_versions import ensure_recorded

    tail = EventTail(store)
    ensure_recorded(store)
    assert _texts(tail.poll()) == [
        f"catalog   prices version 1 active: aws, gcp prices from swen/data/prices.csv (packaged) (sha256 "
        f"{ensure_recorded(store).sha256[:12]})"
    ]
