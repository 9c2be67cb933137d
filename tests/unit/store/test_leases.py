"""Leases and fencing on both backends: one holder at a time, a takeover raises the token, and a
write of a deposed or expired holder is refused inside its own transaction, with nothing written."""

from __future__ import annotations

import contextlib
import time

import pytest

from swen.domain.errors import FencedError, StoreError
from swen.domain.events import EventType
from swen.store.leases import Fence, LeaseRepository, bound_idle_transactions
from swen.store.repository import Store


def test_one_holder_at_a_time_and_takeover_after_expiry(store: Store) -> None:
    leases = LeaseRepository(store)
    first = leases.acquire("engine", "a", ttl_s=2)
    assert first is not None and first.token == 1
    assert leases.acquire("engine", "b", ttl_s=2) is None  # a's lease is live
    renewed = leases.acquire("engine", "a", ttl_s=2, token=first.token)
    assert renewed is not None and renewed.token == 1
    time.sleep(2.1)  # let a's lease run out (no renewal)
    second = leases.acquire("engine", "b", ttl_s=5)
    assert second is not None and second.token == 2
    assert leases.acquire("engine", "a", ttl_s=5, token=first.token) is None  # a was deposed
    elected = [e.payload for e in store.events_after(0, limit=100) if e.type == EventType.LEADERSHIP]
    assert [(p["holder"], p["token"]) for p in elected] == [("a", 1), ("b", 2)]


def test_a_deposed_holder_writes_nothing(database_url: str) -> None:
    old, new = Store.from_url(database_url), Store.from_url(database_url, migrate=False)
    try:
        first = LeaseRepository(old).acquire("engine", "old", ttl_s=2)
        assert first is not None
        old.fence = first.fence
        old.append_event(EventType.ENGINE_CYCLE, {"n": 1})  # the holder writes
        time.sleep(2.1)
        second = LeaseRepository(new).acquire("engine", "new", ttl_s=30)
        assert second is not None
        before = new.events_after(0, limit=1000)
        with pytest.raises(FencedError, match="no longer the engine leader"):
            old.append_event(EventType.ENGINE_CYCLE, {"n": 2})
        with pytest.raises(FencedError):
            old.set_flag("anything", {"x": 1})
        assert new.events_after(0, limit=1000) == before
    finally:
        old.close()
        new.close()


def test_an_expired_lease_refuses_writes_until_renewed(store: Store) -> None:
    leases = LeaseRepository(store)
    lease = leases.acquire("engine", "solo", ttl_s=0.3)
    assert lease is not None
    store.fence = lease.fence
    time.sleep(0.4)
    with pytest.raises(FencedError, match="has expired"):
        store.append_event(EventType.ENGINE_CYCLE, {"n": 1})
    assert leases.acquire("engine", "solo", ttl_s=30, token=lease.token) is not None  # nobody took over
    store.append_event(EventType.ENGINE_CYCLE, {"n": 2})
    assert store.events_after(0, limit=100)[-1].payload == {"n": 2}


def test_a_fence_with_no_lease_row_refuses(store: Store) -> None:
    store.fence = Fence("engine", "nobody-elected-me", 0)
    with pytest.raises(FencedError):
        store.append_event(EventType.ENGINE_CYCLE, {"n": 1})


def test_release_lets_a_standby_take_over_at_once(store: Store) -> None:
    leases = LeaseRepository(store)
    lease = leases.acquire("engine", "a", ttl_s=60)
    assert lease is not None
    assert leases.release(lease.fence)
    taken = leases.acquire("engine", "b", ttl_s=60)
    assert taken is not None and taken.token == 2


def test_a_leader_frozen_inside_a_transaction_does_not_block_the_takeover(pg_url: str) -> None:
    """PostgreSQL ends a session idle in its transaction past the bound, releasing the event lock and
    the lease row: the standby takes over, and the frozen transaction's write never commits."""
    old, new = Store.from_url(pg_url), Store.from_url(pg_url, migrate=False)
    try:
        bound_idle_transactions(old.engine, 1.0)
        lease = LeaseRepository(old).acquire("engine", "old", ttl_s=1.0)
        assert lease is not None
        old.fence = lease.fence
        taken = None
        with pytest.raises(StoreError), old.transaction() as conn:
            old.append_event(EventType.ENGINE_CYCLE, {"by": "old"}, conn=conn)
            # "frozen" here, holding the event lock: the standby keeps trying (each try waits for
            # the lock up to its lock timeout)
            deadline = time.monotonic() + 60
            while taken is None and time.monotonic() < deadline:
                with contextlib.suppress(StoreError):  # the lock timeout: try again
                    taken = LeaseRepository(new).acquire("engine", "new", ttl_s=30)
        assert taken is not None and taken.token == 2
        assert all(e.payload != {"by": "old"} for e in new.events_after(0, limit=100))
    finally:
        old.close()
        new.close()
