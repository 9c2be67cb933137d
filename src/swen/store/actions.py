"""The durable action queue: moves the engine cycle hands to the leader's workers (``swen.moves.queue``).

An action is "carry this decision on" (``propose``: to its merge request and gate; ``apply``: an
approved move) or "apply this approved rollback MR" (``rollback``). Its ``key`` makes enqueuing
idempotent: the same decision in the same phase is one action, however often it is enqueued, and a
decision that already has an action pending or running gets no second one.

Claiming: the leader's workers take the most valuable claimable action (emergencies first, then by
net monthly savings) that the change budget lets through (a ``HoldRule`` from ``swen.moves.queue``
judges each candidate against the budget in use, read in the same transaction). A claim names its
``owner`` (the engine), its ``worker`` and a lease (``lease_until``, on the database's clock); past the
lease, or once another engine leads (``release_others``), the action is claimable again, so a crash
mid-action loses nothing. On PostgreSQL the claim reads candidates ``FOR UPDATE SKIP LOCKED`` under a
queue advisory lock (so the budget check and the claim are one step); on SQLite it runs in a
``BEGIN IMMEDIATE`` transaction. Every write goes through the Store's fenced transactions: a deposed
leader's claim or completion raises ``FencedError`` and writes nothing; a completion of an action that
was claimed again meanwhile is a ``ConflictError``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, case, func, or_, select, text, update
from sqlalchemy.dialects import postgresql, sqlite

from swen.domain.clock import utcnow
from swen.domain.errors import ConflictError, InvalidInputError
from swen.store.leases import db_now
from swen.store.paging import check_page
from swen.store.repository import Store
from swen.store.tables import actions, decisions, merge_requests

ACTION_LOCK_KEY = 0x5357454E_0006
"""PostgreSQL advisory lock taken by a claim: claims are one at a time, so the budget holds."""
KINDS = ("propose", "apply", "rollback")
STATES = ("pending", "running", "done", "failed")
ACTIVE_STATES = ("pending", "running")
CLAIM_SCAN = 64
"""How many claimable actions a claim looks at, best first, for one the change budget lets through."""
_CHUNK = 500


@dataclass(frozen=True, slots=True)
class ActionSpec:
    """What to enqueue (see ``swen.moves.queue.action_for``)."""

    kind: str
    key: str
    service: str
    provider: str
    priority: float
    decision_id: str | None = None
    mr_id: int | None = None
    emergency: bool = False
    chosen: bool = False


@dataclass(frozen=True, slots=True)
class ActionRecord:
    id: int
    key: str
    kind: str
    decision_id: str | None
    mr_id: int | None
    service: str
    provider: str
    emergency: bool
    chosen: bool
    priority: float
    state: str
    attempts: int
    owner: str | None
    worker: str | None
    lease_until: float | None
    waiting: str | None
    outcome: str | None
    enqueued_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class BudgetUse:
    """The change budget in use: open move MRs and moves in flight (claimed, lease live), in the fleet
    and per target provider. A proposal being carried counts as an open MR already (it opens one when
    it finishes). Emergencies and rollbacks count for neither."""

    open_mrs: int = 0
    open_mrs_by_provider: dict[str, int] = field(default_factory=dict)
    in_flight: int = 0
    in_flight_by_provider: dict[str, int] = field(default_factory=dict)


HoldRule = Callable[[ActionRecord, BudgetUse, bool], str | None]
"""``(candidate, budget in use, whether carrying it opens a new MR)`` -> why it must wait, or None."""


def _record(row: Any) -> ActionRecord:
    return ActionRecord(
        id=int(row.id),
        key=row.key,
        kind=row.kind,
        decision_id=row.decision_id,
        mr_id=row.mr_id,
        service=row.service,
        provider=row.provider,
        emergency=bool(row.emergency),
        chosen=bool(row.chosen),
        priority=float(row.priority),
        state=row.state,
        attempts=int(row.attempts),
        owner=row.owner,
        worker=row.worker,
        lease_until=row.lease_until,
        waiting=row.waiting,
        outcome=row.outcome,
        enqueued_at=row.enqueued_at,
        updated_at=row.updated_at,
    )


def _chunks(items: Sequence[Any]) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


class ActionQueue:
    """The ``actions`` table of one Store (fenced like every other write of that Store)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    @property
    def _postgres(self) -> bool:
        return self.store.engine.dialect.name == "postgresql"

    @contextmanager
    def _writing(self, what: str) -> Iterator[Connection]:
        """A fenced write of queue rows only: on PostgreSQL not serialised with the audit log's writers
        (no event lock: row locks suffice); on SQLite ``BEGIN IMMEDIATE``."""
        if not self._postgres:
            with self.store.transaction() as conn:
                yield conn
            return
        with self.store.writing(what) as conn:
            yield conn

    @contextmanager
    def _claiming(self) -> Iterator[Connection]:
        """PostgreSQL: a fenced transaction holding the queue's advisory lock (rows are then read
        ``FOR UPDATE SKIP LOCKED``); SQLite: a fenced ``BEGIN IMMEDIATE`` transaction."""
        if not self._postgres:
            with self.store.transaction() as conn:
                yield conn
            return
        with self.store.writing("claiming an action") as conn:
            conn.exec_driver_sql("SET LOCAL lock_timeout = '5s'")
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": ACTION_LOCK_KEY})
            yield conn

    # --- the engine cycle's side ------------------------------------------------------------------
    def enqueue(self, specs: Sequence[ActionSpec]) -> list[str]:
        """Queue each spec once; returns the keys newly queued (or queued again after they ended).

        A key already pending or running is left alone; one that ended (done or failed) is queued
        again, because the caller only enqueues what the store says is still owed work. A decision
        with another action pending or running gets no second one."""
        for spec in specs:
            if spec.kind not in KINDS:
                raise InvalidInputError(
                    f"unknown action kind {spec.kind!r}", hint=f"one of {', '.join(KINDS)}"
                )
        unique = list({spec.key: spec for spec in specs}.values())
        if not unique:
            return []
        queued: list[str] = []
        now = utcnow()
        with self.store.transaction() as conn:
            existing: dict[str, str] = {}
            busy: set[str] = set()
            for chunk in _chunks(unique):
                rows = conn.execute(
                    select(actions.c.key, actions.c.state, actions.c.decision_id).where(
                        or_(
                            actions.c.key.in_([s.key for s in chunk]),
                            and_(
                                actions.c.decision_id.in_([s.decision_id for s in chunk if s.decision_id]),
                                actions.c.state.in_(ACTIVE_STATES),
                            ),
                        )
                    )
                ).all()
                for row in rows:
                    if row.key in {s.key for s in chunk}:
                        existing[row.key] = row.state
                    if row.state in ACTIVE_STATES and row.decision_id is not None:
                        busy.add(row.decision_id)
            fresh: list[dict[str, Any]] = []
            for spec in unique:
                state = existing.get(spec.key)
                if state in ACTIVE_STATES or (spec.decision_id is not None and spec.decision_id in busy):
                    continue
                if state is None:
                    fresh.append(_values(spec, now))
                else:  # ended before, owed work again: queue it again
                    conn.execute(
                        update(actions)
                        .where(actions.c.key == spec.key, actions.c.state.not_in(ACTIVE_STATES))
                        .values(
                            state="pending",
                            priority=spec.priority,
                            owner=None,
                            worker=None,
                            lease_until=None,
                            waiting=None,
                            updated_at=now,
                        )
                    )
                queued.append(spec.key)
                if spec.decision_id is not None:
                    busy.add(spec.decision_id)
            if fresh:
                conn.execute(_insert(conn), fresh)
        return queued

    # --- the workers' side --------------------------------------------------------------------------
    def claim(
        self, *, owner: str, worker: str, lease_s: float, hold: HoldRule, scan: int = CLAIM_SCAN
    ) -> ActionRecord | None:
        """Claim the best claimable action the budget lets through (None when there is none).

        Candidates the budget holds keep the reason in ``waiting`` (``swen queue``, ``GET /actions``)."""
        with self._claiming() as conn:
            now = db_now(conn)
            claimable = or_(
                actions.c.state == "pending",
                and_(actions.c.state == "running", actions.c.lease_until <= now),
            )
            query = (
                select(actions)
                .where(claimable)
                .order_by(actions.c.emergency.desc(), actions.c.priority.desc(), actions.c.id)
                .limit(scan)
            )
            if self._postgres:
                query = query.with_for_update(skip_locked=True)
            candidates = [_record(row) for row in conn.execute(query).all()]
            if not candidates:
                return None
            use = _budget_use(conn, now)
            with_mr = _decisions_with_open_mr(conn, [c.decision_id for c in candidates if c.decision_id])
            stamp = utcnow()
            for candidate in candidates:
                opens_mr = candidate.kind == "propose" and candidate.decision_id not in with_mr
                reason = hold(candidate, use, opens_mr)
                if reason is None:
                    values = {"state": "running", "owner": owner, "worker": worker,
                              "lease_until": now + lease_s, "attempts": candidate.attempts + 1,
                              "waiting": None, "updated_at": stamp}  # fmt: skip
                    conn.execute(update(actions).where(actions.c.id == candidate.id).values(**values))
                    return _claimed(candidate, values)
                if reason != candidate.waiting:
                    conn.execute(
                        update(actions).where(actions.c.id == candidate.id).values(waiting=reason[:300])
                    )
        return None

    def complete(self, action: ActionRecord, outcome: str, *, failed: bool = False) -> None:
        """Record how a claimed action ended; ConflictError (nothing written) when it is no longer this
        worker's claim (its lease ran out and it was claimed again, or another engine leads)."""
        with self._writing("completing an action") as conn:
            done = conn.execute(
                update(actions)
                .where(
                    actions.c.id == action.id,
                    actions.c.state == "running",
                    actions.c.owner == action.owner,
                    actions.c.worker == action.worker,
                    actions.c.attempts == action.attempts,
                )
                .values(
                    state="failed" if failed else "done",
                    outcome=outcome[:2000],
                    lease_until=None,
                    updated_at=utcnow(),
                )
            )
            if done.rowcount != 1:
                raise ConflictError(
                    f"action {action.id} ({action.key}) is no longer claimed by {action.worker}: "
                    "its lease ran out or another engine leads; the outcome was not recorded",
                    hint="the current claim carries it on (the driver's steps are idempotent)",
                )

    def release_others(self, owner: str) -> int:
        """Make every running action claimed by another engine claimable again (a new leader, or an
        engine restarted after a crash: the old claims' holder is fenced out or gone)."""
        with self._writing("releasing actions") as conn:
            done = conn.execute(
                update(actions)
                .where(actions.c.state == "running", or_(actions.c.owner.is_(None), actions.c.owner != owner))
                .values(state="pending", owner=None, worker=None, lease_until=None, updated_at=utcnow())
            )
        return int(done.rowcount or 0)

    # --- readers ----------------------------------------------------------------------------------
    def list(self, *, state: str | None = None, limit: int = 100, offset: int = 0) -> list[ActionRecord]:
        """Actions in the order workers take them (active first), then the newest ended ones."""
        check_page(limit, offset)
        if state is not None and state not in STATES:
            raise InvalidInputError(f"unknown action state {state!r}", hint=f"one of {', '.join(STATES)}")
        query = select(actions)
        if state is not None:
            query = query.where(actions.c.state == state)
        active_first = case((actions.c.state.in_(ACTIVE_STATES), 0), else_=1)
        query = (
            query.order_by(
                active_first,
                actions.c.emergency.desc(),
                actions.c.priority.desc(),
                actions.c.updated_at.desc(),
                actions.c.id,
            )
            .limit(limit)
            .offset(offset)
        )
        with self.store.reading("listing actions") as conn:
            return [_record(row) for row in conn.execute(query).all()]

    def get(self, key: str) -> ActionRecord | None:
        with self.store.reading("reading an action") as conn:
            row = conn.execute(select(actions).where(actions.c.key == key)).first()
        return None if row is None else _record(row)

    def counts(self) -> dict[str, int]:
        """Actions per state (every state present, 0 when none)."""
        with self.store.reading("counting actions") as conn:
            rows = conn.execute(select(actions.c.state, func.count()).group_by(actions.c.state)).all()
        out = dict.fromkeys(STATES, 0)
        out.update({str(state): int(n) for state, n in rows})
        return out

    def budget_use(self) -> BudgetUse:
        with self.store.reading("reading the change budget in use") as conn:
            return _budget_use(conn, db_now(conn))

    def with_open_mr(self, decision_ids: Sequence[str]) -> set[str]:
        """Which of these decisions already have an open MR (carrying them opens none)."""
        out: set[str] = set()
        with self.store.reading("reading open merge requests") as conn:
            for chunk in _chunks(list(decision_ids)):
                out |= _decisions_with_open_mr(conn, chunk)
        return out


