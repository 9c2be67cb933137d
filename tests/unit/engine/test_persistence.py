"""Level shift or price noise: the per-candidate advantage history and its horizon forecast."""

from __future__ import annotations

import math

import numpy as np
import pytest

from swen.engine.persistence import MIN_HISTORY_S, REBASE_S, GapHistory, persistence
from swen.telemetry import model as m

KEYS = ("aws/us-east-1", "aws/us-east-2", "aws/us-west-2")
STEP_S = 300.0
HORIZON_S = 3 * 86400.0
TARGET = np.array([1])


def ou_gap(rng: np.random.Generator, steps: int, sd: float = 0.057, rate_per_h: float = 0.5) -> list[float]:
    """An A100 region pair's relative gap under the simulator's price noise (OU, half-life ~1.4 h)."""
    x, out = np.zeros(1), []
    for _ in range(steps):
        x = m.ou_step(x, 0.0, sd, rate_per_h, STEP_S / 3600.0, rng.standard_normal(1))
        out.append(float(x[0]))
    return out


def feed(gaps: list[float], *, history: GapHistory | None = None, start: float = 0.0, base: int = 0):
    """Candidate 1's advantage over current ``base``; candidate 2 unobserved. Returns (history, now)."""
    history = history or GapHistory.empty(["svc"], KEYS)
    now = start
    for g in gaps:
        cells = np.array([[np.nan, g, np.nan]])
        history = history.updated(np.array([base]), cells, now)
        now += STEP_S
    return history, now - STEP_S


def test_ar1_fit_recovers_the_noise_and_its_reversion() -> None:
    rng = np.random.default_rng(3)
    history, now = feed(ou_gap(rng, 6 * 288))  # six days
    p = persistence(history, TARGET, now, HORIZON_S)
    assert float(p.sd[0]) == pytest.approx(0.057, rel=0.25)
    assert float(p.half_life_h[0]) == pytest.approx(math.log(2) / 0.5, rel=0.4)
    assert abs(float(p.mean[0])) < 0.05  # three standard errors of a 2-day mean of this noise


def test_a_noise_lead_is_forecast_to_revert_and_a_price_change_to_last() -> None:
    rng = np.random.default_rng(5)
    noise = ou_gap(rng, 3 * 288)
    # the same history, then (a) a noise excursion to +8 %, (b) a 29 % surge at the current placement
    history, now = feed(noise)
    lead, t_lead = feed([0.08] * 6, history=history, start=now + STEP_S)
    surge, t_surge = feed(list(0.29 + np.array(ou_gap(rng, 36))), history=history, start=now + STEP_S)
    p_lead = persistence(lead, TARGET, t_lead, HORIZON_S)
    p_surge = persistence(surge, TARGET, t_surge, HORIZON_S)
    assert float(p_lead.shift[0]) < 0.05
    assert float(p_lead.horizon_mean[0]) < 0.01  # minutes of saving, not days
    assert float(p_surge.shift[0]) > 0.5  # three hours in, noise has pulled this draw down to ~23 %
    assert float(p_surge.horizon_mean[0]) > 0.12
    need = np.array([0.015])  # a $63 move of a $42k/month A100 service, paid back in 3 days
    assert float(p_lead.pays(need)[0]) < 0.5 < 0.99 < float(p_surge.pays(need)[0])


def test_a_shift_is_held_out_of_the_noise_fit_and_becomes_the_mean_after_a_while() -> None:
    rng = np.random.default_rng(7)
    history, now = feed(ou_gap(rng, 2 * 288))
    sd_before = float(persistence(history, TARGET, now, HORIZON_S).sd[0])
    held, t_held = feed(list(0.3 + np.array(ou_gap(rng, 72))), history=history, start=now + STEP_S)
    p = persistence(held, TARGET, t_held, HORIZON_S)
    assert float(p.sd[0]) == pytest.approx(sd_before, rel=0.1)  # the step did not pass for noise
    steps = int(REBASE_S / STEP_S) + 12
    rebased, t_rebased = feed(list(0.3 + np.array(ou_gap(rng, steps))), history=held, start=t_held + STEP_S)
    p = persistence(rebased, TARGET, t_rebased, HORIZON_S)
    assert float(p.mean[0]) == pytest.approx(0.3, abs=0.04)
    assert float(p.shift[0]) < 0.5  # the new level is the pair's long-run advantage now
    assert float(p.horizon_mean[0]) > 0.25


