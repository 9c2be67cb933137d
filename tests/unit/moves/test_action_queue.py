"""Acting at scale: the engine cycle queues moves and returns; the workers carry them out.

Nothing here measures time (bench/action_queue_bench.py does): the tests assert who called the driver
and what the queue holds.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path

from support.builders import decision
from swen.config import Settings
from swen.domain.decision import DecisionStatus
from swen.domain.events import EventType
from swen.domain.merge_requests import MRKind
from swen.loop import EngineLoop
from swen.moves import automation
from swen.moves.queue import ChangeBudget
from swen.store.actions import ActionQueue, ActionRecord, ActionSpec, BudgetUse
from swen.store.mrs import MergeRequestRepository
from swen.store.repository import Store
from swen.telemetry.runner import run_simulator

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
BACKLOG = 1000


class SlowDriver:
    """Stands in for the GitOps driver (git push + MR + pipeline, seconds each): every call blocks
    until the test releases it, and records which thread made it."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.calls: list[tuple[str, int]] = []
        self._lock = threading.Lock()

    def _slow(self, what: str) -> str:
        with self._lock:
            self.calls.append((what, threading.get_ident()))
        self.release.wait(60)
        return "waiting"

    def propose(self, decision: object) -> None:
        self._slow("propose")

    def withdraw(self, decision_id: str, reason: str) -> None:
        self._slow(f"withdraw {decision_id}")

    def resume(self, *, acting: bool = True) -> None:
        self._slow("resume")

    def carry(self, decision_id: str) -> str:
        return self._slow(f"carry {decision_id}")

    def carry_rollback(self, mr_id: int) -> str:
        return self._slow(f"rollback {mr_id}")


def _backlog(n: int) -> list[ActionSpec]:
    return [
        ActionSpec(
            kind="propose",
            key=f"propose:backlog-{i}",
            service=f"backlog-{i}",
            provider="aws",
            priority=float(i),
            decision_id=f"backlog-{i}",
        )
        for i in range(n)
    ]


def test_the_cycle_queues_and_returns_while_slow_workers_hold_a_thousand_actions(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, sim_speed=1e9, action_workers=2)
    store = Store.open(settings)
    driver = SlowDriver()
    loop = EngineLoop(settings, store, actuator=driver)
    assert loop.workers is not None
    try:
        run_simulator(settings, store, start=T0, max_steps=settings.window_size + 2, seed=11)
        queue = ActionQueue(store)
        assert len(queue.enqueue(_backlog(BACKLOG))) == BACKLOG
        loop.workers.start()  # what run() does: two workers, each stuck in a slow driver call

        report = loop.cycle()

        assert not report.errors, report.errors
        assert report.recommendations, "the fleet's warm window yields recommendations"
        assert {f"propose:{d}" for d in report.recommendations} <= set(report.queued)
        cycle_thread = threading.get_ident()
        assert all(thread != cycle_thread for _, thread in driver.calls)  # the cycle never drove
        assert all(what.startswith("carry ") for what, _ in driver.calls)
        assert len(driver.calls) <= settings.action_workers  # bounded: one action per worker
        for decision_id in report.recommendations:  # recorded and queued, not yet carried
            assert store.get_decision(decision_id).status is DecisionStatus.PROPOSED
        counts = queue.counts()
        assert counts["pending"] + counts["running"] == BACKLOG + len(report.recommendations)
        # the next cycle decides again although the queue has not moved
        run_simulator(settings, store, start=T0.replace(hour=9), max_steps=1, seed=12)
        again = loop.cycle()
        assert again.ticks == 1 and not again.errors
    finally:
        driver.release.set()
        loop.workers.stop(timeout=30)
        store.close()


def test_a_cycle_on_its_own_works_the_queue_itself(tmp_path: Path) -> None:
    """``swen engine --once``, tests and the demo seed: the cycle carries its moves out before it
    returns, through the same queue, in the order the workers would."""
    settings = Settings(home=tmp_path, sim_speed=1e9)
    store = Store.open(settings)
    driver = SlowDriver()
    driver.release.set()  # not slow here
    loop = EngineLoop(settings, store, actuator=driver)
    try:
        run_simulator(settings, store, start=T0, max_steps=settings.window_size + 2, seed=11)
        report = loop.cycle()
        carried = {what.removeprefix("carry ") for what, _ in driver.calls}
        assert set(report.recommendations) <= carried
        assert ActionQueue(store).counts()["pending"] == 0
    finally:
        store.close()


