"""The telemetry window: bulk updates, newest sample wins, p95 over the window, freshness."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest
from engine_factories import ALI_SG, T0, US_EAST

from support.builders import telemetry_sample
from swen.domain.errors import EngineError
from swen.domain.models import Placement, TelemetrySample
from swen.engine.window import SampleWindow, _p95_by_sort, _p95_small


def sample(service: str, key: str, seconds: float, latency: float, hourly: float = 1.0) -> TelemetrySample:
    """A sample ``seconds`` into the window (exact numbers: fully available, no errors, no credits)."""
    return telemetry_sample(
        service,
        key,
        ts=T0 + timedelta(seconds=seconds),
        hourly=hourly,
        latency=latency,
        availability=1.0,
        error_rate=0.0,
        simulated_price=False,
    )


@pytest.mark.parametrize("size", [1, 2, 7, 21, 25])
def test_p95_matches_numpy_nanpercentile(size: int) -> None:
    rng = np.random.default_rng(size)
    window = SampleWindow([f"s{i}" for i in range(30)], [US_EAST, ALI_SG], size)
    s_idx, c_idx = np.divmod(np.arange(60), 2)
    for cycle in range(size + 3):
        keep = rng.random(60) > 0.3  # some cells miss some cycles
        n = int(keep.sum())
        window.update_arrays(
            s_idx[keep],
            c_idx[keep],
            ts=np.full(n, float(cycle)),
            hourly_cost_usd=np.ones(n),
            latency_ms=rng.choice([5.0, 50.0, 250.0], n) if cycle % 2 else rng.uniform(1, 300, n),
            credits_usd=np.zeros(n),
            gpu_availability=np.ones(n),
            availability=np.ones(n),
            error_rate=np.zeros(n),
        )
    ring = np.moveaxis(window.ring["latency_ms"].astype(np.float64), 0, -1)  # S x C x W
    has = ~np.all(np.isnan(ring), axis=2)
    expected = np.full(has.shape, np.nan)
    expected[has] = np.nanpercentile(ring[has], 95, axis=1)
    np.testing.assert_allclose(window.latency_p95(), expected, rtol=1e-12, equal_nan=True)


@pytest.mark.parametrize("size", [3, 10, 25])
def test_p95_of_a_window_sampling_few_cells_matches_numpy(size: int) -> None:
    """Each service samples 2 of 8 placements (a backtest's layout): the p95 is taken on those cells
    alone, the same values as over the whole window, NaN elsewhere."""
    rng = np.random.default_rng(size)
    places = [Placement.parse(f"aws/region-{i}") for i in range(8)]
    window = SampleWindow([f"s{i}" for i in range(40)], places, size)
    s_idx = np.repeat(np.arange(40), 2)
    c_idx = np.stack([np.arange(40) % 8, (np.arange(40) + 3) % 8], axis=1).ravel()
    for cycle in range(size + 2):
        keep = rng.random(80) > 0.2
        n = int(keep.sum())
        window.update_arrays(
            s_idx[keep],
            c_idx[keep],
            ts=np.full(n, float(cycle)),
            hourly_cost_usd=np.ones(n),
            latency_ms=rng.uniform(1, 300, n),
            credits_usd=np.zeros(n),
            gpu_availability=np.ones(n),
            availability=np.ones(n),
            error_rate=np.zeros(n),
        )
    ring = np.moveaxis(window.ring["latency_ms"].astype(np.float64), 0, -1)
    has = ~np.all(np.isnan(ring), axis=2)
    assert 0 < has.sum() < has.size / 2  # the sparse path is the one taken
    expected = np.full(has.shape, np.nan)
    expected[has] = np.nanpercentile(ring[has], 95, axis=1)
    got = window.latency_p95()
    np.testing.assert_allclose(got, expected, rtol=1e-12, equal_nan=True)
    full = _p95_by_sort(window.ring["latency_ms"]) if size > 21 else _p95_small(window.ring["latency_ms"])
    np.testing.assert_array_equal(got, full)


def test_newest_sample_of_a_cycle_wins_and_late_samples_do_not_override() -> None:
    window = SampleWindow(["svc"], [US_EAST, ALI_SG], 3)
    accepted = window.update(
        [
            sample("svc", US_EAST.key, 20, latency=50, hourly=2.0),
            sample("svc", US_EAST.key, 10, latency=10, hourly=1.0),
            sample("other", US_EAST.key, 10, latency=10),  # unknown service: skipped
            sample("svc", "gcp/us-central1", 10, latency=10),  # unknown placement: skipped
        ]
    )
    assert accepted == 2
    assert window.latest["hourly_cost_usd"][0, 0] == 2.0
    assert window.ring["latency_ms"][window.cursor, 0, 0] == 50
    assert window.ts_last[0, 0] == (T0 + timedelta(seconds=20)).timestamp()
    window.update([sample("svc", US_EAST.key, 5, latency=99, hourly=9.0)])  # late
    assert window.latest["hourly_cost_usd"][0, 0] == 2.0
    assert window.ring["latency_ms"][window.cursor, 0, 0] == 99  # kept in the window all the same
    assert np.isinf(window.age_s(T0)[0, 1])  # never seen: missing


def test_window_keeps_only_the_last_n_cycles() -> None:
    window = SampleWindow(["svc"], [US_EAST], 3)
    for k, latency in enumerate([500, 10, 20, 30]):
        window.update([sample("svc", US_EAST.key, k, latency=latency)])
    assert sorted(window.ring["latency_ms"][:, 0, 0].tolist()) == [10, 20, 30]
    assert window.latency_p95()[0, 0] == pytest.approx(np.percentile([10, 20, 30], 95))


def test_bad_window_inputs_are_refused() -> None:
    with pytest.raises(EngineError, match="window size"):
        SampleWindow(["svc"], [US_EAST], 0)
    with pytest.raises(EngineError, match="bad history fields"):
        SampleWindow(["svc"], [US_EAST], 3, history_fields=("hourly_cost_usd",))
    with pytest.raises(EngineError, match="duplicate service"):
        SampleWindow(["svc", "svc"], [US_EAST], 3)
    window = SampleWindow(["svc"], [US_EAST], 3)
    with pytest.raises(EngineError, match="out of range"):
        one = np.ones(1)
        window.update_arrays(
            np.array([0]),
            np.array([1]),
            ts=one,
            hourly_cost_usd=one,
            latency_ms=one,
            credits_usd=one,
            gpu_availability=one,
            availability=one,
            error_rate=one,
        )


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        ("availability", np.array([1.5]), "availability has values"),
        ("latency_ms", np.array([np.nan]), "latency_ms has values"),
        ("hourly_cost_usd", np.array([-1.0]), "hourly_cost_usd has values"),
        ("credits_usd", np.array([1.0, 2.0]), "differ in length"),
    ],
)
def test_update_arrays_refuses_bad_columns(column: str, value: np.ndarray, message: str) -> None:
    window = SampleWindow(["svc"], [US_EAST], 3)
    one = np.ones(1)
    columns = {
        "ts": one,
        "hourly_cost_usd": one,
        "latency_ms": one,
        "credits_usd": one,
        "gpu_availability": one,
        "availability": one,
        "error_rate": one,
    }
    columns[column] = value
    with pytest.raises(EngineError, match=message):
        window.update_arrays(np.array([0]), np.array([0]), **columns)
    assert window.updates == 0  # nothing half-written


def test_resized_window_keeps_the_data_of_what_both_fleets_have() -> None:
    window = SampleWindow(["a", "b"], [US_EAST, ALI_SG], 4)
    for k, latency in enumerate([10, 20, 30, 40, 50]):
        window.update(
            [sample("a", US_EAST.key, k, latency=latency, hourly=k), sample("b", ALI_SG.key, k, latency=99)]
        )
    bigger = window.resized(["c", "a"], [ALI_SG, US_EAST], size=3)
    assert bigger.shape == (2, 2)
    assert bigger.latest["hourly_cost_usd"][1, 1] == 4.0
    assert sorted(bigger.ring["latency_ms"][:, 1, 1].tolist()) == [30, 40, 50]  # the newest 3 cycles
    assert bigger.latency_p95()[1, 1] == pytest.approx(np.percentile([30, 40, 50], 95))
    assert np.isinf(bigger.age_s(T0)[0]).all()  # the new service has no data yet
    bigger.update([sample("c", US_EAST.key, 9, latency=60)])
    assert bigger.ring["latency_ms"][bigger.cursor, 0, 1] == 60
    kept = bigger.ring["latency_ms"][:, 1, 1]
    assert sorted(kept[~np.isnan(kept)].tolist()) == [40, 50]  # the oldest slot made room


def test_gpu_models_by_placement() -> None:
    from swen.domain.models import Offer
    from swen.engine.fleet import gpu_models_by_placement

    def offer(region: str, gpu: str | None) -> Offer:
        return Offer(
            provider="aws",
            region=region,
            instance_type="g5.xlarge",
            vcpus=4,
            memory_gib=16,
            gpu_name=gpu,
            gpu_count=1 if gpu else 0,
            price_hour_usd=1.0,
            source="test",
        )

    got = gpu_models_by_placement(
        [offer("us-east-1", "A10G"), offer("us-east-1", None), offer("us-west-2", None)]
    )
    assert got == {"aws/us-east-1": frozenset({"A10G"}), "aws/us-west-2": frozenset()}


def test_update_columns_fills_the_window_as_update_does() -> None:
    from swen.domain.sample_columns import SampleColumns

    cycles = [
        [
            sample("svc", US_EAST.key, 20 + k, latency=50 + k, hourly=2.0 + k),
            sample("svc", US_EAST.key, 10 + k, latency=10, hourly=1.0),  # older in the same cycle
            sample("svc", ALI_SG.key, 15 + k, latency=30, hourly=0.5),
            sample("other", US_EAST.key, 10, latency=10),  # unknown service: skipped
            sample("svc", "gcp/us-central1", 10, latency=10),  # unknown placement: skipped
        ]
        for k in range(4)
    ]
    objects = SampleWindow(["svc"], [US_EAST, ALI_SG], 3)
    columns = SampleWindow(["svc"], [US_EAST, ALI_SG], 3)
    for cycle in cycles:
        assert objects.update(cycle) == columns.update_columns(SampleColumns.from_samples(cycle)) == 3
    for field in objects.latest:
        np.testing.assert_array_equal(objects.latest[field], columns.latest[field])
    np.testing.assert_array_equal(objects.ring["latency_ms"], columns.ring["latency_ms"])
    np.testing.assert_array_equal(objects.ts_last, columns.ts_last)
    np.testing.assert_array_equal(objects.simulated, columns.simulated)
    np.testing.assert_array_equal(objects.instance_type, columns.instance_type)
    assert objects.cursor == columns.cursor
    assert columns.update_columns(SampleColumns.empty()) == 0 and columns.cursor == (objects.cursor + 1) % 3


def test_update_of_model_objects_writes_what_update_arrays_writes() -> None:
    """``update`` (one path with ``update_columns`` since they were merged) against the arrays entry
    fed by hand: the newest sample of a cell wins, unknown names are skipped, ts in epoch seconds."""
    cycle = [
        sample("svc", US_EAST.key, 20, latency=50, hourly=2.0),
        sample("svc", US_EAST.key, 10, latency=10, hourly=1.0),  # older in the same cycle
        sample("svc", ALI_SG.key, 15, latency=30, hourly=0.5),
        sample("other", US_EAST.key, 10, latency=10),  # unknown service: skipped
    ]
    objects = SampleWindow(["svc"], [US_EAST, ALI_SG], 3)
    by_hand = SampleWindow(["svc"], [US_EAST, ALI_SG], 3)
    assert objects.update(iter(cycle)) == 3  # any iterable
    kept = cycle[:3]
    by_hand.update_arrays(
        np.zeros(3, dtype=np.intp),
        np.array([0, 0, 1]),
        ts=np.array([s.ts.timestamp() for s in kept]),
        hourly_cost_usd=np.array([s.hourly_cost_usd for s in kept]),
        latency_ms=np.array([s.latency_ms for s in kept]),
        credits_usd=np.array([s.credits_usd for s in kept]),
        gpu_availability=np.array([s.gpu_availability for s in kept]),
        availability=np.array([s.availability for s in kept]),
        error_rate=np.array([s.error_rate for s in kept]),
        simulated=np.array([s.simulated_price for s in kept]),
        instance_type=[s.instance_type for s in kept],
    )
    for field in objects.latest:
        np.testing.assert_array_equal(objects.latest[field], by_hand.latest[field])
    np.testing.assert_array_equal(objects.ring["latency_ms"], by_hand.ring["latency_ms"])
    np.testing.assert_array_equal(objects.ts_last, by_hand.ts_last)
    np.testing.assert_array_equal(objects.instance_type, by_hand.instance_type)
    assert objects.latest["latency_ms"][0].tolist() == [50.0, 30.0]
    assert objects.update([]) == 0 and objects.cursor == 1  # an empty cycle still takes a slot


def test_sample_columns_epoch_seconds_are_computed_once() -> None:
    from swen.domain.sample_columns import COLUMNS, SampleColumns

    batch = [sample("svc", US_EAST.key, k % 2, latency=10) for k in range(4)]
    columns = SampleColumns.from_samples(batch)
    first = columns.epoch_seconds()
    assert list(first) == [T0.timestamp(), T0.timestamp() + 1] * 2
    assert columns.epoch_seconds() is first  # kept
    assert columns.slice(1, 3).epoch_seconds() == [T0.timestamp() + 1, T0.timestamp()]
    assert "_epoch" not in COLUMNS and columns.samples() == batch
    assert columns == SampleColumns.from_samples(batch)  # the memo is not part of equality
