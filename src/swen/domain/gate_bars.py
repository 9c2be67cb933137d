"""The policy gate's auto-approve bars, as ``policies/gate.rego`` sets them (``max_auto_cost_delta_pct``,
``min_auto_confidence``), in one place for the Python that predicts the gate's route: the engine's
value-of-waiting rule (``engine/route.py``), the merge request's expected route
(``gitops/mr_description.py``) and the gate's own module (``pipeline/policy.py``). A test runs the real
gate on the predictions (tests/unit/pipeline/test_route_prediction.py), so the two cannot drift apart
unnoticed."""

MAX_AUTO_COST_DELTA_PCT = 5.0
"""The gate auto-approves only a move whose cost delta is under this (percent)."""
MIN_AUTO_CONFIDENCE = 0.85
"""The gate auto-approves only a move whose confidence is above this."""
