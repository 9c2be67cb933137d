"""Hourly rollups: they match aggregates computed from the raw samples, and the 30-day reads from
them equal the raw reads of store/history.py (rolled-up hours and the raw tail merged exactly)."""

from __future__ import annotations

import math
import random
from collections import defaultdict
from datetime import timedelta

import pytest

from support.builders import T0, placement, telemetry_sample
from swen.domain.models import TelemetrySample
from swen.store import history, rollups
from swen.store.repository import Store


def _samples(hours: int, seed: int = 3) -> list[TelemetrySample]:
    """Two services on three places, a sample every 5 minutes with varied cost, latency, credits."""
    rng = random.Random(seed)
    out = []
    for minute in range(0, hours * 60, 5):
        for service in ("service-1", "service-2"):
            for where in ("aws/us-east-1", "aws/eu-west-1", "alibaba/cn-hangzhou"):
                out.append(
                    telemetry_sample(
                        service, where, ts=T0 + timedelta(minutes=minute, seconds=rng.randint(0, 4)),
                        hourly=rng.uniform(0.1, 0.5), latency=rng.uniform(10, 200),
                        credits=rng.uniform(0, 1000), availability=rng.uniform(0.9, 1.0),
                    )
                )  # fmt: skip
    return out


def _expected(samples: list[TelemetrySample]) -> dict[tuple[str, str, str, object], dict[str, float]]:
    groups: dict[tuple[str, str, str, object], list[TelemetrySample]] = defaultdict(list)
    for s in samples:
        groups[(s.service, s.provider, s.region, rollups.floor_hour(s.ts))].append(s)
    out = {}
    for key, group in groups.items():
        latencies = sorted(s.latency_ms for s in group)
        out[key] = {
            "samples": len(group),
            "hourly_cost_usd": sum(s.hourly_cost_usd for s in group) / len(group),
            "credits_usd": sum(s.credits_usd for s in group) / len(group),
            "latency_ms": sum(latencies) / len(group),
            "latency_p95_ms": latencies[math.ceil(0.95 * len(group)) - 1],
            "availability": sum(s.availability for s in group) / len(group),
            "availability_min": min(s.availability for s in group),
        }
    return out


def test_rollups_match_raw_aggregates(store: Store) -> None:
    samples = _samples(hours=4)
    store.insert_samples(samples)
    run = rollups.roll_up(store)
    # the newest sample is in hour 3 (less than CLOSE_GRACE past hour 3's start): hours 0-2 are closed
    assert run.hours == 3
    assert run.through == T0 + timedelta(hours=3)
    got = rollups.hourly_rollups(store, start=T0, end=T0 + timedelta(hours=10))
    expected = {k: v for k, v in _expected(samples).items() if k[3] < T0 + timedelta(hours=3)}
    assert {(r.service, r.provider, r.region, r.hour) for r in got} == set(expected)
    for r in got:
        want = expected[(r.service, r.provider, r.region, r.hour)]
        assert r.samples == want["samples"]
        for field in ("hourly_cost_usd", "credits_usd", "latency_ms", "latency_p95_ms", "availability"):
            assert getattr(r, field) == pytest.approx(want[field], rel=1e-9), field
        assert r.availability_min == pytest.approx(want["availability_min"])


def test_roll_up_again_adds_only_new_closed_hours_and_duplicates_nothing(store: Store) -> None:
    samples = _samples(hours=6)
    store.insert_samples([s for s in samples if s.ts < T0 + timedelta(hours=3)])
    first = rollups.roll_up(store)
    assert first.hours == 2
    rows_before = len(rollups.hourly_rollups(store, start=T0, end=T0 + timedelta(days=1)))
    assert rollups.roll_up(store).hours == 0  # nothing new closed
    store.insert_samples([s for s in samples if s.ts >= T0 + timedelta(hours=3)])
    assert rollups.roll_up(store).hours == 3
    rows = rollups.hourly_rollups(store, start=T0, end=T0 + timedelta(days=1))
    assert len(rows) == rows_before + 3 * 6  # hours 2, 3, 4 x (2 services x 3 places)
    assert len({(r.service, r.provider, r.region, r.hour) for r in rows}) == len(rows)
    rollups.roll_hours(store, T0, T0 + timedelta(hours=5))  # a rerun after a crash: same rows
    assert rollups.hourly_rollups(store, start=T0, end=T0 + timedelta(days=1)) == rows


@pytest.mark.parametrize("rolled_hours", [0, 3, 10])
def test_reads_from_rollups_equal_the_raw_reads(store: Store, rolled_hours: int) -> None:
    store.insert_samples(_samples(hours=10))
    if rolled_hours:
        rollups.roll_up(store, max_hours=rolled_hours)
    start, end, step = T0, T0 + timedelta(hours=10), 7200
    running = {
        "service-1": (placement("aws/us-east-1"), 3),
        "service-2": (placement("alibaba/cn-hangzhou"), 1),
    }
    for fast, slow in [
        (
            rollups.spend_by_provider(store, start=start, end=end, step_s=step, running=running),
            history.spend_by_provider(store, start=start, end=end, step_s=step, running=running),
        ),
        (
            rollups.credits_by_provider(store, start=start, end=end, step_s=step),
            history.credits_by_provider(store, start=start, end=end, step_s=step),
        ),
    ]:
        assert fast.keys() == slow.keys()
        for provider in fast:
            assert [ts for ts, _ in fast[provider]] == [ts for ts, _ in slow[provider]]
            assert [v for _, v in fast[provider]] == pytest.approx([v for _, v in slow[provider]], rel=1e-9)


def test_an_unaligned_window_is_read_from_raw_samples(store: Store) -> None:
    store.insert_samples(_samples(hours=10))
    rollups.roll_up(store)
    start, end, step = T0 + timedelta(minutes=7), T0 + timedelta(hours=9), 864
    running = {"service-1": (placement("aws/us-east-1"), 2)}
    fast = rollups.spend_by_provider(store, start=start, end=end, step_s=step, running=running)
    slow = history.spend_by_provider(store, start=start, end=end, step_s=step, running=running)
    assert [ts for ts, _ in fast["aws"]] == [ts for ts, _ in slow["aws"]]
    assert [v for _, v in fast["aws"]] == pytest.approx([v for _, v in slow["aws"]], rel=1e-9)
    credits = rollups.credits_by_provider(store, start=start, end=end, step_s=step)
    assert credits == pytest.approx(history.credits_by_provider(store, start=start, end=end, step_s=step))
