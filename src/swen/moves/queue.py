"""Acting at scale: the engine cycle enqueues moves, bounded workers of the leader carry them out.

The cycle never waits for git, a merge request or Terraform: it records a recommendation and queues
"carry this decision on" (``store.actions``), then goes on deciding. :class:`ActionWorkers` (the leader
engine's threads, ``SWEN_ACTION_WORKERS``) claim actions and carry each through the driver
(``MoveDriver.carry``: propose, run the pipeline, apply an approval), one action per worker at a time.

The change budget (:class:`ChangeBudget`) bounds what is in flight: the open move MRs and the moves
being carried (applies) in the fleet and per target provider. Workers take the most valuable move the
budget lets through (net monthly savings); emergencies (self-healing) come first and are never held;
a held move says why ("waiting: change budget full (20 open MRs)") in ``swen queue`` and ``GET
/actions``. Which moves are owed work (:func:`owed_decisions`) is the one rule ``MoveDriver.resume``
also follows.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from swen.config import Settings
from swen.domain.decision import Decision, DecisionStatus
from swen.domain.errors import ConflictError, FencedError, SwenError
from swen.domain.merge_requests import MRKind, MRState
from swen.moves import automation
from swen.store.actions import ActionQueue, ActionRecord, ActionSpec, BudgetUse
from swen.store.mrs import MergeRequestRepository
from swen.store.records import StoredDecision
from swen.store.repository import Store

_log = logging.getLogger(__name__)
_S = DecisionStatus

OWED_STATUSES = (_S.APPROVED, _S.PIPELINE_RUNNING, _S.MR_OPENED, _S.PROPOSED)
"""Statuses the platform owes work for, in the order they are carried on."""
ROLLBACK_PRIORITY = 1e12
"""A person's approved rollback goes before every normal move (after emergencies)."""
IDLE_WAIT_S = 0.5
"""A worker with nothing to claim looks again after this long (or at once when woken)."""


class Carrier(Protocol):
    """What the workers call: ``swen.moves.driver.MoveDriver`` (each worker its own, ``fork()``)."""

    def carry(self, decision_id: str) -> Any:
        """Carry one decision on from where the store says it is; returns what happened."""

    def carry_rollback(self, mr_id: int) -> Any:
        """Apply an approved rollback MR."""


# --- what is owed, and as which action ---------------------------------------------------------------
def owed_decisions(store: Store, *, acting: bool) -> Iterator[tuple[StoredDecision, DecisionStatus]]:
    """Every decision the platform owes work for, from the store (crash or restart recovery, recorded
    approvals). ``acting`` False (automation paused): only approved moves and a person's choices. A
    proposed emergency is left to the engine loop, which acts on it once its loop guards admit it."""
    for status in OWED_STATUSES:
        for stored in store.list_decisions(status=status, limit=1000):
            if status is not _S.APPROVED and not acting and stored.decision.chosen_by is None:
                continue
            if status is _S.PROPOSED and stored.decision.emergency:
                continue
            yield stored, status


def action_for(decision: Decision, status: DecisionStatus = _S.PROPOSED) -> ActionSpec:
    """The action that carries ``decision`` on from ``status``: ``apply`` once approved, else
    ``propose`` (to its MR and the gate). One per decision and phase (the key)."""
    kind = "apply" if status is _S.APPROVED else "propose"
    return ActionSpec(
        kind=kind,
        key=f"{kind}:{decision.id}",
        service=decision.service,
        provider=decision.target.provider,
        priority=float(decision.savings.net_monthly_usd),
        decision_id=decision.id,
        emergency=decision.emergency,
        chosen=decision.chosen_by is not None,
    )


def owed_actions(store: Store, *, acting: bool, approved_only: bool = False) -> list[ActionSpec]:
    """The actions for every move owed work (approved rollback MRs too)."""
    specs = [
        action_for(stored.decision, status)
        for stored, status in owed_decisions(store, acting=acting)
        if not approved_only or status is _S.APPROVED
    ]
    for mr in MergeRequestRepository(store).list(state=MRState.OPENED, limit=1000):
        if mr.kind is MRKind.ROLLBACK and mr.approved_by:
            specs.append(
                ActionSpec(
                    kind="rollback",
                    key=f"rollback:{mr.id}",
                    service=mr.service,
                    provider="-",
                    priority=ROLLBACK_PRIORITY,
                    mr_id=mr.id,
                )
            )
    return specs


