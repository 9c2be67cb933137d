"""The honest measure: hand-computed bills for credits, migration cost and amortisation; the replay's
constraints match the live engine's; the scheduled-events reference plans without the noise.

The small traces are real simulator traces of two services whose price matrices are then set to
round numbers, so every expected bill below is computed by hand.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import yaml

from swen.backtest.accounting import account
from swen.backtest.migration import MigrationCost
from swen.backtest.runner import DAYS_PER_MONTH, BacktestConfig, prepare, replay_platform
from swen.backtest.spec import load_spec
from swen.backtest.strategies import PlatformReplay, static_path
from swen.backtest.trace import Floors, Grid, Trace, build_grid, build_trace
from swen.domain.models import Criticality, Service
from swen.domain.providers import PROVIDERS
from swen.domain.sample_columns import SampleColumns
from swen.engine.constraints import Constraint
from swen.pipeline.policy import PolicyGate
from swen.telemetry.catalog import Catalog, load_catalog
from swen.telemetry.credits import Credits
from swen.telemetry.fleet import load_fleet
from swen.telemetry.scenarios import Scenario, ScenarioKind

START = BacktestConfig.__dataclass_fields__["start"].default
HOUR = 3600.0


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


def two_services() -> list[Service]:
    """service-1 (2 replicas, aws/us-east-1) and analytics-api (1 replica, aws/us-east-1)."""
    fleet = {s.name: s for s in load_fleet()}
    return [fleet["service-1"], fleet["analytics-api"]]


def hand_trace(
    catalog: Catalog,
    *,
    grants: Credits,
    scenarios: tuple[Scenario, ...] = (),
    steps: int = 12,
) -> tuple[Trace, Grid]:
    """Hourly steps; every AWS pair costs $1/h, every Alibaba pair $0.50/h, every GCP pair $0.80/h;
    moves cost nothing (so the bills below are running cost less credits)."""
    trace = build_trace(
        two_services(),
        catalog,
        seed=1,
        start=START,
        days=steps / 24,
        step_s=HOUR,
        credits=grants,
        scenarios=scenarios,
    )
    price = {"aws": 1.0, "alibaba": 0.5, "gcp": 0.8}
    per_pair = np.array(
        [price[trace.index.providers[p]] for p in trace.index.pair_provider], dtype=np.float32
    )
    trace = dataclasses.replace(trace, hourly_cost_usd=np.tile(per_pair, (trace.steps, 1)))
    grid = build_grid(trace, catalog, undeployable=set(PROVIDERS.undeployable()))
    return trace, dataclasses.replace(grid, move_usd=np.zeros_like(grid.move_usd))


def column(trace: Trace, grid: Grid, s: int, key: str) -> int:
    for c in range(grid.width):
        if grid.cand_pair[s, c] >= 0 and grid.placement(trace, s, c).key == key:
            return c
    raise AssertionError(f"{key} is not a candidate")


def test_credits_burn_by_the_strategys_own_placements_and_reduce_its_bill(catalog: Catalog) -> None:
    trace, grid = hand_trace(catalog, grants={"aws": {"balance_usd": 10.0}})
    # static: both on AWS, $2 + $1 a step: the $10 cover steps 0-2 ($9) and $1 of step 3
    static = account("static", trace, grid, static_path(trace, grid), Floors(), 1)
    assert static.list_cost_usd.sum() == pytest.approx(12 * 3.0)
    assert static.credit_usd.sum() == pytest.approx(10.0)
    assert static.total_usd == pytest.approx(36.0 - 10.0)
    # shared in proportion to each service's spend on the provider: 2/3 and 1/3
    assert static.credit_usd.tolist() == pytest.approx([20 / 3, 10 / 3])
    assert static.cumulative_usd[2] == pytest.approx(0.0)
    assert static.cumulative_usd[3] == pytest.approx(2.0)
    # analytics-api on Alibaba from the start: only service-1 burns AWS credit ($2 a step: 5 steps)
    moved = static_path(trace, grid)
    moved[:, 1] = column(trace, grid, 1, "alibaba/us-west-1")
    out = account("moved", trace, grid, moved, Floors(), 1)
    assert out.credit_usd.tolist() == pytest.approx([10.0, 0.0])
    assert out.cost_usd.tolist() == pytest.approx([24.0 - 10.0, 12 * 0.5])
    assert out.total_usd == pytest.approx(20.0)


def test_credits_expire_with_the_grant_and_with_a_credit_expiry_event(catalog: Catalog) -> None:
    # the grant expires after 6 h: steps 0-5 are covered ($3 each), nothing after
    trace, grid = hand_trace(catalog, grants={"aws": {"balance_usd": 100.0, "expires_after_days": 0.25}})
    static = account("static", trace, grid, static_path(trace, grid), Floors(), 1)
    assert static.credit_usd.sum() == pytest.approx(6 * 3.0)
    assert static.total_usd == pytest.approx(36.0 - 18.0)
    # a credit_expiry event at 3 h zeroes the balance after that step's burn: steps 0-3 are covered
    expiry = Scenario(kind=ScenarioKind.CREDIT_EXPIRY, provider="aws", start_offset_s=3 * HOUR)
    trace, grid = hand_trace(catalog, grants={"aws": {"balance_usd": 100.0}}, scenarios=(expiry,))
    static = account("static", trace, grid, static_path(trace, grid), Floors(), 1)
    assert static.credit_usd.sum() == pytest.approx(4 * 3.0)


def test_refills_are_counted_once_per_period(catalog: Catalog) -> None:
    grant = {"balance_usd": 0.0, "refill_usd": 5.0, "refill_every_days": 0.25}
    trace, grid = hand_trace(catalog, grants={"aws": grant})
    static = account("static", trace, grid, static_path(trace, grid), Floors(), 1)
    # refills at 6 h (step 6) only, within 12 hourly steps: $5 burnt at once
    assert static.credit_usd.sum() == pytest.approx(5.0)


def test_the_platforms_engine_sees_its_own_balances(catalog: Catalog, tmp_path: Path) -> None:
    spec_path = tmp_path / "duel.yaml"
    spec_path.write_text(
        yaml.safe_dump(
            {
                "name": "duel",
                "days": 1,
                "seed": 2,
                "credits": {"aws": {"balance_usd": 400}, "alibaba": {"balance_usd": 400}},
                "scenarios": [
                    {"kind": "cost_spike", "provider": "alibaba", "magnitude": 0.5, "start_offset_s": 3600}
                ],
            }
        ),
        encoding="utf-8",
    )
    spec = load_spec(str(spec_path))
    result = replay_platform(prepare(BacktestConfig(spec=spec, days=1, seed=2, amortisation_months=6.0)))
    assert result.platform.migrations.sum() >= 1
    # the replay's own ledger and the accounting of the finished path burn the same credits
    replayed = result.platform.credit_usd.sum()
    assert replayed > 0
    rerun = account("again", result.trace, result.grid, result.platform.path, Floors(), 1)
    assert rerun.credit_usd.sum() == pytest.approx(replayed)
    # a strategy that moves burns differently from static: the credits are its own
    assert result.platform.credit_usd.tolist() != pytest.approx(result.static.credit_usd.tolist())


def test_migration_cost_adds_downtime_and_risk_to_egress(catalog: Catalog) -> None:
    cost = MigrationCost()
    fleet = {s.name: s for s in load_fleet()}
    s1 = fleet["service-1"]  # high, stateless, 10 GB
    assert cost.downtime_min(s1) == 1.0
    assert cost.fixed_usd(s1) == pytest.approx(10.0 * (1.0 + 0.02 * 60))  # $22
    orders = fleet["orders-api"]  # critical, stateful, 500 GB
    assert cost.downtime_min(orders) == pytest.approx(5.0 + 500 * 0.01)
    assert cost.fixed_usd(orders) == pytest.approx(50.0 * (10.0 + 0.05 * 60))  # $650
    custom = MigrationCost(downtime_usd_per_min={Criticality.HIGH: 1.0}, stateless_failure_rate=0.0)
    assert custom.fixed_usd(s1) == pytest.approx(1.0)
    trace = build_trace([s1], catalog, seed=1, start=START, days=1 / 24, step_s=HOUR)
    grid = build_grid(trace, catalog)
    home = int(grid.initial[0])
    away = column(trace, grid, 0, "aws/us-west-2")
    egress = 10.0 * catalog.egress_usd_per_gb(s1.fleet_placement, grid.placement(trace, 0, away))
    assert grid.move_usd[0, home, away] == pytest.approx(egress + 22.0)
    assert grid.move_usd[0, home, home] == 0.0
    assert grid.downtime_min[0] == 1.0
    path = np.full((trace.steps, 1), away, dtype=np.int16)
    out = account("one-move", trace, grid, path, Floors(), 1)
    assert out.migration_usd[0] == pytest.approx(egress + 22.0)
    assert out.downtime_minutes[0] == 1.0


def test_amortisation_follows_the_replay_horizon() -> None:
    spec = load_spec("calm-month")
    config = BacktestConfig(spec=spec, days=30, seed=1)
    assert config.engine_params().amortisation_months == pytest.approx(30 / DAYS_PER_MONTH)
    assert 0.98 < config.engine_params().amortisation_months < 1.0
    pinned = BacktestConfig(spec=spec, days=30, seed=1, amortisation_months=6.0)
    assert pinned.engine_params().amortisation_months == 6.0


def test_moves_never_enter_a_provider_the_live_engine_cannot_apply(tmp_path: Path) -> None:
    """GCP halves its prices: analytics-api (allowed on GCP) would be cheapest there, but no GCP
    Terraform module ships, so the live engine excludes it (``swen explain``: "cannot be applied");
    the replay, the oracle and the scheduled-events reference must not go there either."""
    assert "gcp" in PROVIDERS.undeployable()
    spec_path = tmp_path / "gcp.yaml"
    cut = {
        "kind": "cost_spike",
        "provider": "gcp",
        "magnitude": 0.5,
        "start_offset_s": 0,
        "duration_s": 86400,
    }
    spec_path.write_text(yaml.safe_dump({"name": "gcp", "days": 1, "seed": 4, "scenarios": [cut]}), "utf-8")
    config = BacktestConfig(spec=load_spec(str(spec_path)), days=1, seed=4, amortisation_months=6.0)
    prepared = prepare(config)
    trace, grid = prepared.trace, prepared.grid
    s = [x.name for x in prepared.services].index("analytics-api")
    gcp_cols = [
        c
        for c in range(grid.width)
        if grid.cand_pair[s, c] >= 0 and grid.placement(trace, s, c).provider == "gcp"
    ]
    assert gcp_cols and not grid.enterable[s, gcp_cols].any()
    result = replay_platform(prepared)
    for outcome in (result.platform, result.oracle, result.scheduled):
        used = {grid.placement(trace, s, int(c)).provider for c in np.unique(outcome.path[:, s])}
        assert "gcp" not in used, outcome.name
    # the replay's engine excludes GCP with the reason the live engine's explain gives
    replay = PlatformReplay(
        trace,
        grid,
        prepared.catalog,
        params=config.engine_params(),
        lifecycle=config.lifecycle,
        floors=config.floors,
        gate=PolicyGate(),
    )
    replay.run()
    assert replay.last_result is not None
    cycle = replay.last_result.cycle
    row = cycle.row_of["analytics-api"]
    cols = [j for j, p in enumerate(cycle.fleet.placements) if p.provider == "gcp"]
    assert all(int(cycle.flags[row, j]) & Constraint.UNDEPLOYABLE for j in cols)
    excluded = replay.last_result.decision("analytics-api").excluded
    reasons = " ".join(" ".join(e.reasons) for e in excluded if e.placement.provider == "gcp")
    assert "cannot be applied: no GCP Terraform module" in reasons


def test_the_scheduled_reference_plans_on_the_events_without_the_noise(catalog: Catalog) -> None:
    services = two_services()
    cut = Scenario(
        kind=ScenarioKind.COST_SPIKE,
        provider="alibaba",
        magnitude=0.5,
        start_offset_s=2 * HOUR,
        duration_s=4 * HOUR,
    )
    quiet = [
        build_trace(
            services, catalog, seed=seed, start=START, days=0.5, step_s=HOUR, scenarios=(cut,), noise=False
        )
        for seed in (1, 2)
    ]
    assert np.array_equal(quiet[0].hourly_cost_usd, quiet[1].hourly_cost_usd)  # no seed, no noise
    list_price = quiet[0].index.offer_list_price[quiet[0].index.pair_offer].astype(np.float32)
    alibaba = quiet[0].index.pair_provider == quiet[0].index.providers.index("alibaba")
    assert np.allclose(quiet[0].hourly_cost_usd[0], list_price)
    assert np.allclose(quiet[0].hourly_cost_usd[3][alibaba], 0.5 * list_price[alibaba])
    assert (np.asarray(quiet[0].availability) == 1.0).all()
    noisy = build_trace(services, catalog, seed=1, start=START, days=0.5, step_s=HOUR, scenarios=(cut,))
    assert not np.array_equal(noisy.hourly_cost_usd, quiet[0].hourly_cost_usd)


def test_the_replay_and_the_live_loop_apply_the_same_hard_constraints(tmp_path: Path) -> None:
    """At the replay's last step, the live loop's own evaluation (``EngineLoop._evaluate_ticks``,
    with the undeployable providers, quarantines and floors it passes) flags exactly the candidates
    the replay's engine flagged."""
    from swen.config import Settings
    from swen.loop import EngineLoop
    from swen.store.repository import Store

    spec_path = tmp_path / "gcp.yaml"
    cut = {
        "kind": "cost_spike",
        "provider": "gcp",
        "magnitude": 0.5,
        "start_offset_s": 0,
        "duration_s": 86400,
    }
    stockout = {
        "kind": "gpu_stockout",
        "provider": "aws",
        "region": "us-west-2",
        "start_offset_s": 0,
        "duration_s": 86400,
    }
    spec_path.write_text(
        yaml.safe_dump({"name": "gcp", "days": 0.25, "seed": 4, "scenarios": [cut, stockout]}), "utf-8"
    )
    config = BacktestConfig(spec=load_spec(str(spec_path)), days=0.25, seed=4, amortisation_months=6.0)
    prepared = prepare(config)
    replay = PlatformReplay(
        prepared.trace,
        prepared.grid,
        prepared.catalog,
        params=config.engine_params(),
        lifecycle=config.lifecycle,
        floors=config.floors,
        gate=PolicyGate(),
    )
    replay.run()
    assert replay.last_result is not None
    settings = Settings(home=tmp_path, window_size=config.params.stability_window)
    store = Store.open(settings)
    try:
        loop = EngineLoop(settings, store, catalog=prepared.catalog, anomaly_detection=False)
        now = prepared.trace.time_at(prepared.trace.steps - 1)
        live = loop._evaluate_ticks(
            replay.window,
            replay.services,
            dict(replay.current),
            dict(replay.last_moved),
            [(now, SampleColumns.empty())],
            slo_left=dict(replay.slo_left),  # the live loop reads them from the applied decisions
        )
    finally:
        store.close()
    ours, theirs = replay.last_result.cycle, live.cycle
    assert ours.fleet.placements == theirs.fleet.placements
    assert np.array_equal(ours.flags, theirs.flags)
    assert (ours.flags & Constraint.UNDEPLOYABLE).any()  # GCP is flagged in both
    assert (ours.flags & Constraint.LOW_GPU_AVAILABILITY).any()  # so is the stocked-out GPU market
    assert (ours.flags & Constraint.SLO_HOLDDOWN).any()  # and the placement an SLO repair left
    assert replay.tally.slo_repairs >= len(replay.slo_left) >= 1
    repairs = [e for e in replay.journal if e.for_service and e.event in ("auto_approve", "manual_review")]
    assert len(repairs) >= replay.tally.slo_repairs  # left out of the calibration (service moves)


def test_the_auto_share_without_repairs_leaves_the_slo_repairs_out() -> None:
    from swen.backtest.lifecycle import PolicyTally

    tally = PolicyTally(auto_approve=22, manual_review=10, deny=0, slo_repairs=3, slo_repairs_auto=1)
    assert tally.auto_share == pytest.approx(22 / 32)
    assert tally.auto_share_without_repairs == pytest.approx(21 / 29)
    assert PolicyTally(slo_repairs=0).auto_share_without_repairs is None
