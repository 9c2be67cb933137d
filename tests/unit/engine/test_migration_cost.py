"""The engine prices a move with downtime and risk besides egress (engine/migration_cost.py), the same
model the backtest bills."""

from __future__ import annotations

import pytest
from engine_factories import ALI_SG, US_EAST, cell, engine_params, make_scenario

from support.builders import service
from swen.domain.decision import DecisionAction
from swen.domain.models import Criticality
from swen.engine.migration_cost import MigrationCost


def test_engine_charges_downtime_and_risk_on_top_of_egress() -> None:
    svc = service("api", fleet_placement=US_EAST, criticality=Criticality.HIGH)
    scenario = make_scenario(
        [svc],
        {("api", US_EAST): cell(hourly=1.0), ("api", ALI_SG): cell(hourly=0.5)},
        params=engine_params(migration=MigrationCost()),
    )
    decision = scenario.run(3).decisions[0]
    egress = svc.state_gb * 0.02  # the factories' flat egress price
    assert decision.savings.migration_cost_usd == pytest.approx(egress + 10.0 * (1.0 + 0.02 * 60))
    assert MigrationCost().fixed_usd(svc) == pytest.approx(22.0)


def test_a_move_out_of_an_slo_breach_is_not_blocked_by_its_one_time_cost() -> None:
    """$60 a month cheaper and inside the SLO: the $110 of downtime and risk of a critical service
    brings the net saving under the $50 bar, but the move buys the SLO back; a price move with the same
    figures (SLO met where it runs) stays."""
    cells_breach = {
        ("db", US_EAST): cell(hourly=1.0, latency=150),
        ("db", ALI_SG): cell(hourly=1.0 - 60 / 730, latency=40),
    }
    cells_price = {
        ("db", US_EAST): cell(hourly=1.0, latency=40),
        ("db", ALI_SG): cell(hourly=1.0 - 60 / 730, latency=40),
    }
    params = engine_params(migration=MigrationCost(), amortisation_months=1.0)
    svc = service("db", fleet_placement=US_EAST, criticality=Criticality.CRITICAL, latency_slo_ms=100)
    breach = make_scenario([svc], cells_breach, params=params).run(12).decisions[0]
    assert breach.savings.net_monthly_usd < 50 < breach.savings.gross_monthly_usd
    assert breach.action is DecisionAction.MIGRATE
    price = make_scenario([svc], cells_price, params=params).run(12).decisions[0]
    assert price.action is DecisionAction.STAY
    assert any("net savings" in r for r in price.reasons)
