"""GET /cost-analysis over 5+ days reads the rollups: the same series as the raw samples give over the
window it says it covers (series_end), before the hours are rolled up (raw up to now) and after (the
rollups, up to the last rolled-up hour); 30 days on 6-hour buckets from 00/06/12/18 UTC."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from support.builders import placement, service, telemetry_sample
from support.http import bearer
from swen.domain.keys import Role
from swen.moves.running import running_services
from swen.store import history, rollups
from swen.store.repository import Store

AWS, ALI = placement("aws/us-east-1"), placement("alibaba/cn-hangzhou")


def _series(body: dict[str, Any], key: str, value: str) -> dict[str, list[tuple[str, float]]]:
    return {s["provider"]: [(p["ts"], p[value]) for p in s["points"]] for s in body[key]}


def _assert_same(got: dict[str, list[tuple[str, float]]], want: dict[str, list[tuple[str, float]]]) -> None:
    assert got.keys() == want.keys() and got
    for provider in got:
        assert [ts for ts, _ in got[provider]] == [ts for ts, _ in want[provider]]
        assert [v for _, v in got[provider]] == pytest.approx([v for _, v in want[provider]], rel=1e-9)


def _reference(store: Store, start: datetime, end: datetime, step: int) -> dict[str, dict]:  # type: ignore[type-arg]
    """The raw-sample reads of store/history.py over the window the response says it covers."""
    where = {name: (r.placement, r.replicas) for name, r in running_services(store).items()}
    spend = history.spend_by_provider(store, start=start, end=end, step_s=step, running=where)
    credits = history.credits_by_provider(store, start=start, end=end, step_s=step)
    iso = lambda series: {  # noqa: E731
        p: [(ts.isoformat().replace("+00:00", "Z"), v) for ts, v in points] for p, points in series.items()
    }
    return {"spend_by_provider": iso(spend), "credits_burndown": iso(credits)}


def test_thirty_days_from_rollups_equal_the_raw_series(client: TestClient, store: Store, keys: dict) -> None:
    """30 days: 6-hour buckets from 00/06/12/18 UTC. Before any roll-up the window is read raw up to
    now; once hours are rolled up it ends at the last rolled-up hour (series_end), read from the 6-hour
    and hourly rollups, and equals the raw reads of that window."""
    now = datetime.now(UTC).replace(microsecond=0)
    store.upsert_services([service("web", replicas=2), service("db")])
    samples = []
    for h in range(0, 30 * 24, 5):
        ts = now - timedelta(hours=h, minutes=7)
        samples += [
            telemetry_sample("web", AWS, ts=ts, hourly=1.0 + h % 7, credits=1000.0 - h),
            telemetry_sample("db", AWS, ts=ts, hourly=2.0 + h % 3, credits=500.0 - h / 2),
            telemetry_sample("db", ALI, ts=ts, hourly=0.5, credits=42.0),
        ]
    store.insert_samples(samples)
    viewer = bearer(keys[Role.VIEWER])
    raw = client.get("/cost-analysis?days=30", headers=viewer).json()
    step = 6 * 3600  # 25,920 s: the nearest whole number of 6-hour buckets
    assert raw["credits_step_s"] == step
    start = rollups.floor_bucket(now - timedelta(days=30))
    raw_end = datetime.fromisoformat(raw["series_end"])
    assert now <= raw_end <= now + timedelta(minutes=1)  # nothing rolled up: raw samples up to now
    for key, value in (("spend_by_provider", "monthly_usd"), ("credits_burndown", "credits_usd")):
        _assert_same(_series(raw, key, value), _reference(store, start, raw_end, step)[key])

    through = rollups.roll_up(store).through
    assert through is not None and through > now - timedelta(hours=2)
    rolled = client.get("/cost-analysis?days=30", headers=viewer).json()
    assert rolled["credits_step_s"] == step
    # the end of the last rolled-up hour (of the last one with samples: every 5th here)
    series_end = datetime.fromisoformat(rolled["series_end"])
    assert (
        series_end == rollups.rolled_through_at(store)
        and through - timedelta(hours=5) < series_end <= through
    )
    reference = _reference(store, start, series_end, step)
    for key, value in (("spend_by_provider", "monthly_usd"), ("credits_burndown", "credits_usd")):
        after, before = _series(rolled, key, value), _series(raw, key, value)
        _assert_same(after, reference[key])
        # every bucket but the newest (which ends earlier now) is the one read raw before
        _assert_same(
            {p: v[:-1] for p, v in after.items()}, {p: v[: len(after[p]) - 1] for p, v in before.items()}
        )
    first = datetime.fromisoformat(rolled["spend_by_provider"][0]["points"][0]["ts"])
    assert first.minute == first.second == 0 and first.hour % 6 == 0  # buckets start at 00/06/12/18 UTC


@pytest.mark.parametrize(
    ("days", "step_h", "aligned_to_h"),
    [(5, 2, 1), (7, 2, 1), (14, 4, 1), (21, 6, 6), (30, 6, 6), (40, 12, 6), (60, 12, 6), (90, 24, 6)],
)
def test_windows_from_the_rollups_take_whole_hours_then_whole_six_hour_buckets(
    days: int, step_h: int, aligned_to_h: int
) -> None:
    from swen.api.routers.cost import _window

    end = datetime(2026, 12, 5, 7, 42, 13, tzinfo=UTC)
    start, step = _window(end, days)
    assert step == step_h * 3600
    assert start <= end - timedelta(days=days) < start + timedelta(hours=aligned_to_h)
    assert start.minute == start.second == 0 and start.hour % aligned_to_h == 0
    assert (end - start) / timedelta(seconds=step) <= 150  # points on the chart


def test_a_short_window_is_raw_and_unaligned() -> None:
    from swen.api.routers.cost import _window

    end = datetime(2026, 12, 5, 7, 42, 13, tzinfo=UTC)
    assert _window(end, 1) == (end - timedelta(days=1), 864)