# --- the change budget --------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ChangeBudget:
    """The most open move MRs and moves in flight (applies), in the fleet and per target provider."""

    fleet_mrs: int = 20
    fleet_applies: int = 5
    provider_mrs: int = 10
    provider_applies: int = 3

    @classmethod
    def from_settings(cls, settings: Settings) -> ChangeBudget:
        return cls(
            fleet_mrs=settings.budget_fleet_mrs,
            fleet_applies=settings.budget_fleet_applies,
            provider_mrs=settings.budget_provider_mrs,
            provider_applies=settings.budget_provider_applies,
        )

    def hold(
        self, action: ActionRecord, use: BudgetUse, opens_mr: bool, *, paused: bool = False
    ) -> str | None:
        """Why ``action`` must wait now, or None. Emergencies and rollbacks are never held by it."""
        if action.emergency or action.kind == "rollback":
            return None
        if paused and action.kind == "propose" and not action.chosen:
            return "waiting: automation is paused (`swen automation resume`)"
        if opens_mr:
            if use.open_mrs >= self.fleet_mrs:
                return f"waiting: change budget full ({use.open_mrs} open MRs)"
            on_provider = use.open_mrs_by_provider.get(action.provider, 0)
            if on_provider >= self.provider_mrs:
                return f"waiting: change budget full for {action.provider} ({on_provider} open MRs)"
        if use.in_flight >= self.fleet_applies:
            return f"waiting: change budget full ({use.in_flight} applies in flight)"
        on_provider = use.in_flight_by_provider.get(action.provider, 0)
        if on_provider >= self.provider_applies:
            return f"waiting: change budget full for {action.provider} ({on_provider} applies in flight)"
        return None


# --- what the queue holds (swen queue, GET /actions, the metrics) ---------------------------------------
@dataclass(frozen=True, slots=True)
class QueuedAction:
    action: ActionRecord
    waiting: str | None
    """Why a pending action waits now (the change budget, a paused automation), else None."""


@dataclass(frozen=True, slots=True)
class QueueView:
    counts: dict[str, int]
    budget: ChangeBudget
    use: BudgetUse
    actions: list[QueuedAction]

    def summary(self) -> str:
        """One line: the budget in use against its limits."""
        b, u = self.budget, self.use
        full = " (full)" if u.open_mrs >= b.fleet_mrs or u.in_flight >= b.fleet_applies else ""
        return (
            f"change budget{full}: {u.open_mrs}/{b.fleet_mrs} open MRs, {u.in_flight}/{b.fleet_applies} "
            f"applies in flight (per provider: {b.provider_mrs} MRs, {b.provider_applies} applies)"
        )


def queue_view(
    settings: Settings, store: Store, *, state: str | None = None, limit: int = 50, offset: int = 0
) -> QueueView:
    """The queue as workers see it: counts, the budget in use, and a page of actions (pending first,
    in the order they are taken) each with why it waits now."""
    queue = ActionQueue(store)
    budget = ChangeBudget.from_settings(settings)
    use = queue.budget_use()
    page = queue.list(state=state, limit=limit, offset=offset)
    pending = [a for a in page if a.state == "pending"]
    with_mr = queue.with_open_mr([a.decision_id for a in pending if a.decision_id])
    paused = automation.is_paused(store)
    rows = []
    for action in page:
        waiting = None
        if action.state == "pending":
            opens_mr = action.kind == "propose" and action.decision_id not in with_mr
            waiting = budget.hold(action, use, opens_mr, paused=paused)
        rows.append(QueuedAction(action, waiting))
    return QueueView(queue.counts(), budget, use, rows)


# --- the workers ----------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ActionResult:
    action: ActionRecord
    outcome: str
    mr_id: int | None = None
    error: str | None = None


