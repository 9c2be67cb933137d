"""Accounting of a placement path, and the apply step's GPU capacity check, on a real short trace."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from swen.backtest.accounting import _beyond, account
from swen.backtest.lifecycle import OpenMove
from swen.backtest.runner import BacktestConfig, Prepared, prepare
from swen.backtest.spec import load_spec
from swen.backtest.strategies import Lifecycle, PlatformReplay, static_path
from swen.backtest.trace import Floors
from swen.domain.decision import Confidence
from swen.engine.params import EngineParams
from swen.pipeline.policy import PolicyGate

SURE = Confidence(
    value=0.9,
    margin=0.2,
    margin_term=0.8,
    stability=1.0,
    stability_cycles=10,
    stability_window=10,
    freshness=1.0,
)


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> Prepared:
    folder: Path = tmp_path_factory.mktemp("spec")
    path = folder / "gpu.yaml"
    scenario = {
        "kind": "gpu_stockout",
        "provider": "aws",
        "region": "us-west-2",
        "start_offset_s": 7200,
        "duration_s": 36000,
    }
    path.write_text(
        yaml.safe_dump({"name": "gpu", "days": 0.5, "seed": 9, "scenarios": [scenario]}), encoding="utf-8"
    )
    return prepare(BacktestConfig(spec=load_spec(str(path)), days=0.5, seed=9))


def column_of(prepared: Prepared, service: str, key: str) -> tuple[int, int]:
    names = [s.name for s in prepared.services]
    s = names.index(service)
    for c in range(prepared.grid.width):
        if prepared.grid.cand_pair[s, c] >= 0 and prepared.grid.placement(prepared.trace, s, c).key == key:
            return s, c
    raise AssertionError(f"{key} is not a candidate of {service}")


def test_a_round_trip_pays_both_migrations_and_the_prices_where_it_ran(prepared: Prepared) -> None:
    trace, grid = prepared.trace, prepared.grid
    s, away = column_of(prepared, "service-1", "aws/us-west-2")
    home = int(grid.initial[s])
    path = static_path(trace, grid)
    path[5:10, s] = away
    out = account("trip", trace, grid, path, Floors(), detection_steps=3)
    assert out.migrations[s] == 2
    assert out.migration_usd[s] == pytest.approx(grid.move_usd[s, home, away] + grid.move_usd[s, away, home])
    assert grid.move_usd[s, home, away] > 0
    pairs = grid.cand_pair[s, path[:, s]]
    running = (
        float((trace.hourly_cost_usd[np.arange(trace.steps), pairs]).sum()) * 2 * trace.step_h
    )  # 2 replicas
    assert out.running_usd[s] == pytest.approx(running)
    # us-west-2 is ~68 ms from service-1's us-east-1 users (SLO 50 ms): the five steps there break it
    assert out.slo_minutes[s] == pytest.approx(5 * trace.step_s / 60)
    assert out.slo_minutes_beyond_detection[s] == pytest.approx(2 * trace.step_s / 60)
    others = np.arange(len(prepared.services)) != s
    assert (out.migrations[others] == 0).all()


def test_minutes_beyond_detection_count_each_run_separately() -> None:
    bad = np.zeros((20, 2), dtype=bool)
    bad[0:3, 0] = True  # 3 steps: within an allowance of 4
    bad[6:16, 0] = True  # 10 steps: 6 beyond
    bad[:, 1] = True  # 20 steps: 16 beyond
    assert _beyond(bad, 4).tolist() == [6.0, 16.0]


def test_a_gpu_move_fails_when_the_target_has_no_capacity_at_apply_time(prepared: Prepared) -> None:
    trace = prepared.trace
    s, target = column_of(prepared, "inference-a10g", "aws/us-west-2")
    replay = PlatformReplay(
        trace,
        prepared.grid,
        prepared.catalog,
        params=EngineParams(),
        lifecycle=Lifecycle(),
        floors=Floors(),
        gate=PolicyGate(),
    )
    pair = int(prepared.grid.cand_pair[s, target])
    step = 60  # five hours in: inside the us-west-2 stock-out
    assert trace.gpu_availability[step, pair] == 0
    placement = prepared.grid.placement(trace, s, target)
    replay.open[s] = OpenMove("dec-test", target, placement, True, step, SURE, emergency=False)
    replay.due[step] = [s]
    replay._apply_due(step, trace.time_at(step))
    assert replay.tally.failed_no_capacity == 1
    assert replay.column[s] == prepared.grid.initial[s]
    assert replay.current["inference-a10g"] == prepared.services[s].fleet_placement
    # the same move before the stock-out goes through
    early = 6
    assert trace.gpu_availability[early, pair] >= Floors().gpu_availability
    replay.open[s] = OpenMove("dec-test-2", target, placement, True, early, SURE, emergency=False)
    replay.due[early] = [s]
    replay._apply_due(early, trace.time_at(early))
    assert replay.tally.applied == 1
    assert replay.column[s] == target
    assert replay.last_moved["inference-a10g"] == trace.time_at(early)


def test_the_engine_sees_the_same_cooldowns_with_only_the_services_still_cooling_down(
    prepared: Prepared,
) -> None:
    """The replay passes the engine only the moves still within the cooldown (``_cooling``); the
    services it holds for their cooldown are those the full ``last_moved`` record holds."""
    params = EngineParams(cooldown_s=1800.0, amortisation_months=0.02)
    replay = PlatformReplay(
        prepared.trace,
        prepared.grid,
        prepared.catalog,
        params=params,
        lifecycle=Lifecycle(),
        floors=Floors(),
        gate=PolicyGate(),
    )
    names = [s.name for s in prepared.services]
    seen = {"held": 0, "dropped": 0}

    def check(t: int, result: object, _column: object) -> None:
        now = prepared.trace.time_at(t)
        cycle = result.cycle  # type: ignore[attr-defined]
        expected = np.array(
            [
                name in replay.last_moved
                and params.cooldown_s - (now - replay.last_moved[name]).total_seconds() > 0
                for name in names
            ]
        )
        assert ((cycle.cooldown_left_s > 0) == expected).all(), t
        seen["held"] += int(expected.sum())
        seen["dropped"] += len(replay.last_moved) - len(replay._cooling_since)

    replay.observer = check
    replay.run()
    assert replay.tally.applied > 0
    assert seen["held"] > 0 and seen["dropped"] > 0
