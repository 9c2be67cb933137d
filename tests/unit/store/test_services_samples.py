"""Services, placements, telemetry samples and flags on both backends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from support.builders import service, telemetry_sample, telemetry_series
from swen.domain.errors import InvalidInputError, NotFoundError
from swen.domain.events import EventType
from swen.domain.models import Placement
from swen.store.repository import Store

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def test_services_round_trip_and_upsert(store: Store) -> None:
    store.upsert_services([service("web"), service("api")])
    assert [s.name for s in store.list_services()] == ["api", "web"]
    assert store.get_service("api") == service("api")

    moved = service("api", fleet_placement="alibaba/cn-hangzhou")
    store.upsert_services([moved])
    assert store.get_service("api") == moved
    assert len(store.list_services()) == 2

    again = service("api", fleet_placement="aws/us-east-1")
    store.upsert_services([moved, service("db"), again])  # one statement; the later "api" wins
    assert store.get_service("api") == again
    assert [s.name for s in store.list_services()] == ["api", "db", "web"]
    store.upsert_services([])


def test_listed_services_are_parsed_once_and_follow_every_update(store: Store) -> None:
    """``list_services`` reuses a parsed service while its stored spec is unchanged, and reads the new
    spec after an update (also one written by another process: the stored spec is what is compared)."""
    store.upsert_services([service("web"), service("api")])
    first = {s.name: s for s in store.list_services()}
    second = {s.name: s for s in store.list_services()}
    assert second["web"] is first["web"] and second["api"] is first["api"]

    moved = service("api", fleet_placement="alibaba/cn-hangzhou")
    other = Store(store.engine)  # another replica's store, its own parsed specs
    other.upsert_services([moved])
    third = {s.name: s for s in store.list_services()}
    assert third["api"] == moved and third["api"] is not first["api"]
    assert third["web"] is first["web"]


def test_missing_service_is_not_found(store: Store) -> None:
    with pytest.raises(NotFoundError, match="nope"):
        store.get_service("nope")


def test_placements_are_set_and_audited(store: Store) -> None:
    assert store.get_placements() == {}
    first = Placement(provider="aws", region="us-east-1")
    second = Placement(provider="alibaba", region="cn-hangzhou")
    store.record_placement("api", first, decision_id=None, at=T0)
    store.record_placement("api", second, decision_id="d-9", at=T0 + timedelta(hours=1))
    assert store.get_placements() == {"api": second}
    with pytest.raises(InvalidInputError):
        store.record_placement("Bad Name;rm", first, decision_id=None, at=T0)

    placement_events = store.events_after(0, types=[EventType.PLACEMENT])
    assert [e.payload["placement"] for e in placement_events] == ["aws/us-east-1", "alibaba/cn-hangzhou"]
    assert placement_events[1].payload["previous"] == "aws/us-east-1"
    assert placement_events[1].decision_id == "d-9"
    assert store.verify_audit().ok

    record = store.placement_records()["api"]
    assert (record.placement, record.decision_id, record.applied_at) == (
        second,
        "d-9",
        T0 + timedelta(hours=1),
    )


def test_insert_and_read_samples_keep_values_and_utc(store: Store) -> None:
    batch = telemetry_series(30, service="api", start=T0)
    assert store.insert_samples(batch) == 30
    assert store.insert_samples([]) == 0
    got = store.samples_between(start=T0, end=T0 + timedelta(days=1))
    assert got == batch
    assert all(s.ts.utcoffset() == timedelta(0) for s in got)


def test_samples_between_filters_and_pages(store: Store) -> None:
    batch = telemetry_series(30, service="api", start=T0)  # 10 per placement, 5 s apart
    store.insert_samples(batch)
    window = store.samples_between(start=T0 + timedelta(seconds=10), end=T0 + timedelta(seconds=50))
    assert [s.ts for s in window] == [T0 + timedelta(seconds=5 * i) for i in range(2, 10)]  # end excluded

    alibaba = store.samples_between(start=T0, end=T0 + timedelta(days=1), provider="alibaba")
    assert len(alibaba) == 10 and {s.provider for s in alibaba} == {"alibaba"}
    assert store.samples_between(start=T0, end=T0 + timedelta(days=1), service="other") == []

    pages = [
        store.samples_between(start=T0, end=T0 + timedelta(days=1), limit=7, offset=off)
        for off in (0, 7, 14, 21, 28)
    ]
    assert [s for page in pages for s in page] == batch
    with pytest.raises(InvalidInputError):
        store.samples_between(start=T0, end=T0 + timedelta(days=1), limit=0)


def test_latest_samples_newest_per_group_even_when_inserted_late(store: Store) -> None:
    store.insert_samples(telemetry_series(30, service="api", start=T0))
    # a late-arriving but older sample must not become "latest"
    store.insert_samples([telemetry_sample("api", "aws/us-east-1", ts=T0 - timedelta(hours=1), hourly=9)])
    store.insert_samples([telemetry_sample("db", ts=T0, hourly=3.0)])
    latest = store.latest_samples()
    assert {(s.service, s.provider, s.region) for s in latest} == {
        ("api", "aws", "us-east-1"),
        ("api", "aws", "eu-west-1"),
        ("api", "alibaba", "cn-hangzhou"),
        ("db", "aws", "us-east-1"),
    }
    by_key = {(s.service, s.provider, s.region): s for s in latest}
    assert by_key[("api", "aws", "us-east-1")].ts == T0 + timedelta(seconds=135)
    assert by_key[("api", "alibaba", "cn-hangzhou")].ts == T0 + timedelta(seconds=145)
    assert by_key[("api", "aws", "us-east-1")] == telemetry_series(30, service="api", start=T0)[27]
    assert [s.service for s in store.latest_samples(service="db")] == ["db"]
    assert {s.provider for s in store.latest_samples(provider="alibaba")} == {"alibaba"}


def test_latest_sample_tie_keeps_the_last_inserted(store: Store) -> None:
    store.insert_samples([telemetry_sample(hourly=1.0), telemetry_sample(hourly=2.0)])
    store.insert_samples([telemetry_sample(hourly=3.0)])
    assert [s.hourly_cost_usd for s in store.latest_samples()] == [3.0]


def test_purge_samples_deletes_only_older(store: Store) -> None:
    store.insert_samples(telemetry_series(30, service="api", start=T0))
    cutoff = T0 + timedelta(seconds=50)
    assert store.purge_samples(cutoff) == 10
    left = store.samples_between(start=T0 - timedelta(days=1), end=T0 + timedelta(days=1))
    assert len(left) == 20 and min(s.ts for s in left) == cutoff
    assert store.purge_samples(cutoff) == 0
    assert len(store.latest_samples()) == 3  # the newest ones survive the purge

    store.purge_samples(T0 + timedelta(days=1))
    assert store.latest_samples() == []  # no latest sample outlives its history


def test_flags_upsert_json(store: Store) -> None:
    assert store.get_flag("automation", default=True) is True
    store.set_flag("automation", {"enabled": False, "by": "ops"})
    store.set_flag("automation", {"enabled": True, "list": [1, 2.5, None]})
    assert store.get_flag("automation") == {"enabled": True, "list": [1, 2.5, None]}
    store.set_flag("counter", 3)
    assert store.get_flag("counter") == 3
    store.set_flag("cooldown-until", T0)
    assert store.get_flag("cooldown-until") == "2026-01-01T00:00:00Z"
    with pytest.raises(InvalidInputError):
        store.set_flag("bad", float("nan"))


def test_sample_columns_between_holds_what_samples_between_reads(store: Store) -> None:
    """The engine's bulk read (columns, no model object per sample) gives the same samples, in time
    order, split into ticks by timestamp."""
    from swen.domain.sample_columns import SampleColumns

    batch = telemetry_series(30, service="api", start=T0)  # 3 placements, 5 s apart
    store.insert_samples(batch)
    start, end = T0 + timedelta(seconds=10), T0 + timedelta(seconds=50)
    columns = store.sample_columns_between(start=start, end=end)
    assert columns.samples() == store.samples_between(start=start, end=end)
    assert all(ts.utcoffset() == timedelta(0) for ts in columns.ts)
    ticks = columns.by_tick()
    assert [ts for ts, _ in ticks] == sorted({s.ts for s in columns.samples()})
    assert [s for _, tick in ticks for s in tick.samples()] == columns.samples()
    assert len(store.sample_columns_between(start=end, end=end)) == 0
    assert SampleColumns.from_samples(batch).samples() == batch


def test_latest_prices_at_reads_only_the_places_asked_for(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    t0 = datetime(2026, 11, 1, tzinfo=UTC)
    samples = [
        telemetry_sample(name, where, ts=t0 + timedelta(minutes=m), hourly=1.0 + m)
        for name in ("web", "db", "api")
        for where in ("aws/us-east-1", "alibaba/cn-hangzhou")
        for m in range(3)
    ]
    store.insert_samples(samples)
    newest = {(s.service, s.provider, s.region): s for s in store.latest_samples()}
    asked = [("web", "aws", "us-east-1"), ("db", "alibaba", "cn-hangzhou"), ("ghost", "aws", "us-east-1")]
    monkeypatch.setattr("swen.store.repository.LATEST_PLACES_PER_QUERY", 2)  # and across chunks
    got = store.latest_prices_at(asked)
    expected = [newest[asked[1]], newest[asked[0]]]
    assert [
        (p.service, p.provider, p.region, p.ts, p.instance_type, p.hourly_cost_usd, p.simulated_price)
        for p in sorted(got, key=lambda p: p.service)
    ] == [
        (s.service, s.provider, s.region, s.ts, s.instance_type, s.hourly_cost_usd, s.simulated_price)
        for s in expected
    ]
    assert all(p.ts.utcoffset() == timedelta(0) for p in got)
    assert store.latest_prices_at([]) == []
