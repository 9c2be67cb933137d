"""Telemetry writes wait for a concurrent writer instead of failing with "database is locked".

SQLite returns SQLITE_BUSY at once (without waiting for busy_timeout) when a deferred transaction that
has already read must upgrade to a write lock while another connection writes. purge_samples reads
before it deletes, so it must take the write lock up front. Seen in the self-healing integration run:
the simulator's retention purge failed while the engine process was writing.
"""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path

import pytest

from support.builders import T0, telemetry_series
from swen.config import Settings
from swen.domain.errors import StoreError
from swen.domain.events import EventType
from swen.store import db
from swen.store.repository import Store


def _hold_write_lock(store: Store, held: threading.Event, release: threading.Event) -> None:
    with store.transaction() as conn:
        store.append_event(EventType.SCENARIO, {"holding": True}, conn=conn)
        held.set()
        release.wait(5)


def test_purge_and_insert_wait_for_a_concurrent_writer(store: Store) -> None:
    store.insert_samples(telemetry_series(30))
    held, release = threading.Event(), threading.Event()
    holder = threading.Thread(target=_hold_write_lock, args=(store, held, release))
    holder.start()
    assert held.wait(5)
    errors: list[BaseException] = []
    results: list[int] = []

    def writer() -> None:
        try:
            results.append(store.purge_samples(T0 + timedelta(seconds=50)))
            results.append(store.insert_samples(telemetry_series(3, start=T0 + timedelta(days=1))))
        except BaseException as exc:
            errors.append(exc)

    worker = threading.Thread(target=writer)
    worker.start()
    threading.Timer(0.3, release.set).start()  # the holder commits while the writer waits
    worker.join(15)
    holder.join(15)
    assert not errors, errors
    assert results == [10, 3]
    assert len(store.samples_between(start=T0, end=T0 + timedelta(days=2))) == 23


def test_a_sqlite_writer_outwaits_the_busy_timeout_instead_of_failing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A writer that waited a whole busy timeout tries BEGIN IMMEDIATE again (nothing was written
    yet), up to SQLITE_LOCK_WAIT_S: the simulator no longer dies of "database is locked" while an
    alert storm's batches hold the lock in turn. Here the busy timeout is 50 ms and the lock is held
    for 0.5 s; before, the write failed after 50 ms."""
    monkeypatch.setattr(db, "SQLITE_BUSY_TIMEOUT_MS", 50)
    store = Store.open(Settings(home=tmp_path))
    held, release = threading.Event(), threading.Event()
    holder = threading.Thread(target=_hold_write_lock, args=(store, held, release))
    holder.start()
    assert held.wait(5)
    threading.Timer(0.5, release.set).start()
    try:
        assert store.insert_samples(telemetry_series(3)) == 3
    finally:
        release.set()
        holder.join(15)


def test_a_sqlite_writer_gives_up_after_the_lock_wait(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(db, "SQLITE_BUSY_TIMEOUT_MS", 20)
    monkeypatch.setattr(db, "SQLITE_LOCK_WAIT_S", 0.2)
    store = Store.open(Settings(home=tmp_path))
    held, release = threading.Event(), threading.Event()
    holder = threading.Thread(target=_hold_write_lock, args=(store, held, release))
    holder.start()
    assert held.wait(5)
    try:
        with pytest.raises(StoreError, match="database is locked"):
            store.insert_samples(telemetry_series(3))
    finally:
        release.set()
        holder.join(15)
    assert store.samples_between(start=T0, end=T0 + timedelta(days=1)) == []