def _values(spec: ActionSpec, now: datetime) -> dict[str, Any]:
    return {
        "key": spec.key, "kind": spec.kind, "decision_id": spec.decision_id, "mr_id": spec.mr_id,
        "service": spec.service, "provider": spec.provider, "emergency": spec.emergency,
        "chosen": spec.chosen, "priority": float(spec.priority), "state": "pending", "attempts": 0,
        "owner": None, "worker": None, "lease_until": None, "waiting": None, "outcome": None,
        "enqueued_at": now, "updated_at": now,
    }  # fmt: skip


def _insert(conn: Connection) -> Any:
    """INSERT ... ON CONFLICT (key) DO NOTHING: a key inserted meanwhile stays one action."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    return dialect.insert(actions).on_conflict_do_nothing(index_elements=["key"])


def _claimed(candidate: ActionRecord, values: dict[str, Any]) -> ActionRecord:
    fields = {name: getattr(candidate, name) for name in ActionRecord.__slots__}
    fields.update(values)
    return ActionRecord(**fields)


def _budget_use(conn: Connection, now: float) -> BudgetUse:
    mr, d = merge_requests.c, decisions.c
    open_rows = conn.execute(
        select(d.to_provider, func.count())
        .select_from(merge_requests.join(decisions, mr.decision_id == d.id))
        .where(mr.state == "opened", mr.kind != "rollback", d.emergency.is_(False))
        .group_by(d.to_provider)
    ).all()
    flight_rows = conn.execute(
        select(actions.c.provider, func.count())
        .where(
            actions.c.state == "running",
            actions.c.lease_until > now,
            actions.c.emergency.is_(False),
            actions.c.kind != "rollback",
        )
        .group_by(actions.c.provider)
    ).all()
    by_mrs = {str(p): int(n) for p, n in open_rows}
    # a proposal being carried opens its MR when it finishes: it holds a place in the MR budget from its
    # claim on, or two workers claiming at 19 open MRs of 20 would both open one (21)
    opening = conn.execute(
        select(actions.c.decision_id, actions.c.provider).where(
            actions.c.state == "running",
            actions.c.lease_until > now,
            actions.c.kind == "propose",
            actions.c.emergency.is_(False),
        )
    ).all()
    with_mr = _decisions_with_open_mr(conn, [str(row.decision_id) for row in opening if row.decision_id])
    for row in opening:
        if row.decision_id not in with_mr:
            by_mrs[str(row.provider)] = by_mrs.get(str(row.provider), 0) + 1
    by_flight = {str(p): int(n) for p, n in flight_rows}
    return BudgetUse(sum(by_mrs.values()), by_mrs, sum(by_flight.values()), by_flight)


def _decisions_with_open_mr(conn: Connection, decision_ids: Sequence[str]) -> set[str]:
    if not decision_ids:
        return set()
    rows = conn.execute(
        select(merge_requests.c.decision_id).where(
            merge_requests.c.decision_id.in_(list(decision_ids)), merge_requests.c.state == "opened"
        )
    ).all()
    return {str(row.decision_id) for row in rows}