def _action(kind: str = "propose", provider: str = "aws", **kw: object) -> ActionRecord:
    fields: dict[str, object] = {
        "id": 1, "key": "k", "kind": kind, "decision_id": "d", "mr_id": None, "service": "s",
        "provider": provider, "emergency": False, "chosen": False, "priority": 1.0, "state": "pending",
        "attempts": 0, "owner": None, "worker": None, "lease_until": None, "waiting": None,
        "outcome": None, "enqueued_at": T0, "updated_at": T0,
    }  # fmt: skip
    return ActionRecord(**(fields | kw))  # type: ignore[arg-type]


def test_the_budget_rule() -> None:
    budget = ChangeBudget(fleet_mrs=4, fleet_applies=3, provider_mrs=2, provider_applies=1)
    free = BudgetUse()
    assert budget.hold(_action(), free, True) is None
    full_fleet = BudgetUse(open_mrs=4, open_mrs_by_provider={"alibaba": 4})
    assert budget.hold(_action(), full_fleet, True) == "waiting: change budget full (4 open MRs)"
    assert budget.hold(_action(), full_fleet, False) is None  # its MR is open already: no new one
    aws_full = BudgetUse(open_mrs=2, open_mrs_by_provider={"aws": 2})
    assert budget.hold(_action(), aws_full, True) == "waiting: change budget full for aws (2 open MRs)"
    assert budget.hold(_action(provider="gcp"), aws_full, True) is None
    flying = BudgetUse(in_flight=1, in_flight_by_provider={"aws": 1})
    assert budget.hold(_action(kind="apply"), flying, False) == (
        "waiting: change budget full for aws (1 applies in flight)"
    )
    assert budget.hold(_action(emergency=True), BudgetUse(open_mrs=99, in_flight=99), True) is None
    assert budget.hold(_action(kind="rollback"), BudgetUse(in_flight=99), False) is None
    paused = budget.hold(_action(), free, True, paused=True)
    assert paused is not None and "automation is paused" in paused
    assert budget.hold(_action(chosen=True), free, True, paused=True) is None


def test_paused_automation_queues_no_proposal(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, sim_speed=1e9)
    store = Store.open(settings)
    driver = SlowDriver()
    driver.release.set()
    loop = EngineLoop(settings, store, actuator=driver)
    try:
        run_simulator(settings, store, start=T0, max_steps=settings.window_size + 2, seed=11)
        automation.set_paused(store, True, by="oncall", reason="freeze")
        report = loop.cycle()
        assert report.recommendations and report.queued == [] and driver.calls == []
    finally:
        store.close()


def test_moves_held_by_the_budget_say_why_in_the_cycle_and_the_feed(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, sim_speed=1e9, budget_fleet_mrs=1)
    store = Store.open(settings)
    driver = SlowDriver()
    driver.release.set()
    loop = EngineLoop(settings, store, actuator=driver)
    try:
        waiting_move = decision("d-old", service="other", created_at=T0)
        store.save_decision(waiting_move)
        MergeRequestRepository(store).create(
            decision_id="d-old", service="other", branch="ai-rec/other", host="local", title="t",
            description="d", kind=MRKind.MIGRATION,
        )  # fmt: skip
        run_simulator(settings, store, start=T0, max_steps=settings.window_size + 2, seed=11)
        report = loop.cycle()
        # the move already in its MR goes on; the new ones wait: the budget is full
        assert report.recommendations and [what for what, _ in driver.calls] == ["carry d-old"]
        assert report.queue is not None
        assert report.queue["waiting"] == "waiting: change budget full (1 open MRs)"
        assert report.queue["pending"] == len(report.recommendations)
        (cycle,) = store.events_after(0, types=[EventType.ENGINE_CYCLE])
        assert cycle.payload["queue"]["waiting"] == "waiting: change budget full (1 open MRs)"
    finally:
        store.close()
