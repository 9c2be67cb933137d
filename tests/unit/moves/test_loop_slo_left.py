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
