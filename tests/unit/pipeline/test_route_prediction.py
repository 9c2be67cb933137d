"""The merge request's "expected route" (gitops/mr_description.py) says what the real policy gate then
decides, for a plan that changes only the service's own placement: the prediction restates the gate's
rules, and this test runs the gate itself on every combination at and around its bars."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from support.builders import decision
from swen.gitops.mr_description import MAX_AUTO_COST_DELTA_PCT, MIN_AUTO_CONFIDENCE, expected_route
from swen.pipeline.plan_summary import summarise_plan
from swen.pipeline.policy import PolicyGate, PolicyInput

SERVICE = "service-2"


def _own_replace(stateful: bool) -> dict[str, Any]:
    values = {"input": {"service": SERVICE, "provider": "aws", "region": "us-east-1", "stateful": stateful}}
    change = {
        "address": f'terraform_data.placement["{SERVICE}"]',
        "mode": "managed",
        "type": "terraform_data",
        "name": "placement",
        "index": SERVICE,
        "change": {"actions": ["delete", "create"], "before": values, "after": values},
    }
    return {"format_version": "1.2", "resource_changes": [change]}


@pytest.fixture(scope="module")
def gate() -> PolicyGate:
    return PolicyGate()


CONFIDENCES = (0.5, MIN_AUTO_CONFIDENCE, MIN_AUTO_CONFIDENCE + 0.001, 0.99)
DELTAS = (-30.0, MAX_AUTO_COST_DELTA_PCT - 0.01, MAX_AUTO_COST_DELTA_PCT, 40.0)


@pytest.mark.parametrize(
    ("stateful", "emergency", "confidence", "delta"),
    list(itertools.product((False, True), (False, True), CONFIDENCES, DELTAS)),
)
def test_the_prediction_is_what_the_gate_decides(
    gate: PolicyGate, stateful: bool, emergency: bool, confidence: float, delta: float
) -> None:
    d = decision("d-1", service=SERVICE, stateful=stateful, emergency=emergency, confidence=confidence)
    d = d.model_copy(update={"savings": d.savings.model_copy(update={"cost_delta_pct": delta})})
    result = gate.evaluate(PolicyInput.from_decision(d, summarise_plan(_own_replace(stateful))))
    route = expected_route(
        service=SERVICE, stateful=stateful, emergency=emergency, confidence=confidence, cost_delta_pct=delta
    )
    assert route.auto_approve is (result.outcome == "auto_approve"), result.reasons
    assert route.override is result.override
    cost_ok, confidence_ok, stateless = (ok for ok, _what in route.checks)
    codes = set(result.codes)
    if not route.override:  # an override waives (and so does not list) the cost and confidence rules
        assert cost_ok is ("cost_delta_too_high" not in codes)
        assert confidence_ok is ("confidence_too_low" not in codes)
    assert stateless is ("stateful_service" not in codes)
