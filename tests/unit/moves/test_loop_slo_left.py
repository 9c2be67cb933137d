"""The live loop tells the engine which placement each service left by an SLO repair (the hold-down,
``EngineInputs.slo_left``), from the decision behind its applied placement, on a real SQLite store."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from support.builders import decision, service
from swen.config import Settings
from swen.domain.models import Placement
from swen.loop import EngineLoop
from swen.store.repository import Store
from swen.telemetry.catalog import load_catalog

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
AWS = Placement(provider="aws", region="us-east-1")
ALI = Placement(provider="alibaba", region="us-west-1")


@pytest.fixture
def store(settings: Settings) -> Iterator[Store]:
    with Store.open(settings) as s:
        yield s


def test_the_loop_holds_down_the_placement_a_repair_left_until_the_hold_down_ends(
    settings: Settings, store: Store
) -> None:
    store.upsert_services([service("web"), service("api"), service("db")])
    store.save_decision(decision("d-rep", service="web", current=AWS, target=ALI, slo_repair=True))
    store.save_decision(decision("d-price", service="api", current=AWS, target=ALI))
    store.record_placement("web", ALI, decision_id="d-rep", at=T0)
    store.record_placement("api", ALI, decision_id="d-price", at=T0)
    store.record_placement("db", AWS, decision_id=None, at=T0)
    loop = EngineLoop(settings, store, catalog=load_catalog(), anomaly_detection=False)
    records = store.placement_records()
    assert loop._slo_left(records, T0 + timedelta(hours=3)) == {"web": (AWS, T0)}
    week = timedelta(seconds=loop.params.slo_holddown_s)
    assert loop._slo_left(records, T0 + week) == {}  # the hold-down is over
    assert loop._left_by == {}  # and nothing is kept for it


def test_a_restarted_loop_reads_the_decisions_behind_its_placements_together_and_once(
    settings: Settings, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    names = [f"svc-{i}" for i in range(5)]
    store.upsert_services([service(n) for n in names])
    for i, name in enumerate(names):
        repair = i % 2 == 0
        store.save_decision(decision(f"d-{i}", service=name, current=AWS, target=ALI, slo_repair=repair))
        store.record_placement(name, ALI, decision_id=f"d-{i}", at=T0)
    loop = EngineLoop(settings, store, catalog=load_catalog(), anomaly_detection=False)
    reads: list[set[str]] = []
    bulk = store.get_decisions

    def counted(ids: set[str], **kw: int) -> dict:  # type: ignore[type-arg]
        reads.append(set(ids))
        return bulk(ids, **kw)

    monkeypatch.setattr(store, "get_decisions", counted)
    monkeypatch.setattr(store, "get_decision", lambda _id: pytest.fail("one round trip per decision"))
    records = store.placement_records()
    later = T0 + timedelta(hours=1)
    expected = {n: (AWS, T0) for i, n in enumerate(names) if i % 2 == 0}
    assert loop._slo_left(records, later) == expected
    assert reads == [{f"d-{i}" for i in range(5)}]  # one read for all of them
    assert loop._slo_left(records, later) == expected
    assert len(reads) == 1  # and none the next cycle: decisions are immutable
