"""Read queries of the API on both backends (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from support.builders import T0, decision, placement, service, telemetry_sample
from swen.domain.decision import DecisionStatus
from swen.domain.models import Placement
from swen.store.history import credits_by_provider, telemetry_history
from swen.store.reads import decision_histories, events_version, savings_totals, telemetry_version
from swen.store.repository import Store

AWS, ALI = placement("aws/us-east-1"), placement("alibaba/cn-hangzhou")


def test_history_buckets_are_exact_on_both_backends(any_store: Store) -> None:
    any_store.insert_samples(
        [telemetry_sample("web", AWS, ts=T0 + timedelta(minutes=10 * i), hourly=float(i)) for i in range(12)]
        + [telemetry_sample("web", ALI, ts=T0 + timedelta(minutes=10 * i), hourly=0.5) for i in range(12)]
    )
    points, total = telemetry_history(
        any_store,
        start=T0,
        end=T0 + timedelta(hours=2),
        step_s=3600,
        service="web",
        provider="aws",
        limit=10,
        offset=0,
    )
    assert total == 2
    assert [(p.ts, p.samples) for p in points] == [(T0, 6), (T0 + timedelta(hours=1), 6)]
    assert points[0].hourly_cost_usd == pytest.approx(2.5)
    assert points[1].instance_monthly_cost_usd == pytest.approx(8.5 * 730)
    all_points, total_all = telemetry_history(
        any_store, start=T0, end=T0 + timedelta(hours=2), step_s=1800, limit=3, offset=1
    )
    assert total_all == 8 and len(all_points) == 3
    assert all_points[0].provider == "alibaba" and all_points[0].simulated_price is True


def test_credits_burndown_per_provider(any_store: Store) -> None:
    any_store.insert_samples(
        [
            telemetry_sample(s, AWS, ts=T0 + timedelta(hours=h), credits=1000.0 - 100 * h)
            for h in range(3)
            for s in "ab"
        ]
    )
    series = credits_by_provider(any_store, start=T0, end=T0 + timedelta(hours=3), step_s=3600)
    assert list(series) == ["aws"]
    assert [c for _, c in series["aws"]] == [1000.0, 900.0, 800.0]


def test_histories_savings_and_versions(any_store: Store) -> None:
    v0, t0 = events_version(any_store), telemetry_version(any_store)
    any_store.save_decision(
        decision("d-web-1", service="web", created_at=T0 + timedelta(minutes=1), net_monthly=120.0)
    )
    any_store.save_decision(
        decision("d-db-1", service="db", created_at=T0 + timedelta(minutes=1), net_monthly=80.0)
    )
    any_store.transition("d-web-1", DecisionStatus.MR_OPENED)
    assert events_version(any_store) > v0 and telemetry_version(any_store) == t0
    histories = decision_histories(any_store, ["d-web-1", "d-db-1", "d-none"])
    assert [e.type for e in histories["d-web-1"]] == ["decision", "decision_status"]
    assert len(histories["d-db-1"]) == 1 and histories["d-none"] == []
    total, count = savings_totals(
        any_store, [DecisionStatus.PROPOSED, DecisionStatus.MR_OPENED], migrations_only=True
    )
    assert (total, count) == (200.0, 2)
    any_store.insert_samples([telemetry_sample("web")])
    assert telemetry_version(any_store) > t0


def test_spend_by_provider_follows_where_each_service_runs(
    any_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    from swen.moves.running import running_services
    from swen.store import history
    from swen.store.history import spend_by_provider

    def where(store: Store) -> dict[str, tuple[Placement, int]]:
        return {name: (r.placement, r.replicas) for name, r in running_services(store).items()}

    any_store.upsert_services(
        [service("web", replicas=2), service("db"), service("cache", fleet_placement=ALI)]
    )
    any_store.insert_samples(
        [telemetry_sample("web", AWS, ts=T0 + timedelta(hours=h), hourly=1.0 + h) for h in range(2)]
        + [telemetry_sample("web", ALI, ts=T0 + timedelta(hours=h), hourly=9.0) for h in range(2)]
        + [telemetry_sample("db", ALI, ts=T0, hourly=0.5), telemetry_sample("db", AWS, ts=T0, hourly=7.0)]
        + [telemetry_sample("cache", ALI, ts=T0, hourly=0.25)]  # no applied placement: the fleet file's
    )
    any_store.record_placement("web", AWS, decision_id=None, at=T0)
    any_store.record_placement("db", ALI, decision_id=None, at=T0)
    spend = spend_by_provider(
        any_store, start=T0, end=T0 + timedelta(hours=2), step_s=3600, running=where(any_store)
    )
    assert [(ts, usd) for ts, usd in spend["aws"]] == [(T0, 1460.0), (T0 + timedelta(hours=1), 2920.0)]
    assert spend["alibaba"] == [(T0, 365.0 + 182.5)]
    monkeypatch.setattr(history, "SPEND_SERVICES_PER_QUERY", 1)  # one query per service, same sums
    assert (
        spend_by_provider(
            any_store, start=T0, end=T0 + timedelta(hours=2), step_s=3600, running=where(any_store)
        )
        == spend
    )
