"""The hash-chained audit log: append, read after an id, and tamper detection."""

from __future__ import annotations

import pytest
from sqlalchemy import delete, update

from swen.domain.errors import InvalidInputError
from swen.domain.events import EventType
from swen.store.audit import GENESIS_HASH
from swen.store.repository import Store
from swen.store.tables import events


def _append(store: Store, n: int) -> None:
    for i in range(n):
        store.append_event(EventType.SCENARIO, {"i": i, "name": f"step-{i}"}, service="api")


def test_append_assigns_consecutive_ids_and_links_hashes(store: Store) -> None:
    _append(store, 5)
    rows = store.events_after(0)
    assert [e.id for e in rows] == [1, 2, 3, 4, 5]
    assert rows[0].payload == {"i": 0, "name": "step-0"}
    assert len({e.hash for e in rows}) == 5
    report = store.verify_audit()
    assert report.ok and report.checked == 5 and report.first_bad_id is None


def test_empty_log_verifies(store: Store) -> None:
    assert store.verify_audit().ok
    assert store.verify_audit().checked == 0


def test_events_after_id_with_types_and_limit(store: Store) -> None:
    _append(store, 3)
    store.append_event(EventType.ALERT, {"alertname": "HighLatency"})
    _append(store, 2)
    assert [e.id for e in store.events_after(2)] == [3, 4, 5, 6]
    assert [e.id for e in store.events_after(2, limit=2)] == [3, 4]
    alerts = store.events_after(0, types=[EventType.ALERT])
    assert [(e.id, e.type, e.service) for e in alerts] == [(4, "alert", None)]


def test_payload_that_is_not_json_is_rejected_and_nothing_written(store: Store) -> None:
    with pytest.raises(InvalidInputError):
        store.append_event(EventType.SCENARIO, {"x": float("inf")})
    with pytest.raises(InvalidInputError):
        store.append_event(EventType.SCENARIO, {"x": object()})
    assert store.events_after(0) == []


def test_edited_payload_is_detected(store: Store) -> None:
    _append(store, 5)
    with store.engine.begin() as conn:
        conn.execute(update(events).where(events.c.id == 3).values(payload='{"i":3,"name":"forged"}'))
    report = store.verify_audit()
    assert not report.ok
    assert report.first_bad_id == 3 and report.checked == 2
    assert report.problem is not None and "content does not match" in report.problem


def test_deleted_row_is_detected(store: Store) -> None:
    _append(store, 5)
    with store.engine.begin() as conn:
        conn.execute(delete(events).where(events.c.id == 3))
    report = store.verify_audit()
    assert not report.ok and report.first_bad_id == 4
    assert report.problem is not None and "missing" in report.problem


def test_deleted_first_row_is_detected(store: Store) -> None:
    _append(store, 3)
    with store.engine.begin() as conn:
        conn.execute(delete(events).where(events.c.id == 1))
    report = store.verify_audit()
    assert not report.ok and report.first_bad_id == 2


def test_edited_hash_is_detected(store: Store) -> None:
    _append(store, 5)
    with store.engine.begin() as conn:
        conn.execute(update(events).where(events.c.id == 2).values(hash="f" * 64))
    report = store.verify_audit()
    assert not report.ok and report.first_bad_id == 2


def test_rewritten_chain_link_is_detected(store: Store) -> None:
    """Deleting a row and renumbering the rest keeps ids consecutive but breaks prev_hash."""
    _append(store, 4)
    with store.engine.begin() as conn:
        conn.execute(delete(events).where(events.c.id == 2))
        conn.execute(update(events).where(events.c.id == 3).values(id=2))
        conn.execute(update(events).where(events.c.id == 4).values(id=3))
    report = store.verify_audit()
    assert not report.ok and report.first_bad_id == 2
    assert report.problem is not None and "prev_hash" in report.problem


def test_first_row_links_to_genesis(store: Store) -> None:
    _append(store, 1)
    with store.engine.connect() as conn:
        assert conn.execute(events.select()).one().prev_hash == GENESIS_HASH


def test_deleted_last_rows_are_detected(store: Store) -> None:
    _append(store, 5)
    with store.engine.begin() as conn:
        conn.execute(delete(events).where(events.c.id >= 4))
    report = store.verify_audit()
    assert not report.ok and report.first_bad_id == 4 and report.checked == 3
    assert report.problem is not None and "deleted" in report.problem


def test_audit_head_flag_is_reserved(store: Store) -> None:
    with pytest.raises(InvalidInputError, match="reserved"):
        store.set_flag("audit.head", {"id": 0, "hash": ""})