def engine_owner() -> str:
    """An engine's name on its claims (host:pid:random), unless it leads under a lease (its holder)."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


class ActionWorkers:
    """The leader engine's bounded workers (``settings.action_workers`` threads) that drain the queue.

    ``carrier`` is used by every worker when it cannot ``fork()`` (then they take turns); a
    ``MoveDriver`` forks one driver per worker (its own git objects). ``may_work`` says whether this
    engine leads right now; a deposed engine's claims fail in the store anyway (fenced).
    """

    def __init__(
        self,
        settings: Settings,
        store: Store,
        carrier: Carrier,
        *,
        owner: str,
        may_work: Callable[[], bool] = lambda: True,
    ) -> None:
        self.settings = settings
        self.store = store
        self.queue = ActionQueue(store)
        self.budget = ChangeBudget.from_settings(settings)
        self.owner = owner
        self.may_work = may_work
        self._carrier = carrier
        self._shared = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._stop = threading.Event()
        self._wake = threading.Event()
        self.results: list[ActionResult] = []
        """What the workers did (bounded: the last 1,000)."""

    @property
    def running(self) -> bool:
        return any(t.is_alive() for t in self._threads)

    def hold_rule(self) -> Callable[[ActionRecord, BudgetUse, bool], str | None]:
        """The budget's rule for one claim (whether automation is paused is read once, before it)."""
        paused = automation.is_paused(self.store)
        return lambda action, use, opens_mr: self.budget.hold(action, use, opens_mr, paused=paused)

    # --- one action ---------------------------------------------------------------------------------
    def work_one(self, worker: str = "inline", carrier: Carrier | None = None) -> ActionResult | None:
        """Claim one action and carry it out; None when nothing is claimable now. FencedError: deposed."""
        action = self.queue.claim(
            owner=self.owner, worker=worker, lease_s=self.settings.action_lease_s, hold=self.hold_rule()
        )
        if action is None:
            return None
        result = self._carry(action, carrier)
        try:
            self.queue.complete(action, result.error or result.outcome, failed=result.error is not None)
        except ConflictError as exc:
            _log.warning("%s", exc)
        self.results = [*self.results[-999:], result]
        return result

    def _carry(self, action: ActionRecord, carrier: Carrier | None) -> ActionResult:
        try:
            if carrier is not None:
                done = self._step(carrier, action)
            else:
                with self._shared:
                    done = self._step(self._carrier, action)
        except FencedError:
            raise  # deposed: the worker stops; the new leader claims the action again
        except SwenError as exc:
            _log.error("action %s (%s) failed: %s", action.id, action.key, exc)
            return ActionResult(action, "failed", error=f"{action.service}: {exc}")
        outcome = getattr(done, "outcome", done)
        return ActionResult(action, str(outcome), mr_id=getattr(done, "mr_id", None))

    @staticmethod
    def _step(carrier: Carrier, action: ActionRecord) -> Any:
        if action.kind == "rollback":
            assert action.mr_id is not None
            return carrier.carry_rollback(action.mr_id)
        assert action.decision_id is not None
        return carrier.carry(action.decision_id)

    def drain(self, *, limit: int | None = None) -> list[ActionResult]:
        """Carry out claimable actions in this thread until none is left (or ``limit`` were done):
        ``EngineLoop.cycle`` called on its own (tests, ``swen engine --once``, the demo seed)."""
        done: list[ActionResult] = []
        while (limit is None or len(done) < limit) and self.may_work():
            result = self.work_one()
            if result is None:
                break
            done.append(result)
        return done

    # --- threads ------------------------------------------------------------------------------------
    def start(self) -> ActionWorkers:
        if self.running:
            return self
        self._stop.clear()
        fork = getattr(self._carrier, "fork", None)
        self._threads = []
        for n in range(self.settings.action_workers):
            carrier = fork() if callable(fork) else None
            thread = threading.Thread(
                target=self._work, args=(f"w{n + 1}", carrier), name=f"swen-action-w{n + 1}", daemon=True
            )
            self._threads.append(thread)
            thread.start()
        return self

    def wake(self) -> None:
        """New actions were queued: idle workers look at once."""
        self._wake.set()

    def stop(self, timeout: float | None = None) -> None:
        """Stop the workers after the action each is on (an unfinished one is claimed again later)."""
        self._stop.set()
        self._wake.set()
        for thread in self._threads:
            thread.join(timeout)
        self._threads = [t for t in self._threads if t.is_alive()]

    def _work(self, worker: str, carrier: Carrier | None) -> None:
        while not self._stop.is_set():
            result: ActionResult | None = None
            if self.may_work():
                try:
                    result = self.work_one(worker, carrier)
                except FencedError as exc:
                    _log.warning("worker %s deposed: %s", worker, exc)
                except SwenError as exc:
                    _log.error("worker %s: %s", worker, exc)
            if result is None:
                self._wake.wait(IDLE_WAIT_S)
                self._wake.clear()
