"""The trace keeps GPU availability only for pairs with a GPU market, once per market, and prices and
availability in a compact form; every read gives back exactly what the simulator produced for every
pair."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest

from swen.backtest.columns import CodedMatrix, FactoredMatrix, GroupedColumns
from swen.backtest.runner import DEFAULT_START
from swen.backtest.spec import expand_scenarios, load_services, load_spec
from swen.backtest.trace import Trace, build_trace
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
    assert trace.gpu_values.shape[0] == trace.steps
    assert trace.gpu_values.shape[1] < int(has_gpu.sum())  # one column per market (split if needed)
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


def _both(name: str, services: int, days: float) -> tuple[Trace, Trace]:
    spec = load_spec(name)
    catalog = load_catalog()
    fleet, credits = load_services(spec, services=services, seed=spec.seed, catalog=catalog)
    scenarios = expand_scenarios(spec.scenarios, fleet.services)

    def build(compact: bool) -> Trace:
        return build_trace(
            fleet.services,
            catalog,
            seed=spec.seed,
            start=DEFAULT_START,
            days=days,
            step_s=STEP_S,
            credits=credits,
            scenarios=scenarios,
            prices=fleet.prices,
            compact=compact,
        )

    return build(True), build(False)


@pytest.mark.parametrize("name", ["price-war", "provider-outages", "gpu-squeeze"])
def test_compact_storage_reads_back_every_cell_bit_for_bit(name: str) -> None:
    compact, plain = _both(name, 30, 2.0)
    assert isinstance(compact.hourly_cost_usd, FactoredMatrix)
    assert isinstance(compact.availability, CodedMatrix)
    assert compact.availability.nbytes < 0.6 * np.asarray(plain.availability).nbytes
    # prices: one float64 per offer plus one per service and provider (at 1,000 services 11,000 pairs
    # share 115 offers and ~1,900 service factors)
    assert compact.hourly_cost_usd.base.values.shape[1] <= len(compact.index.offers)
    rows = np.arange(compact.steps)
    pairs = np.arange(compact.index.size)
    for field in ("hourly_cost_usd", "availability"):
        ours, theirs = getattr(compact, field), getattr(plain, field)
        full = ours[rows[:, None], pairs[None, :]]
        assert full.dtype == theirs.dtype
        np.testing.assert_array_equal(full.view(np.uint8), np.asarray(theirs).view(np.uint8))
        # every indexing form the readers use
        some = np.array([[0, 5], [compact.index.size - 1, 2]])
        np.testing.assert_array_equal(ours[3], theirs[3])
        np.testing.assert_array_equal(ours[3, some], theirs[3, some])
        np.testing.assert_array_equal(ours[2:9, some], theirs[2:9, some])
        np.testing.assert_array_equal(ours[2:9, 4], theirs[2:9, 4])
        assert ours[7, 4] == theirs[7, 4]
    np.testing.assert_array_equal(compact.latency_ms, plain.latency_ms)
    np.testing.assert_array_equal(compact.gpu_availability, plain.gpu_availability)
    assert compact.gpu_values.shape[1] < plain.gpu_values.shape[1]


def test_grouped_columns_split_a_group_that_stops_being_equal() -> None:
    grouped = GroupedColumns(3, np.array([0, 0, 0, 1]), np.float64)
    grouped.put(0, np.array([1.0, 1.0, 1.0, 2.0]))
    grouped.put(1, np.array([1.5, 7.0, 1.5, 2.0]))  # pair 1 leaves its group
    grouped.put(2, np.array([-0.0, 0.0, 0.0, np.nan]))  # -0.0 and 0.0 differ in their bits
    expected = np.array([[1.0, 1.0, 1.0, 2.0], [1.5, 7.0, 1.5, 2.0], [-0.0, 0.0, 0.0, np.nan]])
    got = grouped[np.arange(3)[:, None], np.arange(4)[None, :]]
    np.testing.assert_array_equal(got.view(np.uint64), expected.view(np.uint64))
    assert grouped.splits == 2


def test_coded_matrix_widens_its_codes_past_256_values() -> None:
    coded = CodedMatrix(2, 300, np.float16)
    row = np.arange(300, dtype=np.float16)
    coded.put(0, row)
    coded.put(1, row[::-1])
    assert coded.codes.dtype == np.uint16
    np.testing.assert_array_equal(coded[0], row)
    np.testing.assert_array_equal(coded[1], row[::-1])
