"""The trace keeps GPU availability only for pairs with a GPU market; every read gives back exactly what
the simulator produced for every pair."""

from __future__ import annotations

from datetime import timedelta

import numpy as np

from swen.backtest.runner import DEFAULT_START
from swen.backtest.spec import expand_scenarios, load_services, load_spec
from swen.backtest.trace import build_trace
from swen.telemetry.catalog import load_catalog
from swen.telemetry.simulator import Simulator

STEP_S = 300.0
DAYS = 0.5


def test_gpu_availability_of_every_pair_is_the_simulator_s() -> None:
    spec = load_spec("gpu-scarcity")
    catalog = load_catalog()
    fleet, credits = load_services(spec, services=40, seed=spec.seed, catalog=catalog)
    scenarios = expand_scenarios(spec.scenarios, fleet.services)
    trace = build_trace(
        fleet.services,
        catalog,
        seed=spec.seed,
        start=DEFAULT_START,
        days=DAYS,
        step_s=STEP_S,
        credits=credits,
        scenarios=scenarios,
        prices=fleet.prices,
    )
    sim = Simulator(fleet.services, catalog, spec.seed, DEFAULT_START, STEP_S, credits=credits)
    for scenario in scenarios:
        sim.activate(scenario, at=DEFAULT_START)
    expected = np.stack(
        [
            sim.step_arrays(DEFAULT_START + timedelta(seconds=STEP_S * t)).gpu_availability.astype(np.float16)
            for t in range(trace.steps)
        ]
    )
    has_gpu = trace.index.pair_gpu_market >= 0
    assert 0 < trace.gpu_pairs.size < trace.index.size
    assert trace.gpu_values.shape == (trace.steps, int(has_gpu.sum()))
    assert (expected[:, ~has_gpu] == 1.0).all()  # the model the sparse storage relies on
    assert ((expected[:, has_gpu] < 0.2).any(axis=0)).any()  # stock-outs happen in this replay
    np.testing.assert_array_equal(trace.gpu_availability, expected)
    for t in (0, trace.steps // 2, trace.steps - 1):
        np.testing.assert_array_equal(trace.gpu_row(t), expected[t])
        for pair in (0, int(trace.gpu_pairs[0]), trace.index.size - 1):
            assert trace.gpu_at(t, pair) == expected[t, pair]
    pairs = np.array([[0, int(trace.gpu_pairs[-1])], [int(trace.gpu_pairs[0]), 1]])
    cells = trace.gpu_cells(slice(2, 5), pairs)
    np.testing.assert_array_equal(cells, expected[2:5][:, pairs].astype(np.float64))
