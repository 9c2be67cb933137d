"""A suite's pooled calibration (backtest/suite.py) on hand-computed decisions."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from swen.backtest.calibration import calibration_scores
from swen.backtest.suite import pooled_calibration, suite_document, verdict


def _report(name: str, decisions: list[tuple[float, bool, bool]], *, fitted_on: list[str]) -> dict[str, Any]:
    """A scenario report as ``report.summary`` gives it, reduced to what a suite reads."""
    conf = np.array([d[0] for d in decisions])
    pos = np.array([d[1] for d in decisions], dtype=bool)
    auto = np.array([d[2] for d in decisions], dtype=bool)
    return {
        "scenario": {"name": name, "days": 30.0, "services": 200},
        "captured_savings_vs_scheduled": 0.9,
        "measure": {
            "captured_savings": 0.8,
            "slo_gap_pct_of_service_minutes": 0.0,
            "slo_comparable": True,
            "mrs_opened": 3,
            "mrs_per_service_month": 0.1,
            "moves_applied": 3,
            "auto_share": 0.5,
        },
        "calibration": {
            "calibrated": True,
            "fitted_on": fitted_on,
            **calibration_scores(conf, pos, auto),
            "decisions": [
                {"step": i, "service": f"s{i}", "confidence": c, "positive": p, "auto_approved": a}
                for i, (c, p, a) in enumerate(decisions)
            ],
        },
    }


A = [(0.95, True, True), (0.95, True, True), (0.75, False, False), (0.85, True, False)]
B = [(0.85, False, True), (0.72, True, False), (0.92, True, True)]


def test_pooled_ece_is_computed_from_the_decisions_of_every_scenario() -> None:
    a = _report("a", A, fitted_on=["b"])
    b = _report("b", B, fitted_on=["a"])
    # a alone: bins 0.7 (0.75: 0), 0.8 (0.85: 1), 0.9 (0.95, 0.95: 1, 1) -> (0.75 + 0.15 + 2 x 0.05) / 4
    assert a["calibration"]["expected_calibration_error"] == 0.25
    pooled = pooled_calibration([a, b])
    # pooled bins: 0.7-0.8 {0.75: 0, 0.72: 1}: confidence 0.735, share 0.5, n 2
    #              0.8-0.9 {0.85: 1, 0.85: 0}: confidence 0.85, share 0.5, n 2
    #              0.9-1.0 {0.95, 0.95, 0.92: all 1}: confidence 0.94, share 1, n 3
    assert pooled["labelled"] == 7
    assert pooled["expected_calibration_error"] == round((2 * 0.235 + 2 * 0.35 + 3 * 0.06) / 7, 4)
    assert [(r["count"], round(r["confidence"], 4), r["positive_share"]) for r in pooled["reliability"]] == [
        (2, 0.735, 0.5),
        (2, 0.85, 0.5),
        (3, 0.94, 1.0),
    ]
    # not the decisions-weighted mean of the two scenarios' ECEs
    ece_b = b["calibration"]["expected_calibration_error"]
    assert pooled["expected_calibration_error"] != pytest.approx((4 * 0.25 + 3 * ece_b) / 7, abs=1e-3)
    assert pooled["auto_approved_labelled"] == 4
    assert pooled["auto_approved_positive_share"] == 0.75  # 0.95, 0.95, 0.92 positive; 0.85 not
    assert pooled["mean_confidence"] == round((0.95 * 2 + 0.75 + 0.85 * 2 + 0.72 + 0.92) / 7, 4)
    assert pooled["positive_share"] == round(5 / 7, 4)
    assert pooled["held_out"] and pooled["calibrated"] and pooled["scenarios"] == 2
    assert pooled["ece_noise_floor"]["mean"] > 0 and 0 < pooled["ece_p_value"] <= 1
    # resampling the two scenarios: aa, ab or bb; the pooled ECE lies inside the range
    interval = pooled["ece_scenario_interval"]
    assert interval["p05"] <= pooled["expected_calibration_error"] <= interval["p95"]
    assert interval["p05"] <= min(0.25, b["calibration"]["expected_calibration_error"])


def test_pooled_is_not_held_out_when_a_scenario_was_scored_with_a_fold_that_saw_it() -> None:
    pooled = pooled_calibration([_report("a", A, fitted_on=["a", "b"]), _report("b", B, fitted_on=["a"])])
    assert not pooled["held_out"]


def test_suite_document_rows_and_verdicts() -> None:
    doc = suite_document([_report("a", A, fitted_on=["b"]), _report("b", B, fitted_on=["a"])])
    assert doc["suite"] == ["a", "b"]
    assert [r["scenario"] for r in doc["rows"]] == ["a", "b"]
    assert doc["rows"][0]["expected_calibration_error"] == 0.25
    assert doc["rows"][0]["verdict"] in ("within sampling noise", "off: overconfident")
    assert set(doc["reports"]) == {"a", "b"}
    empty = suite_document([_report("a", [], fitted_on=["b"])])
    assert empty["pooled_calibration"]["expected_calibration_error"] is None
    assert empty["pooled_calibration"]["ece_scenario_interval"] is None
    assert empty["rows"][0]["verdict"] == empty["pooled_calibration"]["verdict"] == "no labelled decisions"


def test_verdict_names_the_direction_of_a_confidence_off_beyond_noise() -> None:
    under = calibration_scores(np.full(200, 0.6), np.ones(200, dtype=bool), np.zeros(200, dtype=bool))
    assert under["ece_p_value"] == round(1 / 2001, 4)  # no calibrated draw is 0.4 off on 200 decisions
    assert verdict(under) == "off: underconfident"
    over = calibration_scores(np.full(200, 0.9), np.zeros(200, dtype=bool), np.zeros(200, dtype=bool))
    assert verdict(over) == "off: overconfident"
    rng = np.random.default_rng(11)
    conf = rng.uniform(0.7, 1.0, 400)
    fair = calibration_scores(conf, rng.uniform(size=400) < conf, np.zeros(400, dtype=bool))
    assert verdict(fair) == "within sampling noise"
