"""The replay's TraceWindow holds and answers exactly what a SampleWindow fed the same rows does."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest

from swen.backtest.runner import DEFAULT_START
from swen.backtest.spec import expand_scenarios, load_services, load_spec
from swen.backtest.trace import Trace, build_trace
from swen.backtest.trace_window import TraceWindow, window_p95
from swen.engine.window import SampleWindow
from swen.telemetry.catalog import load_catalog


@pytest.fixture(scope="module")
def trace() -> Trace:
    spec = load_spec("provider-outages")
    catalog = load_catalog()
    fleet, credits = load_services(spec, services=12, seed=spec.seed, catalog=catalog)
    return build_trace(
        fleet.services,
        catalog,
        seed=spec.seed,
        start=DEFAULT_START,
        days=0.75,
        step_s=300.0,
        credits=credits,
        scenarios=expand_scenarios(spec.scenarios, fleet.services),
        prices=fleet.prices,
    )


def _windows(trace: Trace, size: int) -> tuple[TraceWindow, SampleWindow, np.ndarray, np.ndarray]:
    placements = load_catalog().placements()
    names = [s.name for s in trace.services]
    column_of = {p.key: i for i, p in enumerate(placements)}
    cols = np.array([column_of[p.key] for p in trace.index.placements], dtype=np.intp)
    window_col = cols[trace.index.pair_placement]
    service_idx = trace.index.pair_service.astype(np.intp)
    ours = TraceWindow(names, placements, size, trace=trace, service_idx=service_idx, window_col=window_col)
    return ours, SampleWindow(names, placements, size), service_idx, window_col


def _same(a: np.ndarray, b: np.ndarray) -> None:
    assert a.dtype == b.dtype and a.shape == b.shape
    np.testing.assert_array_equal(a.view(np.uint8), b.view(np.uint8))


@pytest.mark.parametrize("size", [1, 2, 10, 21, 25])
def test_trace_window_matches_sample_window_at_every_step(trace: Trace, size: int) -> None:
    ours, theirs, service_idx, window_col = _windows(trace, size)
    rng = np.random.default_rng(3)
    for t in range(trace.steps):
        now = trace.start + timedelta(seconds=trace.step_s * t)
        cost = trace.hourly_cost_usd[t]
        credits = rng.uniform(0, 100, trace.index.size)
        row = {
            "hourly_cost_usd": cost,
            "latency_ms": trace.latency_ms[t],
            "credits_usd": credits,
            "gpu_availability": trace.gpu_row(t),
            "availability": trace.availability[t],
        }
        ours.observe(t, now.timestamp(), **row)
        theirs.update_arrays(
            service_idx, window_col, ts=np.full(service_idx.size, now.timestamp()), error_rate=None, **row
        )
        if t % 7 == 0 or t > trace.steps - 3:
            _same(ours.latency_p95(), theirs.latency_p95())
    for field, values in theirs.latest.items():
        _same(ours.latest[field], values)
    _same(ours.ring["latency_ms"], theirs.ring["latency_ms"])
    _same(ours.ts_last, theirs.ts_last)


def test_any_other_update_falls_back_to_the_sample_window(trace: Trace) -> None:
    ours, theirs, service_idx, window_col = _windows(trace, 4)
    for window in (ours, theirs):
        for t in range(3):
            window.update_arrays(
                service_idx,
                window_col,
                ts=np.full(service_idx.size, 1000.0 + t),
                hourly_cost_usd=trace.hourly_cost_usd[t],
                latency_ms=trace.latency_ms[t + 5],  # not the trace's row t: the shortcut would be wrong
                credits_usd=np.zeros(service_idx.size),
                gpu_availability=trace.gpu_row(t),
                availability=trace.availability[t],
                error_rate=None,
            )
    _same(ours.latency_p95(), theirs.latency_p95())


def test_window_p95_interpolates_between_the_two_largest() -> None:
    latency = np.array([[10.0], [30.0], [20.0], [40.0]], dtype=np.float32)
    got = window_p95(latency, 0, 4, 3)
    # t=0: one sample; t=1: 10 and 30 -> 10 + 0.95 x 20; t=2: 20 + 0.9 x 10 ...
    np.testing.assert_allclose(got[:, 0], [10.0, 29.0, 29.0, 39.0])
