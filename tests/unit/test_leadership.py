"""Leadership in one process: two campaigners on one store, one leads; the other takes over once the
leader stops renewing, with a higher token, and the old leader's Store is fenced."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from support.builders import T0, decision
from support.cli import make_swen
from swen.config import Settings
from swen.domain.decision import Decision, DecisionStatus
from swen.domain.errors import FencedError
from swen.domain.events import EventType
from swen.leadership import Leadership
from swen.loop import EngineLoop
from swen.store.repository import Store


def test_standby_takes_over_when_the_leader_stops_renewing(database_url: str) -> None:
    a_store, b_store = Store.from_url(database_url), Store.from_url(database_url, migrate=False)
    a = Leadership(a_store, lease_s=2, holder="a")
    b = Leadership(b_store, lease_s=2, holder="b")
    try:
        a_store.ping()
        b_store.ping()  # connections open: the next two calls are quick, well within the lease
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


class RecordingActuator:
    """Records what the loop asks of its actuator (the loop's own interface, not a library's)."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def propose(self, decision: Decision) -> None:
        self.calls.append(f"propose {decision.id}")

    def withdraw(self, decision_id: str, reason: str) -> None:
        self.calls.append(f"withdraw {decision_id}")

    def resume(self, *, acting: bool = True) -> None:
        self.calls.append("resume")

    def carry(self, decision_id: str) -> None:  # a queued action, carried by the engine's worker
        self.calls.append(f"carry {decision_id}")

    def carry_rollback(self, mr_id: int) -> None:
        self.calls.append(f"rollback {mr_id}")


def test_only_the_leader_applies_approvals_and_a_standby_runs_no_cycle(
    any_store: Store, swen_home: Path
) -> None:
    settings = Settings(home=swen_home)
    any_store.save_decision(decision("d-web-1", service="web", created_at=T0), status=DecisionStatus.APPROVED)
    leader_store, standby_store = Store(any_store.engine), Store(any_store.engine)
    leader, standby = Leadership(leader_store, lease_s=30), Leadership(standby_store, lease_s=30)
    assert leader.attempt() and not standby.attempt()
    acts = {"leader": RecordingActuator(), "standby": RecordingActuator()}
    loops = {
        "leader": EngineLoop(settings, leader_store, actuator=acts["leader"], leadership=leader),
        "standby": EngineLoop(settings, standby_store, actuator=acts["standby"], leadership=standby),
    }
    for loop in loops.values():
        loop._apply_approved()  # what run() does between cycles
    assert acts["leader"].calls == ["carry d-web-1"] and acts["standby"].calls == []
    standby.lease_s = 0.5  # (shortens only how long run(once=True) stands by before giving up)
    report = loops["standby"].run(once=True)  # stands by a lease and a second, then gives up
    assert report.stood_by and report.note is not None and "another engine leads" in report.note
    assert acts["standby"].calls == []


def test_engine_once_stands_by_while_another_engine_leads(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, swen_home: Path
) -> None:
    swen = make_swen(capsys, monkeypatch)
    env = {"SWEN_HOME": str(swen_home), "SWEN_LEADER_ELECTION": "true", "SWEN_LEADER_LEASE_S": "0.5"}
    alone = swen("engine", "--once", "--no-act", env=env)
    alone.assert_ok()
    assert "wrote " in alone.out  # elected (the lease was free), cycled, released the lease at exit
    with Store.open(Settings(home=swen_home), migrate=False) as store:
        other = Leadership(store, lease_s=60, holder="the-running-engine")
        assert other.attempt()
        standing = swen("engine", "--once", "--no-act", env=env)
        standing.assert_ok()
        assert "another engine leads: this one stood by and did nothing" in standing.out
        assert "wrote " not in standing.out
