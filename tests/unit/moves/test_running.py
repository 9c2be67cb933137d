"""Where each service runs and what it costs per month, on a real SQLite store."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from swen.config import Settings
from swen.domain.errors import NotFoundError
from swen.domain.models import Placement, Service, ServiceShape, TelemetrySample
from swen.moves.running import newest_sample_time, running_service, running_services
from swen.store.repository import Store

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
AWS = Placement(provider="aws", region="us-east-1")
GCP = Placement(provider="gcp", region="us-central1")
ALI = Placement(provider="alibaba", region="us-west-1")


def _service(name: str, *, current: Placement = AWS, replicas: int = 1) -> Service:
    return Service(
        name=name,
        shape=ServiceShape(vcpus=2, memory_gib=8),
        latency_slo_ms=100.0,
        users_region=AWS,
        current=current,
        replicas=replicas,
    )


def _sample(service: str, where: Placement, ts: datetime, hourly: float) -> TelemetrySample:
    return TelemetrySample(
        service=service, provider=where.provider, region=where.region, ts=ts,
        instance_type=f"{where.provider}.large", hourly_cost_usd=hourly, latency_ms=30.0,
        credits_usd=0.0, gpu_availability=1.0, availability=0.999, error_rate=0.001,
        simulated_price=where.provider == "alibaba",
    )  # fmt: skip


@pytest.fixture
def store(settings: Settings) -> Iterator[Store]:
    with Store.open(settings) as s:
        yield s


def test_applied_placement_wins_and_the_cost_is_the_newest_sample_there_times_replicas(store: Store) -> None:
    store.upsert_services([_service("web", replicas=3)])
    store.record_placement("web", ALI, decision_id="d-1", at=T0)
    store.insert_samples(
        [
            _sample("web", ALI, T0, 1.0),
            _sample("web", ALI, T0 + timedelta(minutes=5), 2.0),
            _sample("web", AWS, T0 + timedelta(minutes=10), 9.0),  # a candidate, not where it runs
        ]
    )

    [web] = running_services(store).values()

    assert (web.service, web.placement, web.source, web.decision_id) == ("web", ALI, "applied", "d-1")
    assert web.instance_monthly_cost_usd == pytest.approx(2.0 * 730)
    assert web.monthly_cost_usd == pytest.approx(2.0 * 730 * 3)
    assert (web.replicas, web.instance_type, web.simulated_price) == (3, "alibaba.large", True)
    assert web.sample_ts == T0 + timedelta(minutes=5)


def test_without_an_applied_placement_the_fleet_file_says_where_it_runs(store: Store) -> None:
    store.upsert_services([_service("db", current=GCP, replicas=2)])
    store.insert_samples([_sample("db", GCP, T0, 0.5)])

    db = running_services(store)["db"]

    assert (db.placement, db.source, db.decision_id) == (GCP, "fleet file", None)
    assert db.monthly_cost_usd == pytest.approx(0.5 * 730 * 2)


def test_no_sample_at_the_placement_means_no_cost(store: Store) -> None:
    store.upsert_services([_service("api")])
    store.record_placement("api", GCP, decision_id=None, at=T0)
    store.insert_samples([_sample("api", AWS, T0, 1.0)])

    api = running_services(store)["api"]

    assert (api.placement, api.source, api.decision_id) == (GCP, "applied", None)
    assert api.monthly_cost_usd is None and api.instance_monthly_cost_usd is None
    assert api.sample_ts is None and api.instance_type is None and not api.simulated_price


def test_one_service_and_a_given_fleet_give_the_same_answer(store: Store) -> None:
    fleet = [_service("a", replicas=4), _service("b", current=GCP)]
    store.upsert_services(fleet)
    store.record_placement("a", ALI, decision_id="d-7", at=T0)
    store.insert_samples([_sample("a", ALI, T0, 1.5), _sample("b", GCP, T0 + timedelta(hours=1), 0.25)])

    every = running_services(store)

    assert list(every) == ["a", "b"]
    assert running_services(store, services=fleet) == every
    assert running_service(store, "a") == every["a"] and running_service(store, "b") == every["b"]
    assert newest_sample_time(every.values()) == T0 + timedelta(hours=1)
    assert newest_sample_time([]) is None
    with pytest.raises(NotFoundError, match="unknown service 'nope'"):
        running_service(store, "nope")
