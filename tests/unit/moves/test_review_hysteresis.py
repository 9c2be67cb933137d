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


def cycle_result(confidence: float, net: float = 200.0, best: Placement = TARGET) -> Any:
    """The parts of an EngineResult the review policy reads (one service, two candidates)."""
    placements = (HOME, TARGET)
    cycle = SimpleNamespace(
        row_of={"svc": 0},
        target=np.array([placements.index(best)]),
        fleet=SimpleNamespace(placements=placements),
        confidence=np.array([confidence]),
        savings=SimpleNamespace(net=np.array([net])),
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
