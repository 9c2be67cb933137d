"""Hysteresis: a move waiting for a person is neither withdrawn nor proposed again while its
confidence hovers around the 0.70 proposal bar; it is withdrawn once its reason has gone."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np

from support.builders import decision as make_decision
from swen.domain.models import Placement
from swen.engine.params import EngineParams
from swen.moves.review_policy import OpenMove, ReviewAction, ReviewPolicy

HOME = Placement.parse("aws/us-east-1")
TARGET = Placement.parse("alibaba/us-west-1")


NEAR = Placement.parse("alibaba/us-east-1")


def cycle_result(
    confidence: float,
    net: float = 200.0,
    best: Placement = TARGET,
    monthly: tuple[float, float, float] = (1000.0, 700.0, 690.0),
    bar: float | None = None,
) -> Any:
    """The parts of an EngineResult the review policy reads (one service, three candidates: where
    it runs, the waiting move's target and a near-equal region)."""
    placements = (HOME, TARGET, NEAR)
    cycle = SimpleNamespace(
        row_of={"svc": 0},
        target=np.array([placements.index(best)]),
        fleet=SimpleNamespace(
            placements=placements,
            current_idx=np.array([0]),
            column_of={p.key: j for j, p in enumerate(placements)},
        ),
        monthly=np.array([monthly]),
        flags=np.zeros((1, 3), dtype=np.uint16),
        confidence=np.array([confidence]),
        savings=SimpleNamespace(net=np.array([net])),
        bar_savings=np.array([net if bar is None else bar]),
        params=EngineParams(),
    )
    return SimpleNamespace(cycle=cycle)


def test_hovering_confidence_keeps_one_merge_request() -> None:
    rec = make_decision("d-1", service="svc", target=TARGET)
    policy = ReviewPolicy(window=10)
    assert policy.on_recommendation(None, rec) is ReviewAction.PROPOSE
    waiting = {"svc": OpenMove(rec.id, TARGET, True, False, rec.confidence)}
    rng = np.random.default_rng(3)
    for value in 0.70 + 0.06 * np.sin(np.arange(200) / 3) + 0.01 * rng.standard_normal(200):
        assert policy.withdrawals(waiting, cycle_result(float(value))) == []
        again = make_decision("d-1", service="svc", target=TARGET)
        assert policy.on_recommendation(waiting["svc"], again) is ReviewAction.KEEP  # never a refresh


def test_withdrawn_once_the_reason_has_gone_for_a_window() -> None:
    rec = make_decision("d-1", service="svc", target=TARGET)
    policy = ReviewPolicy(window=10)
    waiting = {"svc": OpenMove(rec.id, TARGET, True, False, rec.confidence)}
    for _ in range(9):
        assert policy.withdrawals(waiting, cycle_result(0.45)) == []
    assert policy.withdrawals(waiting, cycle_result(0.62)) == []  # back above the release bar: reset
    for _ in range(9):
        assert policy.withdrawals(waiting, cycle_result(0.9, best=HOME)) == []
    assert policy.withdrawals(waiting, cycle_result(0.9, best=HOME)) == ["svc"]


def test_emergencies_and_moves_in_the_pipeline_are_never_withdrawn() -> None:
    rec = make_decision("d-1", service="svc", target=TARGET)
    policy = ReviewPolicy(window=1)
    emergency = {"svc": OpenMove(rec.id, TARGET, True, True, rec.confidence)}
    running = {"svc": OpenMove(rec.id, TARGET, False, False, rec.confidence)}
    assert policy.withdrawals(emergency, cycle_result(0.0, best=HOME)) == []
    assert policy.withdrawals(running, cycle_result(0.0, best=HOME)) == []


def _ranked(decision_id: str, target: Placement, costs: dict[Placement, float]) -> Any:
    rec = make_decision(decision_id, service="svc", target=target)
    template = rec.ranking[0]
    ranking = tuple(
        template.model_copy(update={"placement": p, "rank": i + 1, "monthly_cost_usd": usd})
        for i, (p, usd) in enumerate(sorted(costs.items(), key=lambda kv: kv[1]))
    )
    return rec.model_copy(update={"ranking": ranking})


def test_a_near_equal_target_neither_supersedes_nor_withdraws_a_waiting_move() -> None:
    policy = ReviewPolicy(window=3)
    waiting = {"svc": OpenMove("d-1", TARGET, True, False, make_decision("d-1").confidence)}
    flip = _ranked("d-2", NEAR, {HOME: 1000.0, TARGET: 700.0, NEAR: 690.0})  # $10 a month better
    assert policy.on_recommendation(waiting["svc"], flip) is ReviewAction.KEEP
    for _ in range(10):  # the first choice flips to NEAR for many windows: the waiting move holds
        assert policy.withdrawals(waiting, cycle_result(0.9, best=NEAR)) == []


def test_a_clearly_better_target_supersedes_and_an_abandoned_move_is_withdrawn() -> None:
    policy = ReviewPolicy(window=3)
    waiting = {"svc": OpenMove("d-1", TARGET, True, False, make_decision("d-1").confidence)}
    better = _ranked("d-2", NEAR, {HOME: 1000.0, TARGET: 700.0, NEAR: 600.0})  # $100 a month better
    assert policy.on_recommendation(waiting["svc"], better) is ReviewAction.PROPOSE
    running = {"svc": OpenMove("d-1", TARGET, False, False, make_decision("d-1").confidence)}
    near = _ranked("d-3", NEAR, {HOME: 1000.0, TARGET: 700.0, NEAR: 690.0})
    assert policy.on_recommendation(running["svc"], near) is ReviewAction.PROPOSE  # not waiting: no hold
    far = (1000.0, 700.0, 600.0)
    assert [policy.withdrawals(waiting, cycle_result(0.9, best=NEAR, monthly=far)) for _ in range(3)] == [
        [],
        [],
        ["svc"],
    ]


def test_an_slo_repair_is_not_withdrawn_for_its_one_time_cost() -> None:
    """The engine proposes a move out of an SLO breach on its saving before the one-time cost
    (``Cycle.bar_savings``); judging the waiting move on the net saving withdrew it every window
    (one stateful service was proposed and withdrawn 84 times in a 30-day replay)."""
    policy = ReviewPolicy(window=3)
    waiting = {"svc": OpenMove("d-1", TARGET, True, False, make_decision("d-1").confidence)}
    for _ in range(10):
        assert policy.withdrawals(waiting, cycle_result(0.9, net=-40.0, bar=120.0)) == []
    assert [policy.withdrawals(waiting, cycle_result(0.9, net=-40.0, bar=-40.0)) for _ in range(3)][-1] == [
        "svc"
    ]


def _emergency(decision_id: str, target: Placement, healthy: tuple[Placement, ...]) -> Any:
    """An emergency decision out of HOME (down: not in the ranking) whose ranking holds ``healthy``."""
    rec = _ranked(decision_id, target, {p: 700.0 + 10 * i for i, p in enumerate(healthy)})
    return rec.model_copy(update={"emergency": True})


def test_an_open_emergency_keeps_its_healthy_target_while_first_place_flips() -> None:
    """provider-outages: a stateful service's emergency waiting four hours for a person was superseded
    ten times in three hours as two healthy regions swapped first place with every sample."""
    policy = ReviewPolicy(window=3)
    waiting = {"svc": OpenMove("d-1", TARGET, True, True, make_decision("d-1").confidence)}
    for k in range(20):
        first, second = (NEAR, TARGET) if k % 2 else (TARGET, NEAR)
        flip = _emergency(f"d-{k + 2}", first, (first, second))
        assert policy.on_recommendation(waiting["svc"], flip) is ReviewAction.KEEP
    running = OpenMove("d-1", TARGET, False, True, make_decision("d-1").confidence)  # in the pipeline
    assert policy.on_recommendation(running, _emergency("d-30", NEAR, (NEAR, TARGET))) is ReviewAction.KEEP


def test_an_open_emergency_is_retargeted_once_the_outage_reaches_its_target() -> None:
    policy = ReviewPolicy(window=3)
    waiting = OpenMove("d-1", TARGET, True, True, make_decision("d-1").confidence)
    reached = _emergency("d-2", NEAR, (NEAR,))  # TARGET is no longer a feasible candidate
    assert policy.on_recommendation(waiting, reached) is ReviewAction.PROPOSE
    price_move = OpenMove("d-1", TARGET, True, False, make_decision("d-1").confidence)
    assert policy.on_recommendation(price_move, _emergency("d-3", NEAR, (NEAR, TARGET))) is (
        ReviewAction.PROPOSE  # an emergency still overrides a waiting price move elsewhere
    )
