"""Leadership in one process: two campaigners on one store, one leads; the other takes over once the
leader stops renewing, with a higher token, and the old leader's Store is fenced."""

from __future__ import annotations

import threading

import pytest

from swen.domain.errors import FencedError
from swen.domain.events import EventType
from swen.leadership import Leadership
from swen.store.repository import Store


def test_standby_takes_over_when_the_leader_stops_renewing(database_url: str) -> None:
    a_store, b_store = Store.from_url(database_url), Store.from_url(database_url, migrate=False)
    a = Leadership(a_store, lease_s=0.6, holder="a")
    b = Leadership(b_store, lease_s=0.6, holder="b")
    try:
        assert a.attempt() and not b.attempt()
        assert a.is_leader() and not b.is_leader()
        a_store.append_event(EventType.ENGINE_CYCLE, {"by": "a"})
        b.start()
        stop = threading.Event()
        assert b.wait_until_leader(stop, timeout=30), "the standby never took over"
        assert b.token == 2
        assert not a.attempt() and not a.is_leader()  # a's renewal finds b's lease
        with pytest.raises(FencedError):
            a_store.append_event(EventType.ENGINE_CYCLE, {"by": "a"})
        b_store.append_event(EventType.ENGINE_CYCLE, {"by": "b"})
        cycles = [e.payload for e in b_store.events_after(0, limit=100) if e.type == EventType.ENGINE_CYCLE]
        assert cycles == [{"by": "a"}, {"by": "b"}]
    finally:
        b.stop()
        a_store.close()
        b_store.close()


def test_a_started_campaigner_writes_nothing_before_it_is_elected(any_store: Store) -> None:
    store = any_store
    other = Leadership(store, lease_s=30, holder="other")
    assert other.attempt()
    mine_store = Store(store.engine)
    mine = Leadership(mine_store, lease_s=30, holder="mine").start()
    try:
        with pytest.raises(FencedError):
            mine_store.append_event(EventType.ENGINE_CYCLE, {"n": 1})
        assert not mine.wait_until_leader(threading.Event(), timeout=0.3)
    finally:
        mine.stop()


def test_stop_releases_the_lease_for_the_standby(any_store: Store) -> None:
    store = any_store
    leader = Leadership(store, lease_s=30, holder="leader")
    assert leader.attempt()
    leader.stop()
    standby = Leadership(Store(store.engine), lease_s=30, holder="standby")
    assert standby.attempt() and standby.token == 2
