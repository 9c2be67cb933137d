"""Demo data for the dashboard's screenshots, tests and benchmark: a real store filled by the real parts.

``seed_demo(home)`` builds a temporary platform the way ``swen up`` would fill it, only faster: the
real simulator writes telemetry (accelerated clock), the real engine loop stores its decisions, the
real committer opens merge requests on a real git remote and the real pipeline runs them with real
Terraform. An operator's choice of placement for the stateful ``orders-api`` (``swen place``) goes the
same way until the policy gate stops it for a person (``awaiting_approval``).
It also creates one viewer and one operator API key. Nothing here is a fake.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from swen.config import Settings
from swen.domain.clock import utcnow
from swen.domain.decision import DecisionStatus
from swen.domain.keys import Role
from swen.domain.models import Service
from swen.store.keys import ApiKeyRepository
from swen.store.repository import Store

if TYPE_CHECKING:
    from swen.telemetry.scenarios import Scenario


@dataclass(frozen=True)
class SeededPlatform:
    settings: Settings
    viewer_key: str
    operator_key: str
    waiting_mr_id: int | None
    samples: int
    decisions: int


def demo_settings(home: Path, **overrides: object) -> Settings:
    """Settings of a seeded platform in ``home`` (accelerated clock, local MR host, embedded SQLite)."""
    values: dict[str, object] = {"home": home, "sim_speed": 1e9, **overrides}
    return Settings(**values)  # type: ignore[arg-type]


VERIFY_STEPS = 4
"""Cycles simulated after an applied move so the engine can verify it (settings.verify_samples <= 4)."""


def _simulate(
    settings: Settings,
    store: Store,
    *,
    steps: int,
    interval_s: float,
    services: list[Service] | None,
    end: datetime,
) -> tuple[int, datetime]:
    """History at ``interval_s``, then one engine window at the normal interval; returns (samples, t)."""
    from swen.telemetry.runner import run_simulator

    recent = settings.window_size + 2
    window_start = end - timedelta(seconds=settings.sim_interval_s * (recent + VERIFY_STEPS))
    history = run_simulator(
        settings, store, start=window_start - timedelta(seconds=interval_s * steps), max_steps=steps,
        seed=11, interval_s=interval_s, services=services,
    )  # fmt: skip
    window = run_simulator(
        settings, store, start=window_start, max_steps=recent, seed=12, services=services,
        scenarios=demo_scenarios(services),
    )  # fmt: skip
    return history.samples + window.samples, window_start + timedelta(
        seconds=settings.sim_interval_s * recent
    )


DEMO_STATEFUL = "orders-api"
DEMO_SLO_MS = 120.0


def demo_fleet() -> list[Service]:
    """The packaged fleet, with the stateful ``orders-api`` allowed a 120 ms SLO so it *can* move.

    (Its packaged 30 ms SLO rules out every other region; with a price spike on its region, the
    demo shows a stateful move the policy gate hands to a person.)
    """
    from swen.telemetry.fleet import load_fleet

    return [
        s.model_copy(update={"latency_slo_ms": DEMO_SLO_MS}) if s.name == DEMO_STATEFUL else s
        for s in load_fleet()
    ]


def demo_scenarios(services: list[Service] | None) -> list[Scenario]:
    """A price spike on the stateful service's current region (only when that service is in the fleet)."""
    from swen.telemetry.scenarios import parse_scenario

    fleet = services if services is not None else []
    stateful = next((s for s in fleet if s.name == DEMO_STATEFUL), None)
    if stateful is None:
        return []
    spike = {
        "kind": "cost_spike",
        "provider": stateful.fleet_placement.provider,
        "region": stateful.fleet_placement.region,
        "service": stateful.name, "magnitude": 2.5, "duration_s": 30 * 86400.0, "name": "demo price spike",
    }  # fmt: skip
    return [parse_scenario(spike, label="demo")]


DEMO_OUTAGE_SERVICE = "search-api"


def alertmanager_outage(service: Service, at: datetime) -> dict[str, object]:
    """An Alertmanager v4 webhook (the shape Alertmanager 0.25 posts) firing ProviderOutage for
    ``service`` at its fleet placement."""
    where = service.fleet_placement
    labels = {
        "alertname": "ProviderOutage", "kind": "outage", "provider": where.provider, "region": where.region,
        "self_healing": "true", "service": service.name, "severity": "critical",
    }  # fmt: skip
    stamp = at.strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "version": "4", "groupKey": f"{{}}:{{alertname=\"ProviderOutage\", service=\"{service.name}\"}}",
        "truncatedAlerts": 0, "status": "firing", "receiver": "swen-platform",
        "groupLabels": {"alertname": "ProviderOutage", "service": service.name},
        "commonLabels": labels, "commonAnnotations": {"summary": f"{service.name}: ProviderOutage"},
        "externalURL": "http://alertmanager:9093",
        "alerts": [{
            "status": "firing", "labels": labels,
            "annotations": {"summary": f"{service.name}: ProviderOutage on {where.key}"},
            "startsAt": stamp, "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://prometheus:9090/graph?g0.expr=ProviderOutage",
            "fingerprint": "5e4f0d1c2b3a4958",
        }],
    }  # fmt: skip


