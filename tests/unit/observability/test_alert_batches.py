"""The alert intake records a large notification in bounded transactions (an alert storm must not
hold the database longer than other writers wait for it), and a post that failed part-way is
completed exactly by Alertmanager's retry of the same notification."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from support.alertmanager import alert, payload
from support.builders import T0, service
from swen.config import Settings
from swen.domain.errors import StoreError
from swen.domain.events import EventType
from swen.observability import alerts
from swen.observability.alerts import intake
from swen.store.incidents import IncidentRepository
from swen.store.repository import Store

SERVICES = ["web", "api", "db"]


@pytest.fixture
def store(swen_home: Path) -> Store:
    store = Store.open(Settings(home=swen_home))
    store.upsert_services([service(name) for name in SERVICES])
    return store


def storm(n: int) -> dict[str, Any]:
    return payload([alert(service=SERVICES[i % 3], starts_at=T0 + timedelta(seconds=i), instance=f"i-{i}")
                    for i in range(n)])  # fmt: skip


def count_transactions(store: Store, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    opened: list[int] = []
    real = store.transaction

    @contextmanager
    def counting() -> Iterator[Any]:
        opened.append(1)
        with real() as conn:
            yield conn

    monkeypatch.setattr(store, "transaction", counting)
    monkeypatch.setattr(store, "let_other_writers_in", lambda: None)
    return opened


def test_a_storm_is_recorded_in_bounded_transactions_with_the_same_result(
    store: Store, swen_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(alerts, "BATCH_ALERTS", 4)
    opened = count_transactions(store, monkeypatch)
    result = intake(store, storm(10))
    assert len(opened) == 3  # 4 + 4 + 2
    assert result.received == 10 and result.stored == 10
    assert len(result.incidents_opened) == 3  # one per (service, provider), across batches
    events = store.events_after(0, types=[EventType.ALERT, EventType.INCIDENT])
    assert result.event_ids == [e.id for e in events]
    assert len(IncidentRepository(store).list(limit=100)) == 3


def test_a_post_that_failed_part_way_is_completed_by_the_retry(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(alerts, "BATCH_ALERTS", 4)
    monkeypatch.setattr(store, "let_other_writers_in", lambda: None)
    real_one, calls = alerts._one, []

    def failing_seventh(*args: Any) -> None:
        calls.append(1)
        if len(calls) == 7:
            raise StoreError("write transaction failed: database is locked", hint="retry")
        real_one(*args)

    monkeypatch.setattr(alerts, "_one", failing_seventh)
    with pytest.raises(StoreError):
        intake(store, storm(10))
    assert len(store.events_after(0, types=[EventType.ALERT])) == 4  # the first batch only
    monkeypatch.setattr(alerts, "_one", real_one)
    retried = intake(store, storm(10))  # Alertmanager sends the same notification again
    assert retried.stored == 6 and retried.duplicates == 4
    assert len(store.events_after(0, types=[EventType.ALERT])) == 10
    assert len(IncidentRepository(store).list(limit=100)) == 3


def test_a_batch_also_ends_when_its_time_budget_is_spent(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(alerts, "BATCH_BUDGET_S", 0.0)  # every alert overruns it
    opened = count_transactions(store, monkeypatch)
    assert intake(store, storm(5)).stored == 5
    assert len(opened) == 5
