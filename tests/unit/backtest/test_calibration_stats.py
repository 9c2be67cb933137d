"""The estimators beside the report's ECE (backtest/calibration_stats.py), on hand-computed decisions."""

from __future__ import annotations

import math

import numpy as np
import pytest

from swen.backtest.calibration_stats import (
    ece_cluster_interval,
    ece_equal_mass_sweep,
    ece_null_draws,
    l2_calibration_error_debiased,
    p_value,
)


def test_p_value_counts_the_draws_at_or_above_and_the_observation() -> None:
    null = np.array([0.01, 0.02, 0.03, 0.04])
    assert p_value(0.03, null) == 3 / 5
    assert p_value(0.0, null) == 1.0
    assert p_value(0.5, null) == 1 / 5
    with pytest.raises(ValueError, match="no null draws"):
        p_value(0.1, np.zeros(0))
    assert ece_null_draws([]).size == 0
    assert ece_null_draws([0.8, 0.9]).size == 2000


def test_equal_mass_sweep_keeps_the_most_bins_whose_shares_are_monotone() -> None:
    conf = [0.75, 0.8, 0.85, 0.9, 0.95, 0.95]
    pos = [True, False, True, True, True, True]
    # 5 bins (2, 1, 1, 1, 1): shares 0.5, 1, 1, 1, 1 are monotone; 6 singletons are not (1, 0, ...)
    # ECE = (2 x |0.5 - 0.775| + 0.15 + 0.1 + 0.05 + 0.05) / 6
    result = ece_equal_mass_sweep(conf, pos)
    assert result is not None
    assert result[1] == 5
    assert result[0] == pytest.approx((2 * 0.275 + 0.35) / 6)
    assert ece_equal_mass_sweep([], []) is None
    one = ece_equal_mass_sweep([0.9, 0.6], [False, True])  # 2 bins: shares 1, 0: not monotone -> 1 bin
    assert one == (pytest.approx(abs(0.5 - 0.75)), 1)
    with pytest.raises(ValueError, match="same length"):
        ece_equal_mass_sweep([0.5], [True, False])


def test_debiased_l2_error_subtracts_each_bins_sampling_variance() -> None:
    # one bin: confidence 0.6, 9 of 10 positive: (0.9 - 0.6)^2 - 0.9 x 0.1 / 9 = 0.09 - 0.01
    conf, pos = np.full(10, 0.6), np.arange(10) < 9
    assert l2_calibration_error_debiased(conf, pos) == pytest.approx(math.sqrt(0.08))
    # a calibrated-looking bin (share = confidence) is debiased below zero and reads 0
    assert l2_calibration_error_debiased(np.full(4, 0.5), [True, False, True, False]) == 0.0
    # a single decision has no variance estimate and adds nothing
    assert l2_calibration_error_debiased([0.3], [True]) == 0.0
    assert l2_calibration_error_debiased([], []) is None


def test_cluster_interval_resamples_whole_groups() -> None:
    # group a: one decision 0.9 positive (ECE 0.1); group b: one decision 0.9 negative (ECE 0.9).
    # Two groups drawn with replacement: aa (1/4) 0.1, ab (1/2) one bin of share 0.5: 0.4, bb (1/4) 0.9
    a = (np.array([0.9]), np.array([True]))
    b = (np.array([0.9]), np.array([False]))
    interval = ece_cluster_interval([a, b])
    assert interval == (pytest.approx(0.1), pytest.approx(0.9))
    same = ece_cluster_interval([a, a, a])
    assert same == (pytest.approx(0.1), pytest.approx(0.1))  # identical groups: no spread
    assert ece_cluster_interval([a]) is None  # one group: nothing to resample
    empty = (np.zeros(0), np.zeros(0, dtype=bool))
    assert ece_cluster_interval([empty, empty]) is None