def _rollback_waiting(settings: Settings, store: Store) -> None:
    """A person asked to roll back the demo's verified move: its rollback MR (moving back costs more)
    waits for a person at the policy gate, next to the stateful move."""
    from swen.moves.driver import MoveDriver

    verified = [
        d for d in store.list_decisions(status=DecisionStatus.VERIFIED, limit=50) if not d.decision.emergency
    ]
    if verified:
        MoveDriver(settings, store).rollback(verified[0].decision.id)


DEMO_CHOICE = "alibaba/us-west-1"
"""Where the demo's operator asks orders-api to go (a region its residency allows, with telemetry)."""


def _operator_choice(settings: Settings, store: Store, services: list[Service]) -> None:
    """An operator asks to move the stateful orders-api (``swen place orders-api alibaba/us-west-1``).

    Since issue 11 the engine proposes a stateful move only once its calibrated confidence passes
    0.70, which an advantage the seeded window has seen for a minute never reaches; a person's choice
    is the normal route such a move takes to a reviewer (stateful, and the engine did not choose it).
    """
    from swen.moves.choice import choose, parse_target
    from swen.moves.driver import MoveDriver
    from swen.telemetry.catalog import load_catalog

    if not any(s.name == DEMO_STATEFUL for s in services):
        return
    decision = choose(
        settings, store, load_catalog(), DEMO_STATEFUL, parse_target(DEMO_CHOICE),
        by="demo-operator", reason="the price spike on its region has lasted a week",
    )  # fmt: skip
    MoveDriver(settings, store).place(decision)


def _waiting_mr(store: Store) -> int | None:
    from swen.store.mrs import MergeRequestRepository

    for mr in MergeRequestRepository(store).list(limit=200):
        if mr.is_open and store.get_decision(mr.decision_id).status is DecisionStatus.AWAITING_APPROVAL:
            return mr.id
    return None


def _incident(
    settings: Settings, store: Store, loop: object, services: list[Service], t: datetime
) -> datetime:
    """An outage of one stateless service's region reported by Alertmanager, then the engine's
    self-healing at work for a few cycles (the Incidents tab's report)."""
    from swen.observability.alerts import intake
    from swen.telemetry.runner import run_simulator
    from swen.telemetry.scenarios import parse_scenario

    service = next((s for s in services if s.name == DEMO_OUTAGE_SERVICE), None)
    if service is None:
        return t
    where = service.fleet_placement
    outage = parse_scenario(
        {"kind": "outage", "provider": where.provider, "region": where.region, "service": service.name,
         "duration_s": 3600.0, "name": "demo outage"}, label="demo",
    )  # fmt: skip
    intake(store, alertmanager_outage(service, t))
    for _ in range(3):
        run_simulator(
            settings, store, start=t, max_steps=VERIFY_STEPS, seed=14, services=services, scenarios=[outage]
        )
        t += timedelta(seconds=settings.sim_interval_s * VERIFY_STEPS)
        loop.cycle()  # type: ignore[attr-defined]
    return t


def seed_demo(
    home: Path,
    *,
    steps: int = 60,
    interval_s: float = 600.0,
    services: list[Service] | None = None,
    act: bool = True,
    end: datetime | None = None,
    settings: Settings | None = None,
    incident: bool = True,
) -> SeededPlatform:
    """Fill a fresh store in ``home``: telemetry, decisions, merge requests, pipelines, API keys.

    ``steps`` simulator cycles ``interval_s`` apart, then one engine window at the normal interval,
    end at ``end`` (default: now), so "the last day" in the dashboard has data. The engine's
    recommendations go through git, the pipeline and Terraform: with the demo fleet, service-2's
    move is auto-approved, applied and then verified by the telemetry that follows; an operator's
    choice for the stateful orders-api waits for a person at the policy gate. ``services`` replaces
    the demo fleet;
    ``act=False`` keeps the engine advising only (no git, no Terraform: the benchmark's big fleet).
    ``incident`` (with ``act``) adds an Alertmanager outage of search-api that self-healing resolves
    by an emergency move, and a rollback MR of service-2's move waiting for a person.
    """
    from swen.gitops.repo import init_infra_repo
    from swen.loop import EngineLoop, gitops_actuator
    from swen.telemetry.runner import run_simulator

    home.mkdir(parents=True, exist_ok=True)
    settings = settings or demo_settings(home)
    services = services if services is not None else demo_fleet()
    finish = (end or utcnow()).replace(microsecond=0)
    with Store.open(settings) as store:
        samples, t = _simulate(
            settings, store, steps=steps, interval_s=interval_s, services=services, end=finish
        )
        if act:
            init_infra_repo(settings)
        loop = EngineLoop(settings, store, actuator=gitops_actuator(settings, store) if act else None)
        loop.cycle()
        samples += run_simulator(
            settings, store, start=t, max_steps=VERIFY_STEPS, seed=13, services=services
        ).samples
        loop.cycle()
        if act and incident:
            t = _incident(
                settings, store, loop, services, t + timedelta(seconds=settings.sim_interval_s * VERIFY_STEPS)
            )
        if act and incident:
            _rollback_waiting(settings, store)
        if act:
            _operator_choice(settings, store, services)
        mr_id = _waiting_mr(store)
        keys = ApiKeyRepository(store)
        viewer = keys.create("dashboard-viewer", Role.VIEWER)[1]
        operator = keys.create("dashboard-operator", Role.OPERATOR)[1]
        decisions = len(store.list_decisions(limit=1000))
    return SeededPlatform(settings, viewer, operator, mr_id, samples, decisions)
