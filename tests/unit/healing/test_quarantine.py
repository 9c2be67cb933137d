"""Quarantine: store-flag backed, expires in simulated time, wildcards spare the services already there."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from swen.domain.models import Placement
from swen.healing.quarantine import QUARANTINE_FLAG, Quarantine, QuarantineEntry, engine_pairs
from swen.store.repository import Store

T0 = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
AWS = Placement(provider="aws", region="us-east-1")
ALI = Placement(provider="alibaba", region="us-west-1")


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store.from_url(f"sqlite:///{tmp_path / 'q.db'}")


def test_entries_expire_at_their_simulated_time(store: Store) -> None:
    q = Quarantine(store)
    q.add("*", AWS, now=T0, duration_s=600, reason="outage", incident_id=7)
    assert [(e.service, e.placement, e.incident_id) for e in q.entries(T0)] == [("*", "aws/us-east-1", 7)]
    assert q.entries(T0 + timedelta(seconds=599))
    assert q.entries(T0 + timedelta(seconds=600)) == []
    # written again later: the expired entry is dropped from the flag
    q.add("web", ALI, now=T0 + timedelta(seconds=700), duration_s=60, reason="failed target")
    assert [e["placement"] for e in store.get_flag(QUARANTINE_FLAG)] == ["alibaba/us-west-1"]


def test_adding_the_same_pair_extends_but_never_shortens(store: Store) -> None:
    q = Quarantine(store)
    q.add("web", AWS, now=T0, duration_s=1000, reason="a")
    q.add("web", AWS, now=T0 + timedelta(seconds=10), duration_s=100, reason="b")
    (entry,) = q.entries(T0)
    assert entry.until == T0 + timedelta(seconds=1000)
    q.add("web", AWS, now=T0 + timedelta(seconds=500), duration_s=1000, reason="c")
    (entry,) = q.entries(T0)
    assert entry.until == T0 + timedelta(seconds=1500) and entry.reason == "c"


def test_a_damaged_flag_blocks_nothing(store: Store) -> None:
    bad_time = {"service": "*", "placement": "aws/us-east-1", "until": "not a time"}
    store.set_flag(QUARANTINE_FLAG, [{"service": "web"}, "junk", bad_time])
    assert Quarantine(store).entries(T0) == []
    store.set_flag(QUARANTINE_FLAG, {"not": "a list"})
    assert Quarantine(store).entries(T0) == []


def test_wildcards_spare_services_running_on_the_placement() -> None:
    until = T0 + timedelta(hours=1)
    entries = [
        QuarantineEntry("*", "aws/us-east-1", until),
        QuarantineEntry("api", "alibaba/us-west-1", until),
    ]
    current = {"api": AWS, "web": ALI, "db": AWS}
    pairs = engine_pairs(entries, current, ["api", "web", "db", "new"])
    assert pairs == [
        ("api", "alibaba/us-west-1"),
        ("new", "aws/us-east-1"),
        ("web", "aws/us-east-1"),
    ]
