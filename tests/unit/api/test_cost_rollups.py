"""GET /cost-analysis over 5+ days reads the hourly rollups: the same series before the hours are
rolled up (raw samples) and after (rollups), on hour-aligned whole-hour buckets."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from support.builders import placement, service, telemetry_sample
from support.http import bearer
from swen.domain.keys import Role
from swen.store import rollups
from swen.store.repository import Store

AWS, ALI = placement("aws/us-east-1"), placement("alibaba/cn-hangzhou")


def _series(body: dict[str, Any], key: str, value: str) -> dict[str, list[tuple[str, float]]]:
    return {s["provider"]: [(p["ts"], p[value]) for p in s["points"]] for s in body[key]}


def test_thirty_days_from_rollups_equal_the_raw_series(client: TestClient, store: Store, keys: dict) -> None:
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
    assert rollups.roll_up(store).hours > 700
    rolled = client.get("/cost-analysis?days=30", headers=viewer).json()
    assert raw["credits_step_s"] == rolled["credits_step_s"] == 8 * 3600  # 25,920 s rounded up to hours
    for key, value in (("spend_by_provider", "monthly_usd"), ("credits_burndown", "credits_usd")):
        before, after = _series(raw, key, value), _series(rolled, key, value)
        assert before.keys() == after.keys() and before
        for provider in before:
            assert [ts for ts, _ in after[provider]] == [ts for ts, _ in before[provider]]
            assert [v for _, v in after[provider]] == pytest.approx(
                [v for _, v in before[provider]], rel=1e-9
            )
    first = datetime.fromisoformat(rolled["spend_by_provider"][0]["points"][0]["ts"])
    assert first.minute == first.second == 0  # buckets start on the hour
