"""The apply lock on a real database (SQLite and PostgreSQL), with real processes for the pid rule."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import insert, update

from swen.domain.errors import LockError
from swen.domain.events import EventType
from swen.pipeline.lock import StoreLock, current_holder, pid_is_alive
from swen.store.repository import Store
from swen.store.tables import locks


@pytest.fixture
def store(any_store: Store) -> Store:
    return any_store


def _wait_until(predicate: object, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.02)
    raise AssertionError("condition not reached")


def test_second_holder_gets_lock_error_naming_the_first(store: Store) -> None:
    with StoreLock(store, "apply:test", owner="run mr 1", stale_after_s=60):
        with pytest.raises(LockError) as info:
            StoreLock(store, "apply:test", owner="run mr 2", stale_after_s=60).acquire()
        message = str(info.value)
        assert "run mr 1" in message and f"pid {os.getpid()}" in message
    # released on exit: the second one gets it now
    with StoreLock(store, "apply:test", owner="run mr 2", stale_after_s=60):
        holder = current_holder(store, "apply:test")
        assert holder is not None and holder.owner.startswith("run mr 2#")
    assert current_holder(store, "apply:test") is None


def test_lock_is_released_when_the_body_raises(store: Store) -> None:
    with pytest.raises(RuntimeError), StoreLock(store, "apply:test", owner="a", stale_after_s=60):
        raise RuntimeError("apply blew up")
    assert current_holder(store, "apply:test") is None


def test_heartbeat_moves_forward_while_held(store: Store) -> None:
    with StoreLock(store, "apply:test", owner="a", stale_after_s=60, heartbeat_s=0.05):
        first = current_holder(store, "apply:test")
        assert first is not None
        _wait_until(lambda: current_holder(store, "apply:test").heartbeat_at > first.heartbeat_at)  # type: ignore[union-attr]


def _spawn_holder(url: str) -> subprocess.Popen[str]:
    code = textwrap.dedent(
        f"""
        import sys, time
        from swen.pipeline.lock import StoreLock
        from swen.store.repository import Store
        store = Store.from_url({url!r}, migrate=False)
        lock = StoreLock(store, "apply:test", owner="doomed child", stale_after_s=3600)
        lock.acquire()
        print("held", flush=True)
        time.sleep(600)
        """
    )
    return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)


def test_lock_of_a_killed_process_is_taken_over(store: Store, database_url: str) -> None:
    child = _spawn_holder(database_url)
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "held"
        holder = current_holder(store, "apply:test")
        assert holder is not None and holder.pid == child.pid
        # alive: refused, even though it is a different process on the same host
        with pytest.raises(LockError, match="doomed child"):
            StoreLock(store, "apply:test", owner="survivor", stale_after_s=3600).acquire()
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    assert not pid_is_alive(child.pid)
    with StoreLock(store, "apply:test", owner="survivor", stale_after_s=3600) as lock:
        holder = current_holder(store, "apply:test")
        assert holder is not None and holder.owner == lock.owner and holder.pid == os.getpid()
    [event] = store.events_after(0, types=[EventType.LOCK])
    assert event.payload["action"] == "takeover"
    assert event.payload["previous_pid"] == child.pid
    assert "is gone" in event.payload["reason"]


def _insert_foreign_row(store: Store, *, heartbeat_age_s: float) -> None:
    now = datetime.now(UTC)
    with store.engine.begin() as conn:
        conn.execute(
            insert(locks).values(
                name="apply:test",
                owner="ci-runner-7#abcd",
                pid=1234567,
                host="some-other-host",
                acquired_at=now - timedelta(seconds=heartbeat_age_s + 5),
                heartbeat_at=now - timedelta(seconds=heartbeat_age_s),
            )
        )


def test_fresh_lock_from_another_host_is_respected(store: Store) -> None:
    _insert_foreign_row(store, heartbeat_age_s=1)
    with pytest.raises(LockError, match=r"ci-runner-7.*some-other-host"):
        StoreLock(store, "apply:test", owner="me", stale_after_s=60).acquire()
    assert store.events_after(0, types=[EventType.LOCK]) == []


def test_lock_with_an_old_heartbeat_is_taken_over(store: Store) -> None:
    _insert_foreign_row(store, heartbeat_age_s=120)
    with StoreLock(store, "apply:test", owner="me", stale_after_s=60):
        holder = current_holder(store, "apply:test")
        assert holder is not None and holder.owner.startswith("me#")
    [event] = store.events_after(0, types=[EventType.LOCK])
    assert event.payload["previous_host"] == "some-other-host"
    assert "heartbeat" in event.payload["reason"]


def test_only_one_of_many_racers_steals_a_stale_lock(store: Store) -> None:
    _insert_foreign_row(store, heartbeat_age_s=120)
    winners: list[str] = []
    losers: list[str] = []
    barrier = threading.Barrier(4)
    held = threading.Event()

    def race(i: int) -> None:
        lock = StoreLock(store, "apply:test", owner=f"racer {i}", stale_after_s=60)
        barrier.wait()
        try:
            lock.acquire()
        except LockError as exc:
            losers.append(str(exc))
            return
        winners.append(lock.owner)
        held.wait(5)
        lock.release()

    threads = [threading.Thread(target=race, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    _wait_until(lambda: len(winners) + len(losers) == 4)
    held.set()
    for t in threads:
        t.join()
    assert len(winners) == 1 and len(losers) == 3
    assert len(store.events_after(0, types=[EventType.LOCK])) == 1


def test_a_lost_lock_is_detected(store: Store) -> None:
    with StoreLock(store, "apply:test", owner="me", stale_after_s=60, heartbeat_s=0.05) as lock:
        with store.engine.begin() as conn:  # someone took it over while we were frozen
            conn.execute(update(locks).where(locks.c.name == "apply:test").values(owner="thief#0000"))
        _wait_until(lambda: lock.lost)
        with pytest.raises(LockError, match=r"was lost.*thief"):
            lock.ensure_held()
    # our release must not delete the thief's row
    holder = current_holder(store, "apply:test")
    assert holder is not None and holder.owner == "thief#0000"
