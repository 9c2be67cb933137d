"""The ECE a perfectly calibrated confidence would show from sampling alone (backtest/calibration.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from swen.backtest.calibration import ece_noise_floor


def test_one_bin_floor_is_the_mean_absolute_error_of_a_binomial_share() -> None:
    for n in (25, 100, 400):
        floor = ece_noise_floor(np.full(n, 0.9))
        assert floor is not None
        mean, p90 = floor
        # |share - 0.9| of n Bernoulli(0.9) draws: about sd x sqrt(2 / pi), sd = sqrt(0.09 / n)
        assert mean == pytest.approx(math.sqrt(0.09 / n) * math.sqrt(2 / math.pi), rel=0.2)
        assert p90 > mean


def test_floor_shrinks_with_more_decisions_and_is_reproducible() -> None:
    rng = np.random.default_rng(5)
    few, many = rng.uniform(0.7, 1.0, 20), rng.uniform(0.7, 1.0, 2000)
    f_few, f_many = ece_noise_floor(few), ece_noise_floor(many)
    assert f_few is not None and f_many is not None
    assert f_many[0] < f_few[0] / 3
    assert ece_noise_floor(few) == f_few  # seeded: the report is deterministic
    assert ece_noise_floor(np.zeros(0)) is None


def test_net_positive_expectation_is_the_binomial_of_the_confidences() -> None:
    """17 auto-approved moves at 0.90: the share is >= 95 % only when none of them loses (0.9^17,
    ~17 %); the expected share is the mean confidence."""
    from swen.backtest.calibration import net_positive_expectation

    out = net_positive_expectation(np.full(17, 0.9))
    assert out is not None
    assert out["expected_share"] == pytest.approx(0.9)
    assert out["p_meets_goal"] == pytest.approx(0.9**17, abs=0.03)
    assert out["p10"] < 0.9 < out["p90"] or out["p90"] == 1.0
    # many surer moves: the goal is within reach; a second call gives the same figures (seeded)
    sure = net_positive_expectation(np.full(400, 0.98))
    assert sure is not None and sure["p_meets_goal"] > 0.99
    assert net_positive_expectation(np.full(17, 0.9)) == out
    assert net_positive_expectation(np.zeros(0)) is None


def test_the_report_says_what_a_calibrated_confidence_expects_of_the_share() -> None:
    from swen.backtest.calibration import net_positive_expectation
    from swen.backtest.report import _expected_text

    text = _expected_text(net_positive_expectation(np.full(17, 0.9)))
    assert text.startswith(" (a calibrated confidence expects 90 %, 80 % interval ")
    assert text.endswith(" of replays)") and ">= 95 % in 1" in text  # ~17 % of replays
    assert _expected_text(None) == ""
