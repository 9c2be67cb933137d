"""Where each service runs and what it costs per month, on a real SQLite store."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from support.builders import service, telemetry_sample
from swen.config import Settings
from swen.domain.errors import NotFoundError
from swen.domain.models import Placement
from swen.moves.running import newest_sample_time, running_service, running_services
from swen.store.repository import Store

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
AWS = Placement(provider="aws", region="us-east-1")
GCP = Placement(provider="gcp", region="us-central1")
ALI = Placement(provider="alibaba", region="us-west-1")


@pytest.fixture
def store(settings: Settings) -> Iterator[Store]:
    with Store.open(settings) as s:
        yield s


def test_applied_placement_wins_and_the_cost_is_the_newest_sample_there_times_replicas(store: Store) -> None:
    store.upsert_services([service("web", replicas=3)])
    store.record_placement("web", ALI, decision_id="d-1", at=T0)
    there = {"instance_type": "alibaba.large"}
    store.insert_samples(
        [
            telemetry_sample("web", ALI, ts=T0, hourly=1.0, **there),
            telemetry_sample("web", ALI, ts=T0 + timedelta(minutes=5), hourly=2.0, **there),
            # a candidate, not where it runs:
            telemetry_sample("web", AWS, ts=T0 + timedelta(minutes=10), hourly=9.0),
        ]
    )

    [web] = running_services(store).values()

    assert (web.service, web.placement, web.source, web.decision_id) == ("web", ALI, "applied", "d-1")
    assert web.instance_monthly_cost_usd == pytest.approx(2.0 * 730)
    assert web.monthly_cost_usd == pytest.approx(2.0 * 730 * 3)
    assert (web.replicas, web.instance_type, web.simulated_price) == (3, "alibaba.large", True)
    assert web.sample_ts == T0 + timedelta(minutes=5)


def test_without_an_applied_placement_the_fleet_file_says_where_it_runs(store: Store) -> None:
    store.upsert_services([service("db", fleet_placement=GCP, replicas=2)])
    store.insert_samples([telemetry_sample("db", GCP, ts=T0, hourly=0.5)])

    db = running_services(store)["db"]

    assert (db.placement, db.source, db.decision_id) == (GCP, "fleet file", None)
    assert db.monthly_cost_usd == pytest.approx(0.5 * 730 * 2)


def test_no_sample_at_the_placement_means_no_cost(store: Store) -> None:
    store.upsert_services([service("api")])
    store.record_placement("api", GCP, decision_id=None, at=T0)
    store.insert_samples([telemetry_sample("api", AWS, ts=T0, hourly=1.0)])

    api = running_services(store)["api"]

    assert (api.placement, api.source, api.decision_id) == (GCP, "applied", None)
    assert api.monthly_cost_usd is None and api.instance_monthly_cost_usd is None
    assert api.sample_ts is None and api.instance_type is None and not api.simulated_price


def test_one_service_and_a_given_fleet_give_the_same_answer(store: Store) -> None:
    fleet = [service("a", replicas=4), service("b", fleet_placement=GCP)]
    store.upsert_services(fleet)
    store.record_placement("a", ALI, decision_id="d-7", at=T0)
    store.insert_samples(
        [
            telemetry_sample("a", ALI, ts=T0, hourly=1.5),
            telemetry_sample("b", GCP, ts=T0 + timedelta(hours=1), hourly=0.25),
        ]
    )

    every = running_services(store)

    assert list(every) == ["a", "b"]
    assert running_services(store, services=fleet) == every
    assert running_service(store, "a") == every["a"] and running_service(store, "b") == every["b"]
    assert newest_sample_time(every.values()) == T0 + timedelta(hours=1)
    assert newest_sample_time([]) is None
    with pytest.raises(NotFoundError, match="unknown service 'nope'"):
        running_service(store, "nope")
