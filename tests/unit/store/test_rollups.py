"""Hourly rollups: they match aggregates computed from the raw samples, and the 30-day reads from
them equal the raw reads of store/history.py (rolled-up hours and the raw tail merged exactly)."""

from __future__ import annotations

import math
import random
from collections import defaultdict
from datetime import timedelta

import pytest
from alembic import command
from sqlalchemy import delete

from support.builders import T0, placement, telemetry_sample
from swen.domain.models import TelemetrySample
from swen.store import history, rollups
from swen.store.db import alembic_config, migrate, write_transaction
from swen.store.repository import Store
from swen.store.tables import telemetry_latest


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
    _assert_rollups_are_the_raw_aggregates(store, samples, T0 + timedelta(hours=3))


def test_p95_is_the_nearest_rank_value_at_every_group_size_with_ties(store: Store) -> None:
    """Groups of 1 to 45 samples in one hour (n = 20, 40: 0.95 n is whole), latencies with repeats;
    the rolled-up p95 is the value at rank ceil(0.95 n) of the sorted latencies, on each backend
    (PostgreSQL takes it from each group's array, SQLite from a window function)."""
    rng = random.Random(11)
    samples, latencies = [], {}
    for n in range(1, 46):
        service = f"service-{n}"
        values = [float(rng.choice([10, 20, 20, 30, rng.randint(1, 500)])) for _ in range(n)]
        latencies[service] = values
        for k, latency in enumerate(values):
            ts = T0 + timedelta(seconds=k * 3600 // n)
            samples.append(telemetry_sample(service, "aws/us-east-1", ts=ts, latency=latency))
    samples.append(telemetry_sample("service-1", "aws/us-east-1", ts=T0 + timedelta(hours=1, minutes=6)))
    store.insert_samples(samples)
    assert rollups.roll_up(store).hours == 1
    got = {r.service: r for r in rollups.hourly_rollups(store, start=T0, end=T0 + timedelta(hours=1))}
    assert set(got) == set(latencies)
    for service, values in latencies.items():
        ranked = sorted(values)
        n = len(values)
        assert got[service].samples == n
        assert got[service].latency_p95_ms == ranked[(n * 95 + 99) // 100 - 1], (service, ranked)
        assert got[service].latency_ms == pytest.approx(sum(values) / n, rel=1e-12)


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


# --- 6-hour rollups ---------------------------------------------------------------------------------

FAR = T0 + timedelta(days=2)


def _summed_hours(store: Store) -> dict[tuple[str, str, str, object], tuple[int, float]]:
    """What the 6-hour rollups must hold: the hourly rollups summed per 6-hour bucket."""
    out: dict[tuple[str, str, str, object], tuple[int, float]] = {}
    for r in rollups.hourly_rollups(store, start=T0 - timedelta(days=30), end=FAR):
        key = (r.service, r.provider, r.region, rollups.floor_bucket(r.hour))
        n, total = out.get(key, (0, 0.0))
        out[key] = (n + r.samples, total + r.hourly_cost_usd * r.samples)
    return out


def _same_buckets(got: dict, want: dict) -> bool:  # type: ignore[type-arg]
    return got.keys() == want.keys() and all(
        got[k][0] == want[k][0] and math.isclose(got[k][1], want[k][1], rel_tol=1e-12) for k in want
    )


def _assert_buckets_are_their_hours(store: Store) -> None:
    got = rollups.six_hour_rollups(store, start=T0 - timedelta(days=30), end=FAR)
    want = _summed_hours(store)
    assert got.keys() == want.keys() and got
    for key, (n, total) in want.items():
        assert got[key][0] == n
        assert got[key][1] == pytest.approx(total, rel=1e-12)


def test_six_hour_rollups_are_the_sums_of_their_hours_also_while_a_bucket_fills(store: Store) -> None:
    store.insert_samples(_samples(hours=15))
    # hour by hour, as the maintenance step catches up: the open bucket (12:00-18:00) fills as it goes
    for _ in range(14):
        rollups.roll_up(store, max_hours=1)
        _assert_buckets_are_their_hours(store)
    buckets = {key[3] for key in rollups.six_hour_rollups(store, start=T0, end=FAR)}
    assert buckets == {T0, T0 + timedelta(hours=6), T0 + timedelta(hours=12)}


def test_rerolling_after_a_crash_duplicates_nothing_in_the_six_hour_rollups(store: Store) -> None:
    store.insert_samples(_samples(hours=15))
    rollups.roll_up(store, max_hours=8)  # hours 0-7: bucket 06:00 is half rolled up
    before = rollups.six_hour_rollups(store, start=T0, end=FAR)
    # a crash after the commit, then the same hours again (the rerun rewrites them), then the rest
    rollups.roll_hours(store, T0 + timedelta(hours=3), T0 + timedelta(hours=8))
    assert _same_buckets(rollups.six_hour_rollups(store, start=T0, end=FAR), before)
    rollups.roll_up(store)
    _assert_buckets_are_their_hours(store)
    once = rollups.six_hour_rollups(store, start=T0, end=FAR)
    rollups.roll_hours(store, T0, T0 + timedelta(hours=14))
    assert _same_buckets(rollups.six_hour_rollups(store, start=T0, end=FAR), once)


def test_purging_keeps_hourly_and_six_hour_rollups_over_the_same_hours(store: Store) -> None:
    store.insert_samples(_samples(hours=15))
    rollups.roll_up(store)
    # a cutoff inside a bucket is rounded down to it: both keep 06:00 onwards
    rollups.purge_rollups(store, T0 + timedelta(hours=8, minutes=20))
    hours = rollups.hourly_rollups(store, start=T0, end=FAR)
    assert min(r.hour for r in hours) == T0 + timedelta(hours=6)
    assert min(key[3] for key in rollups.six_hour_rollups(store, start=T0, end=FAR)) == T0 + timedelta(
        hours=6
    )
    _assert_buckets_are_their_hours(store)


@pytest.mark.parametrize("step_h", [6, 12])
@pytest.mark.parametrize("rolled_hours", [0, 5, 6, 9, 14])
def test_six_hour_windows_equal_the_hourly_and_the_raw_reads(
    store: Store, rolled_hours: int, step_h: int
) -> None:
    """A window on 6-hour buckets: whole buckets from the 6-hour rollups, the bucket still filling from
    the hourly rollups and the raw samples; the same series as the raw read (store/history.py)."""
    store.insert_samples(_samples(hours=15))
    if rolled_hours:
        rollups.roll_up(store, max_hours=rolled_hours)
    start, end, step = T0, T0 + timedelta(hours=15), step_h * 3600
    assert rollups.bucket_aligned(start, step)
    running = {
        "service-1": (placement("aws/us-east-1"), 3),
        "service-2": (placement("alibaba/cn-hangzhou"), 2),
    }
    fast = rollups.spend_by_provider(store, start=start, end=end, step_s=step, running=running)
    slow = history.spend_by_provider(store, start=start, end=end, step_s=step, running=running)
    assert fast.keys() == slow.keys() == {"aws", "alibaba"}
    for provider in fast:
        assert [ts for ts, _ in fast[provider]] == [ts for ts, _ in slow[provider]]
        assert [v for _, v in fast[provider]] == pytest.approx([v for _, v in slow[provider]], rel=1e-9)


def test_migration_0013_fills_the_six_hour_rollups_from_the_hourly_ones(
    store: Store, database_url: str
) -> None:
    store.insert_samples(_samples(hours=10))
    rollups.roll_up(store)  # hours 0-8: buckets 00:00 (whole) and 06:00 (hours 6-8)
    written = rollups.six_hour_rollups(store, start=T0, end=FAR)
    with write_transaction(store.engine) as conn:  # back to before 0013: the table is gone
        cfg = alembic_config(database_url)
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0012")
    migrate(store.engine)  # 0013 again: filled from telemetry_rollups
    assert _same_buckets(rollups.six_hour_rollups(store, start=T0, end=FAR), written)
    _assert_buckets_are_their_hours(store)


class _Interrupted(Exception):
    """Raised between two chunks of a roll-up: a crash there."""


def _assert_rollups_are_the_raw_aggregates(store: Store, samples: list[TelemetrySample], end: object) -> None:
    got = rollups.hourly_rollups(store, start=T0, end=FAR)
    expected = {k: v for k, v in _expected(samples).items() if k[3] < end}
    assert [(r.service, r.provider, r.region, r.hour) for r in got] == sorted(expected)
    for r in got:
        want = expected[(r.service, r.provider, r.region, r.hour)]
        assert r.samples == want["samples"]
        for field in ("hourly_cost_usd", "credits_usd", "latency_ms", "latency_p95_ms", "availability"):
            assert getattr(r, field) == pytest.approx(want[field], rel=1e-9), field
        assert r.availability_min == pytest.approx(want["availability_min"])


def test_a_roll_up_interrupted_between_chunks_shows_nothing_and_a_rerun_is_exact(store: Store) -> None:
    """PostgreSQL rolls an hour a chunk of services per transaction: until the hours are published in
    one last transaction no reader sees any of their rows (nor ``rolled_through`` move), a crash
    between two chunks changes nothing, and the rerun writes exactly the rollups of the raw samples."""
    if store.engine.dialect.name != "postgresql":
        pytest.skip("SQLite rolls the hours in one transaction: there are no chunks")
    samples = _samples(hours=4)
    store.insert_samples(samples)
    rollups.roll_up(store, max_hours=1)  # hour 0 published
    hours_before = rollups.hourly_rollups(store, start=T0, end=FAR)
    buckets_before = rollups.six_hour_rollups(store, start=T0, end=FAR)
    credits_before = rollups.credits_by_provider(store, start=T0, end=T0 + timedelta(hours=4), step_s=3600)
    seen = []

    def crash_at_the_third(n: int) -> None:
        seen.append(n)
        # what every reader sees after the n-th chunk committed: hour 0 alone, as before
        assert rollups.rolled_through_at(store) == T0 + timedelta(hours=1)
        assert rollups.hourly_rollups(store, start=T0, end=FAR) == hours_before
        assert _same_buckets(rollups.six_hour_rollups(store, start=T0, end=FAR), buckets_before)
        window = {"start": T0, "end": T0 + timedelta(hours=4), "step_s": 3600}
        assert rollups.credits_by_provider(store, **window) == credits_before
        if n == 3:  # the second hour's first chunk is in, its second not
            raise _Interrupted

    with pytest.raises(_Interrupted):
        rollups.roll_hours(store, T0 + timedelta(hours=1), T0 + timedelta(hours=3), services_per_chunk=1,
                           after_chunk=crash_at_the_third)  # fmt: skip
    assert seen == [1, 2, 3]  # two services, a chunk each: two chunks an hour
    assert rollups.rolled_through_at(store) == T0 + timedelta(hours=1)
    assert rollups.hourly_rollups(store, start=T0, end=FAR) == hours_before

    chunks: list[int] = []
    rows = rollups.roll_hours(
        store,
        T0 + timedelta(hours=1),
        T0 + timedelta(hours=3),
        services_per_chunk=1,
        after_chunk=chunks.append,
    )
    assert chunks == [1, 2, 3, 4]
    assert rows == 2 * 6  # hours 1 and 2 x (2 services x 3 places)
    assert rollups.rolled_through_at(store) == T0 + timedelta(hours=3)
    _assert_rollups_are_the_raw_aggregates(store, samples, T0 + timedelta(hours=3))
    _assert_buckets_are_their_hours(store)
    # and the same as the one-transaction roll-up of the same hours
    chunked = rollups.hourly_rollups(store, start=T0, end=FAR)
    rollups.roll_hours(store, T0, T0 + timedelta(hours=3), services_per_chunk=0)
    single = rollups.hourly_rollups(store, start=T0, end=FAR)
    assert [(r.service, r.provider, r.region, r.hour, r.samples) for r in single] == [
        (r.service, r.provider, r.region, r.hour, r.samples) for r in chunked
    ]
    for a, b in zip(single, chunked, strict=True):
        assert a.hourly_cost_usd == pytest.approx(b.hourly_cost_usd, rel=1e-12)
        assert a.latency_p95_ms == b.latency_p95_ms


def test_chunks_cover_services_outside_the_known_names(store: Store) -> None:
    """The chunk bounds come from ``telemetry_latest``; a service of the hour that sorts before, between
    or after them is still rolled up, once."""
    samples = _samples(hours=2)
    extra = [
        telemetry_sample(name, "aws/us-east-1", ts=T0 + timedelta(minutes=10), latency=50.0)
        for name in ("a-first", "service-15", "zz-last")
    ]
    store.insert_samples(samples + extra)
    with write_transaction(store.engine, pg_lock_key=None) as conn:  # known: service-1, service-2
        conn.execute(
            delete(telemetry_latest).where(
                telemetry_latest.c.service.in_(["a-first", "service-15", "zz-last"])
            )
        )
    rollups.roll_hours(store, T0, T0 + timedelta(hours=1), services_per_chunk=1)
    _assert_rollups_are_the_raw_aggregates(store, samples + extra, T0 + timedelta(hours=1))
