"""The label is the bill's verdict on a move (backtest/hindsight.py), on a real short trace whose prices
and credits are set by hand so the bill's numbers are known."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import NamedTuple

import numpy as np
import pytest

from swen.backtest.accounting import account
from swen.backtest.credits import CreditExpiry
from swen.backtest.hindsight import Verdict, bill_verdict
from swen.backtest.spec import load_services, load_spec
from swen.backtest.strategies import static_path
from swen.backtest.trace import Floors, Grid, Trace, build_grid, build_trace
from swen.telemetry.catalog import load_catalog
from swen.telemetry.credit_file import Grant

START = datetime(2026, 1, 5, tzinfo=UTC)
HOME_USD_H, AWAY_USD_H = 4.0, 4.4
"""Per replica-hour: the target costs 10 % more at list price, so only credits can make it pay."""


class World(NamedTuple):
    trace: Trace
    grid: Grid
    s: int
    home: int
    away: int


@pytest.fixture(scope="module")
def world() -> World:
    catalog = load_catalog()
    fleet, _ = load_services(load_spec("calm-month"), catalog=catalog)
    services = fleet.services
    trace = build_trace(services, catalog, seed=3, start=START, days=5.0, step_s=3600.0, noise=False)
    grid = build_grid(trace, catalog)
    idx = trace.index
    for s, service in enumerate(services):
        home = int(grid.initial[s])
        home_provider = idx.providers[int(idx.pair_provider[grid.cand_pair[s, home]])]
        if service.stateful or home_provider != "aws":
            continue
        away = [
            c
            for c in range(grid.width)
            if grid.enterable[s, c]
            and idx.providers[int(idx.pair_provider[grid.cand_pair[s, c]])] == "alibaba"
        ]
        if away:
            break
    else:  # pragma: no cover - the default fleet has stateless AWS services with Alibaba candidates
        raise AssertionError("no stateless AWS service with an Alibaba candidate")
    prices = np.zeros_like(trace.hourly_cost_usd)  # the rest of the fleet costs nothing: no one else burns
    prices[:, grid.cand_pair[s, home]] = HOME_USD_H
    prices[:, grid.cand_pair[s, away[0]]] = AWAY_USD_H
    return World(dataclasses.replace(trace, hourly_cost_usd=prices), grid, s, home, away[0])


def verdict_of(trace: Trace, grid: Grid, s: int, c0: int, c1: int, at: int = 0) -> Verdict:
    one = np.array([at], dtype=np.int64)
    return bill_verdict(
        trace, grid, static_path(trace, grid), one, np.array([s]), np.array([c0]), np.array([c1])
    )


def with_credits(trace: Trace, amount: float, *, expire_after_h: float | None = None) -> Trace:
    grant = Grant(name="alibaba-1", provider="alibaba", amount_usd=amount)
    expiries = () if expire_after_h is None else (CreditExpiry("alibaba", expire_after_h * 3600.0, 1e12),)
    return dataclasses.replace(trace, grants=(grant,), credit_expiries=expiries)


def test_without_credits_the_bill_is_the_list_price_and_a_costlier_target_loses(world: World) -> None:
    trace, grid, s, home, away = world
    v = verdict_of(trace, grid, s, home, away)
    hours = 72  # the 3-day horizon at 1-hour steps
    replicas = float(grid.replicas[s])
    assert v.labelled[0] and not v.positive[0]
    assert v.list_saved_usd[0] == pytest.approx((HOME_USD_H - AWAY_USD_H) * replicas * hours, rel=1e-6)
    assert v.credit_saved_usd[0] == 0.0
    assert v.move_usd[0] == pytest.approx(grid.move_usd[s, home, away]) and v.move_usd[0] > 0


def test_a_move_that_pays_back_only_with_credits_is_positive(world: World) -> None:
    trace, grid, s, home, away = world
    credited = with_credits(trace, 1_000_000.0)  # Alibaba credits nobody else would have used
    v = verdict_of(credited, grid, s, home, away)
    replicas = float(grid.replicas[s])
    assert v.list_saved_usd[0] < 0  # the list-price label said no
    assert v.credit_saved_usd[0] == pytest.approx(AWAY_USD_H * replicas * 72, rel=1e-6)
    assert v.labelled[0] and v.positive[0]
    # the same figure the bill gives: the move held for the horizon, against staying
    path = static_path(credited, grid)
    moved = path.copy()
    moved[1:73, s] = away
    stay = account("stay", credited, grid, path, Floors(), 1)
    move = account("move", credited, grid, moved, Floors(), 1)
    back = float(grid.move_usd[s, away, home])  # the held path comes home after the horizon
    assert float(stay.cost_usd.sum() - move.cost_usd.sum()) == pytest.approx(
        float(v.net_usd[0]) - back, rel=1e-6
    )


def test_a_move_onto_credits_that_expire_before_it_pays_back_is_not_positive(world: World) -> None:
    trace, grid, s, home, away = world
    v = verdict_of(with_credits(trace, 1_000_000.0, expire_after_h=3.0), grid, s, home, away)
    replicas = float(grid.replicas[s])
    # the credits covered the first hours only: steps 1, 2 and 3 (a credit_expiry zeroes the balance
    # after that step's burn, as the simulator does)
    assert v.credit_saved_usd[0] == pytest.approx(AWAY_USD_H * replicas * 3, rel=1e-6)
    assert v.net_usd[0] < 0 and v.labelled[0] and not v.positive[0]


def test_credits_the_rest_of_the_fleet_would_have_used_are_no_saving(world: World) -> None:
    trace, grid, s, home, away = world
    idx = trace.index
    prices = trace.hourly_cost_usd.copy()
    # another service runs on Alibaba the whole time and would use up the grant by itself
    other = next(
        o
        for o in range(len(trace.services))
        if o != s and idx.providers[int(idx.pair_provider[grid.cand_pair[o, grid.initial[o]]])] == "alibaba"
    )
    prices[:, grid.cand_pair[other, grid.initial[other]]] = 50.0
    shared = with_credits(dataclasses.replace(trace, hourly_cost_usd=prices), 3_000.0)
    v = verdict_of(shared, grid, s, home, away)
    # the move took Alibaba credit the other service then missed: the fleet's credits are the same
    assert v.credit_saved_usd[0] == pytest.approx(0.0, abs=1e-6)
    assert not v.positive[0]


def test_a_move_too_close_to_the_end_is_not_labelled(world: World) -> None:
    trace, grid, s, home, away = world
    v = verdict_of(trace, grid, s, home, away, at=trace.steps - 5)
    assert not v.labelled[0] and not v.positive[0]
