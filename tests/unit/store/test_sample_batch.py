"""A tick as columns (``SampleBatch``): stored exactly as the same samples one by one, checked in bulk."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from swen.domain.errors import InvalidInputError, TelemetryError
from swen.domain.models import TelemetrySample
from swen.domain.sample_batch import MEASUREMENTS, SampleBatch, SampleGroups
from swen.store.repository import Store
from swen.telemetry.catalog import load_catalog
from swen.telemetry.fleet import load_fleet
from swen.telemetry.simulator import Simulator

T0 = datetime(2026, 3, 1, 23, 59, 55, tzinfo=UTC)


def _simulator() -> Simulator:
    return Simulator(load_fleet(), load_catalog(), 11, T0, 5.0)


def _stored(store: Store) -> tuple[list[TelemetrySample], list[TelemetrySample]]:
    history = store.samples_between(start=T0 - timedelta(days=1), end=T0 + timedelta(days=1))
    return history, store.latest_samples()


def test_a_batch_is_stored_as_its_samples_one_by_one(store: Store) -> None:
    """Two ticks (the second on the next UTC day: a new partition on PostgreSQL) through each path."""
    ticks = [T0, T0 + timedelta(seconds=5)]
    batches = [b for sim in [_simulator()] for b in (sim.step_batch(t) for t in ticks)]
    twin = _simulator()
    assert [b.samples() for b in batches] == [twin.step(t) for t in ticks]  # same values as step()

    assert [store.insert_sample_batch(b) for b in batches] == [len(b) for b in batches]
    by_batch = _stored(store)
    store.purge_samples(T0 + timedelta(days=2))
    assert _stored(store) == ([], [])
    for b in batches:
        store.insert_samples(b.samples())
    one_by_one = _stored(store)

    assert by_batch == one_by_one
    assert len(by_batch[0]) == 2 * len(batches[0])
    assert {s.ts for s in by_batch[1]} == {ticks[1]}
    assert by_batch[1] == sorted(batches[1].samples(), key=lambda s: (s.service, s.provider, s.region))
    assert store.newest_sample_time() == ticks[1]


def test_an_older_batch_never_moves_the_latest_sample_back(store: Store) -> None:
    sim = _simulator()
    first, second = sim.step_batch(T0), sim.step_batch(T0 + timedelta(seconds=5))
    store.insert_sample_batch(second)
    store.insert_sample_batch(first)  # late, older: stored, but not the latest
    assert store.latest_samples() == sorted(second.samples(), key=lambda s: (s.service, s.provider, s.region))
    assert len(_stored(store)[0]) == len(first) + len(second)


def test_an_empty_batch_writes_nothing(store: Store) -> None:
    groups = SampleGroups.checked([], [], [], [], [])
    empty = SampleBatch.checked(T0, groups, **{name: [] for name, _ in MEASUREMENTS})
    assert store.insert_sample_batch(empty) == 0
    assert _stored(store) == ([], [])


def _groups(**change: list[str]) -> SampleGroups:
    columns = {
        "service": ["web", "web"],
        "provider": ["aws", "alibaba"],
        "region": ["us-east-1", "us-west-1"],
        "instance_type": ["m5.large", "ecs.g7.large"],
    } | change
    return SampleGroups.checked(**columns, simulated_price=[False, True])


def _values(**change: list[float]) -> dict[str, list[float]]:
    return {name: [0.5, 0.5] for name, _ in MEASUREMENTS} | change


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"service": ["web", "Web;rm -rf"]}, "invalid service name"),
        ({"provider": ["aws", "../etc"]}, "invalid provider/region name"),
        ({"region": ["us east", "us-west-1"]}, "invalid provider/region name"),
        ({"instance_type": ["m5.large", ""]}, "invalid instance type"),
        ({"provider": ["aws", "aws"], "region": ["us-east-1", "us-east-1"]}, "appears more than once"),
        ({"region": ["us-east-1"]}, "region has 1 entries, service has 2"),
    ],
)
def test_groups_refuse_bad_names_once_with_what_is_wrong(change: dict[str, list[str]], message: str) -> None:
    with pytest.raises(InvalidInputError, match=message) as caught:
        _groups(**change)
    assert caught.value.hint


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"latency_ms": [1.0, float("nan")]}, r"latency_ms is nan for web on alibaba/us-west-1 \(1 bad"),
        ({"hourly_cost_usd": [-0.1, -1.0]}, r"hourly_cost_usd is -0.1 for web on aws/us-east-1 \(2 bad"),
        ({"availability": [1.5, 1.0]}, "availability is 1.5"),
        ({"error_rate": [0.0, float("inf")]}, "error_rate is inf"),
        ({"credits_usd": [2e9, 0.0]}, "credits_usd is 2000000000.0"),
        ({"gpu_availability": [1.0]}, r"gpu_availability has shape \(1,\), expected \(2,\)"),
    ],
)
def test_a_batch_refuses_values_out_of_range_and_nothing_is_written(
    store: Store, values: dict[str, list[float]], message: str
) -> None:
    with pytest.raises(InvalidInputError, match=message) as caught:
        SampleBatch.checked(T0, _groups(), **_values(**values))
    assert caught.value.hint
    assert _stored(store) == ([], [])


def test_a_batch_needs_an_aware_time_and_every_column() -> None:
    with pytest.raises(InvalidInputError, match="timezone-aware"):
        SampleBatch.checked(T0.replace(tzinfo=None), _groups(), **_values())
    partial = _values()
    del partial["error_rate"]
    with pytest.raises(InvalidInputError, match="expected"):
        SampleBatch.checked(T0, _groups(), **partial)


def test_the_simulators_batch_reports_non_finite_values_as_telemetry_errors() -> None:
    sim = _simulator()
    arrays = sim.step_arrays(T0)
    arrays.latency_ms[3] = np.nan
    with pytest.raises(TelemetryError, match="latency_ms is nan"):
        arrays.to_batch()
    assert sim.groups is sim.step_arrays(T0 + timedelta(seconds=5)).groups  # names checked once
