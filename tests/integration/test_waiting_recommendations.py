"""One move, one merge request (issue 11): a clear winner is proposed once, on the route its evidence
suits; a recommendation waiting for a person is withdrawn when the move stops paying (real git, real
Terraform, the real gate)."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from support.platform import Platform, make_platform
from swen.config import Settings
from swen.domain.decision import DecisionStatus
from swen.domain.merge_requests import MRState
from swen.store.mrs import MergeRequestRepository
from swen.store.repository import Store
from swen.telemetry.fleet import default_fleet_path
from swen.telemetry.runner import run_simulator
from swen.telemetry.scenarios import Scenario, ScenarioKind

pytestmark = pytest.mark.skipif(shutil.which("terraform") is None, reason="needs terraform on PATH")

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


@pytest.fixture
def platform(tmp_path: Path) -> Platform:
    return make_platform(tmp_path / "home", sync=False, loop=True, sim_speed=1e9)


def _stateful_service2(tmp_path: Path, **settings: Any) -> Platform:
    data = yaml.safe_load(default_fleet_path().read_text(encoding="utf-8"))
    for svc in data["services"]:
        if svc["name"] == "service-2":
            svc["stateful"] = True
            svc["state_gb"] = 1.0
    fleet = tmp_path / "fleet.yaml"
    fleet.write_text(yaml.safe_dump(data), encoding="utf-8")
    return make_platform(
        tmp_path / "home", sync=False, loop=True, sim_speed=1e9, fleet_file=fleet, **settings
    )


@pytest.fixture
def stateful_platform(tmp_path: Path) -> Platform:
    """service-2 stateful: its move always needs a person, so it waits for review. Its p95 on
    aws/us-east-1 breaks its 60 ms SLO: the move is an SLO repair (docs/ENGINE.md)."""
    return _stateful_service2(tmp_path)


@pytest.fixture
def stateful_no_dearer_repair(tmp_path: Path) -> Platform:
    """The same, with repairs allowed only when they cost no more than staying
    (``max_repair_cost_pct`` 0): a repair that becomes dearer stops being wanted."""
    return _stateful_service2(tmp_path, max_repair_cost_pct=0.0)


def _step(settings: Settings, store: Store, t: datetime, steps: int, *scenarios: Scenario) -> datetime:
    run_simulator(settings, store, start=t, max_steps=steps, seed=11, scenarios=scenarios)
    return t + timedelta(seconds=settings.sim_interval_s * steps)


def _service2(store: Store) -> list[tuple[DecisionStatus, float]]:
    return [
        (d.status, d.decision.confidence.value) for d in reversed(store.list_decisions(service="service-2"))
    ]


def test_clear_winner_is_proposed_once_and_auto_approved(platform: Platform) -> None:
    """Before issue 11 service-2 went to a person at ~0.75, then was refreshed (a second MR) once its
    winner held the window. Its advantage is clear at once now: one decision, one MR, applied."""
    settings, store, loop = platform.settings, platform.store, platform.loop
    t = T0
    for _ in range(6 + settings.window_size):
        t = _step(settings, store, t, 1)
        loop.cycle()
    history = _service2(store)
    assert len(history) == 1, history
    assert history[0][0] in (DecisionStatus.APPLIED, DecisionStatus.VERIFIED), history
    assert history[0][1] > 0.85
    states = [m.state for m in MergeRequestRepository(store).list(service="service-2")]
    assert states == [MRState.MERGED]


def test_waiting_move_is_withdrawn_when_it_no_longer_pays(
    stateful_no_dearer_repair: Platform,
) -> None:
    platform = stateful_no_dearer_repair
    settings, store, loop = platform.settings, platform.store, platform.loop
    t = T0
    for _ in range(6):
        t = _step(settings, store, t, 1)
        loop.cycle()
    (waiting,) = store.list_decisions(service="service-2")
    assert waiting.status is DecisionStatus.AWAITING_APPROVAL
    # Alibaba US West triples its price: every candidate that meets the SLO now costs more than staying
    # (over the repair cap of 0 %), and stays so.
    spike = Scenario(
        kind=ScenarioKind.COST_SPIKE,
        provider="alibaba",
        region="us-west-1",
        magnitude=3.0,
        duration_s=86400,
    )
    t = _step(settings, store, t, 1, spike)
    for _ in range(settings.window_size + 2):
        loop.cycle()
        t = _step(settings, store, t, 1, spike)
    assert store.get_decision(waiting.decision.id).status is DecisionStatus.SUPERSEDED
    (mr,) = MergeRequestRepository(store).list(decision_id=waiting.decision.id)
    assert mr.state is MRState.CLOSED
    reasons = [
        e.payload["detail"].get("reason", "")
        for e in store.decision_history(waiting.decision.id)
        if e.type == "decision_status" and e.payload["to"] == "superseded"
    ]
    assert reasons and reasons[0].startswith("no longer recommended for")


def test_waiting_move_is_kept_while_the_engine_still_backs_it(stateful_platform: Platform) -> None:
    """Hysteresis: many cycles later the waiting move is still the one open MR (no withdraw/re-propose)."""
    settings, store, loop = stateful_platform.settings, stateful_platform.store, stateful_platform.loop
    t = T0
    for _ in range(6 + 3 * settings.window_size):
        t = _step(settings, store, t, 1)
        loop.cycle()
    history = _service2(store)
    assert [s for s, _ in history] == [DecisionStatus.AWAITING_APPROVAL], history
    assert len(MergeRequestRepository(store).list(service="service-2")) == 1