def test_without_history_a_clear_cut_lasts_and_a_noise_lead_does_not() -> None:
    cut, now = feed([0.25] * 10)
    lead, now2 = feed([0.06] * 10)
    assert now < MIN_HISTORY_S
    p_cut = persistence(cut, TARGET, now, HORIZON_S)
    p_lead = persistence(lead, TARGET, now2, HORIZON_S)
    assert float(p_cut.shift[0]) > 0.9
    assert float(p_cut.horizon_mean[0]) > 0.2
    assert float(p_lead.shift[0]) < 0.05
    assert float(p_lead.horizon_mean[0]) < 0.01


def test_a_move_restarts_the_history_against_the_new_placement() -> None:
    rng = np.random.default_rng(9)
    history, now = feed(ou_gap(rng, 288))
    moved = history.updated(np.array([2]), np.array([[0.01, np.nan, np.nan]]), now + STEP_S)
    assert int(moved.base[0]) == 2
    assert float(moved.weight[0, 1]) == 0.0  # candidate 1's advantage over the old placement is gone
    assert float(moved.weight[0, 0]) == 1.0
    assert float(moved.since[0]) == now + STEP_S


def test_round_trips_through_a_dict_and_a_new_candidate_order() -> None:
    rng = np.random.default_rng(11)
    history, now = feed(ou_gap(rng, 100) + [0.3] * 30)
    again = GapHistory.from_dict(history.to_dict(), ["svc"], KEYS)
    for a, b in zip(again._cells(), history._cells(), strict=True):
        np.testing.assert_array_equal(a, b)
    reordered = history.aligned(["other", "svc"], tuple(reversed(KEYS)))
    p1 = persistence(history, TARGET, now, HORIZON_S)
    p2 = persistence(reordered, np.array([-1, 1]), now, HORIZON_S)
    assert float(p2.horizon_mean[1]) == pytest.approx(float(p1.horizon_mean[0]))
    assert float(p2.horizon_mean[0]) == 0.0


def test_the_luckiest_of_many_noise_cells_does_not_pass_for_a_lasting_gap() -> None:
    # calm-month's lost A100 moves: among 20 services x 2 regions, the cells whose 19-h mean of pure
    # price noise happens to sit ~2 standard errors high (the winner's curse on the long-run means)
    rng = np.random.default_rng(13)
    cells = [feed(ou_gap(rng, int(19 * 3600 / STEP_S))) for _ in range(40)]
    history, now = max(cells, key=lambda c: float(c[0].mean[0, 1]))
    assert float(history.mean[0, 1]) > 0.04  # what the cell's own mean reads
    p = persistence(history, TARGET, now, HORIZON_S)
    assert float(p.mean[0]) < 0.3 * float(history.mean[0, 1])  # shrunk by a prior worth 2 days
    assert float(p.pays(np.array([0.015]))[0]) < 0.6


def test_a_modest_gap_that_holds_for_two_days_counts() -> None:
    # +10 %: under 4 widths of a 1-h mean, so not a shift; after two days it is a lasting advantage
    rng = np.random.default_rng(17)
    history, now = feed(list(0.10 + np.array(ou_gap(rng, 2 * 288))))
    p = persistence(history, TARGET, now, HORIZON_S)
    assert float(p.shift[0]) < 0.1
    assert 0.03 < float(p.horizon_mean[0]) < 0.10
    assert float(p.pays(np.array([0.015]))[0]) > 0.85
    young, t_young = feed(list(0.10 + np.array(ou_gap(rng, 36))))  # the same gap 3 h old
    assert float(persistence(young, TARGET, t_young, HORIZON_S).pays(np.array([0.015]))[0]) < 0.6


def test_independent_samples_are_counted_at_most_at_the_prior_reversion_rate() -> None:
    # fast noise (half-life ~20 min) fitted as such must not count more independent samples than the
    # prior rate allows: its long-run mean is shrunk as much as the simulator's noise would be
    rng = np.random.default_rng(19)
    fast, t_fast = feed(list(0.05 + np.array(ou_gap(rng, 288, rate_per_h=2.0))))
    p = persistence(fast, TARGET, t_fast, HORIZON_S)
    assert float(p.half_life_h[0]) < 1.0
    shrink = float(p.mean[0]) / float(fast.mean[0, 1])
    assert shrink == pytest.approx(12.0 / (12.0 + 24.0), rel=0.05)  # a day: 6 / (6 + 12) samples
