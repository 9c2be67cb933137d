"""Merge requests and pipeline runs in the store (tables ``merge_requests``, ``mr_comments``,
``pipeline_runs``, ``pipeline_stages``).

Every merge request SWEN opens has a row here, whatever the host: the local host keeps the MR only
here; the GitLab host mirrors GitLab's MR (``external_id`` = GitLab iid, ``web_url``) so pipeline runs
can point at it. Each write appends an audit event in the same transaction (``mr`` events for merge
requests, ``pipeline`` events for runs and stages), so the live feed sees every step.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Connection, Row, Select, insert, select, update

from swen.domain.clock import aware_utc, utcnow
from swen.domain.decision import DecisionStatus
from swen.domain.errors import ConflictError, InvalidInputError, NotFoundError
from swen.domain.events import EventType
from swen.domain.merge_requests import (
    MergeRequest,
    MRKind,
    MRState,
    PipelineRun,
    PipelineStage,
    RunStatus,
    StageName,
    StageStatus,
)
from swen.store.paging import check_page
from swen.store.repository import Store
from swen.store.tables import decisions, merge_requests, mr_comments, pipeline_runs, pipeline_stages

MAX_LOG_CHARS = 100_000


def _aware(value: datetime | None) -> datetime:
    return utcnow() if value is None else aware_utc(value)


E = TypeVar("E", bound=StrEnum)


def _enum(cls: type[E], value: str, what: str) -> E:
    try:
        return cls(value)
    except ValueError:
        allowed = ", ".join(member.value for member in cls)
        raise InvalidInputError(f"unknown {what} {value!r}", hint=f"use one of: {allowed}") from None


def _mr(row: Row[Any]) -> MergeRequest:
    return MergeRequest.model_validate(dict(row._mapping))


def _mr_row(conn: Connection, mr_id: int) -> Row[Any]:
    row = conn.execute(select(merge_requests).where(merge_requests.c.id == mr_id)).first()
    if row is None:
        raise NotFoundError(f"unknown merge request {mr_id}", hint="list them with `swen mr list`")
    return row


def mr_filters(
    *, state: MRState | str | None, service: str | None, decision_id: str | None = None
) -> list[ColumnElement[bool]]:
    """Which merge requests a page holds (None: any), for the page and for its total alike."""
    filters: list[ColumnElement[bool]] = []
    if state is not None:
        filters.append(merge_requests.c.state == MRState(state).value)
    if service is not None:
        filters.append(merge_requests.c.service == service)
    if decision_id is not None:
        filters.append(merge_requests.c.decision_id == decision_id)
    return filters


class MergeRequestRepository:
    """Rows of ``merge_requests``."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def create(
        self,
        *,
        decision_id: str,
        service: str,
        branch: str,
        host: str,
        title: str,
        description: str,
        kind: MRKind,
        external_id: str | None = None,
        web_url: str | None = None,
    ) -> MergeRequest:
        """Insert an open MR and its ``mr`` event; a second MR for the same branch is a ConflictError."""
        now = utcnow()
        values = {
            "decision_id": decision_id,
            "service": service,
            "branch": branch,
            "host": host,
            "external_id": external_id,
            "web_url": web_url,
            "state": MRState.OPENED.value,
            "title": title[:512],
            "description": description,
            "kind": MRKind(kind).value,
            "created_at": now,
            "updated_at": now,
        }
        # Write transactions are serialised (Store.transaction), so check-then-insert cannot race.
        with self._store.transaction() as conn:
            if conn.execute(select(merge_requests.c.id).where(merge_requests.c.branch == branch)).first():
                raise ConflictError(
                    f"a merge request for branch {branch!r} already exists",
                    hint="find it with `swen mr list`",
                )
            stmt = insert(merge_requests).values(**values).returning(merge_requests.c.id)
            mr_id = int(conn.execute(stmt).scalar_one())
            self._event(conn, "opened", mr_id, values, {})
        return self.get(mr_id)

    def get(self, mr_id: int) -> MergeRequest:
        with self._store.reading("reading a merge request") as conn:
            return _mr(_mr_row(conn, mr_id))

    def get_by_branch(self, branch: str) -> MergeRequest | None:
        with self._store.reading("reading a merge request") as conn:
            row = conn.execute(select(merge_requests).where(merge_requests.c.branch == branch)).first()
        return None if row is None else _mr(row)

    def list(
        self,
        *,
        state: MRState | None = None,
        service: str | None = None,
        decision_id: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[MergeRequest]:
        """Newest first."""
        check_page(limit, offset)
        query = (
            select(merge_requests)
            .where(*mr_filters(state=state, service=service, decision_id=decision_id))
            .order_by(merge_requests.c.id.desc())
            .limit(limit)
            .offset(offset)
        )
        with self._store.reading("listing merge requests") as conn:
            return [_mr(row) for row in conn.execute(query).all()]

    def update(
        self,
        mr_id: int,
        *,
        action: str,
        state: MRState | None = None,
        approved_by: str | None = None,
        review: str | None = None,
        external_id: str | None = None,
        web_url: str | None = None,
        detail: dict[str, Any] | None = None,
    ) -> MergeRequest:
        """Change the given fields and append an ``mr`` event named ``action`` (approved, merged, ...)."""
        changes: dict[str, Any] = {
            key: value
            for key, value in {
                "state": None if state is None else MRState(state).value,
                "approved_by": approved_by,
                "review": review,
                "external_id": external_id,
                "web_url": web_url,
            }.items()
            if value is not None
        }
        with self._store.transaction() as conn:
            row = _mr_row(conn, mr_id)
            conn.execute(
                update(merge_requests)
                .where(merge_requests.c.id == mr_id)
                .values(**changes, updated_at=utcnow())
            )
            self._event(conn, action, mr_id, {**dict(row._mapping), **changes}, detail or {})
        return self.get(mr_id)

    def record_approval(self, mr_id: int, *, by: str, decision_id: str | None) -> MergeRequest:
        """A person's approval, recorded once and atomically.

        In one transaction: the MR must be open and not yet approved (else ConflictError, nothing
        written); ``approved_by`` is set with its ``approved`` event, and when ``decision_id`` is
        given and that decision waits at the gate (AWAITING_APPROVAL) it becomes APPROVED. Of two
        racing approvals exactly one succeeds.
        """
        with self._store.transaction() as conn:
            row = _mr_row(conn, mr_id)
            if row.state != MRState.OPENED.value:
                raise ConflictError(
                    f"merge request {mr_id} is {row.state}; cannot approve it",
                    hint="only open merge requests can be approved",
                )
            if row.approved_by is not None:
                raise ConflictError(
                    f"merge request {mr_id} was already approved by {row.approved_by}",
                    hint=f"see `swen mr show {mr_id}`",
                )
            conn.execute(
                update(merge_requests)
                .where(merge_requests.c.id == mr_id)
                .values(approved_by=by, updated_at=utcnow())
            )
            self._event(conn, "approved", mr_id, {**dict(row._mapping), "approved_by": by}, {"by": by})
            if decision_id is not None:
                status = conn.execute(
                    select(decisions.c.status).where(decisions.c.id == decision_id)
                ).scalar_one_or_none()
                if status == DecisionStatus.AWAITING_APPROVAL.value:
                    self._store.transition_in(
                        conn,
                        decision_id,
                        DecisionStatus.APPROVED,
                        expected={DecisionStatus.AWAITING_APPROVAL},
                        detail={"by": by, "mr_id": mr_id},
                    )
        return self.get(mr_id)

    def last_comment_sha256(self, mr_id: int) -> str | None:
        """The SHA-256 of the last comment SWEN posted on ``mr_id`` (None before the first)."""
        with self._store.reading("reading a merge request's last comment") as conn:
            value = conn.execute(
                select(mr_comments.c.sha256).where(mr_comments.c.mr_id == mr_id)
            ).scalar_one_or_none()
        return None if value is None else str(value)

    def record_comment(self, mr_id: int, *, sha256: str, chars: int, posted: bool = True) -> None:
        """Remember the comment SWEN posted (``posted``) or found already posted on ``mr_id``, with a
        ``commented`` event (``comment_found`` for one found) in the same transaction."""
        values = {"sha256": sha256, "chars": chars, "posted_at": utcnow()}
        with self._store.transaction() as conn:
            row = _mr_row(conn, mr_id)
            where = mr_comments.c.mr_id == mr_id
            if conn.execute(select(mr_comments.c.mr_id).where(where)).first() is None:
                conn.execute(insert(mr_comments).values(mr_id=mr_id, **values))
            else:
                conn.execute(update(mr_comments).where(where).values(**values))
            action = "commented" if posted else "comment_found"
            self._event(conn, action, mr_id, dict(row._mapping), {"sha256": sha256, "chars": chars})

    def _event(
        self, conn: Connection, action: str, mr_id: int, row: dict[str, Any], detail: dict[str, Any]
    ) -> None:
        payload = {
            "action": action,
            "mr_id": mr_id,
            "branch": row["branch"],
            "kind": row["kind"],
            "host": row["host"],
            "state": row["state"],
            "web_url": row.get("web_url"),
            **({"detail": detail} if detail else {}),
        }
        self._store.append_event(
            EventType.MR, payload, service=row["service"], decision_id=row["decision_id"], conn=conn
        )


class PipelineRepository:
    """Rows of ``pipeline_runs`` and ``pipeline_stages`` (written by the pipeline runner)."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def start_run(self, mr_id: int, *, at: datetime | None = None) -> PipelineRun:
        started = _aware(at)
        with self._store.transaction() as conn:
            mr = _mr_row(conn, mr_id)
            stmt = (
                insert(pipeline_runs)
                .values(mr_id=mr_id, status=RunStatus.RUNNING.value, started_at=started)
                .returning(pipeline_runs.c.id)
            )
            run_id = int(conn.execute(stmt).scalar_one())
            self._event(
                conn, mr, {"action": "run_started", "run_id": run_id, "status": RunStatus.RUNNING.value}
            )
        return self.get_run(run_id)

    def record_stage(
        self,
        run_id: int,
        name: StageName | str,
        status: StageStatus | str,
        *,
        started_at: datetime | None = None,
        duration_s: float | None = None,
        log: str = "",
    ) -> PipelineStage:
        """Insert or update the stage ``name`` of a run (one row per stage; later calls overwrite)."""
        name = _enum(StageName, name, "pipeline stage")
        status = _enum(StageStatus, status, "stage status")
        if duration_s is not None and duration_s < 0:
            raise InvalidInputError(f"duration_s must be >= 0, got {duration_s}")
        values = {
            "status": status.value,
            "started_at": _aware(started_at),
            "duration_s": duration_s,
            "log": log[-MAX_LOG_CHARS:],
        }
        with self._store.transaction() as conn:
            run = self._run_row(conn, run_id)
            where = (pipeline_stages.c.run_id == run_id) & (pipeline_stages.c.name == name.value)
            existing = conn.execute(
                select(pipeline_stages.c.id, pipeline_stages.c.started_at).where(where)
            ).first()
            if existing is None:
                conn.execute(insert(pipeline_stages).values(run_id=run_id, name=name.value, **values))
            else:
                if started_at is None:
                    values["started_at"] = existing.started_at
                conn.execute(update(pipeline_stages).where(where).values(**values))
            mr = _mr_row(conn, run.mr_id)
            detail = {"action": "stage", "run_id": run_id, "stage": name.value, "status": status.value}
            self._event(conn, mr, {**detail, "duration_s": duration_s})
        stage = next(s for s in self.get_run(run_id).stages if s.name is name)
        return stage

    def set_status(self, run_id: int, status: RunStatus | str) -> PipelineRun:
        """Change a run's status without finishing it (e.g. ``awaiting_approval``)."""
        status = _enum(RunStatus, status, "run status")
        with self._store.transaction() as conn:
            run = self._run_row(conn, run_id)
            conn.execute(
                update(pipeline_runs).where(pipeline_runs.c.id == run_id).values(status=status.value)
            )
            self._event(
                conn,
                _mr_row(conn, run.mr_id),
                {"action": "run_status", "run_id": run_id, "status": status.value},
            )
        return self.get_run(run_id)

    def save_results(
        self,
        run_id: int,
        *,
        plan_summary: dict[str, Any] | None = None,
        policy_result: dict[str, Any] | None = None,
    ) -> PipelineRun:
        """Store the plan summary and/or policy result of a run that is still going (added by pipeline)."""
        values: dict[str, Any] = {}
        if plan_summary is not None:
            values["plan_summary"] = plan_summary
        if policy_result is not None:
            values["policy_result"] = policy_result
        if not values:
            return self.get_run(run_id)
        with self._store.transaction() as conn:
            run = self._run_row(conn, run_id)
            conn.execute(update(pipeline_runs).where(pipeline_runs.c.id == run_id).values(**values))
            outcome = (policy_result or {}).get("outcome")
            payload = {"action": "run_results", "run_id": run_id, "policy_outcome": outcome}
            self._event(conn, _mr_row(conn, run.mr_id), payload)
        return self.get_run(run_id)

    def finish_run(
        self,
        run_id: int,
        status: RunStatus | str,
        *,
        plan_summary: dict[str, Any] | None = None,
        policy_result: dict[str, Any] | None = None,
        at: datetime | None = None,
    ) -> PipelineRun:
        status = _enum(RunStatus, status, "run status")
        values: dict[str, Any] = {"status": status.value, "finished_at": _aware(at)}
        if plan_summary is not None:
            values["plan_summary"] = plan_summary
        if policy_result is not None:
            values["policy_result"] = policy_result
        with self._store.transaction() as conn:
            run = self._run_row(conn, run_id)
            conn.execute(update(pipeline_runs).where(pipeline_runs.c.id == run_id).values(**values))
            payload = {"action": "run_finished", "run_id": run_id, "status": status.value}
            self._event(conn, _mr_row(conn, run.mr_id), payload)
        return self.get_run(run_id)

    def get_run(self, run_id: int) -> PipelineRun:
        with self._store.reading("reading a pipeline run") as conn:
            return self._with_stages(conn, self._run_row(conn, run_id))

    def list_runs(self, *, mr_id: int | None = None, limit: int = 50, offset: int = 0) -> list[PipelineRun]:
        """Newest first."""
        check_page(limit, offset)
        query: Select[Any] = select(pipeline_runs)
        if mr_id is not None:
            query = query.where(pipeline_runs.c.mr_id == mr_id)
        query = query.order_by(pipeline_runs.c.id.desc()).limit(limit).offset(offset)
        with self._store.reading("listing pipeline runs") as conn:
            return [self._with_stages(conn, row) for row in conn.execute(query).all()]

    def latest_run(self, mr_id: int) -> PipelineRun | None:
        runs = self.list_runs(mr_id=mr_id, limit=1)
        return runs[0] if runs else None

    # --- helpers --------------------------------------------------------------------------------
    @staticmethod
    def _with_stages(conn: Connection, row: Row[Any]) -> PipelineRun:
        stage_rows = conn.execute(select(pipeline_stages).where(pipeline_stages.c.run_id == row.id)).all()
        order = list(StageName)
        stages = sorted(
            (PipelineStage.model_validate(dict(s._mapping)) for s in stage_rows),
            key=lambda s: order.index(s.name),
        )
        return PipelineRun.model_validate({**dict(row._mapping), "stages": tuple(stages)})

    @staticmethod
    def _run_row(conn: Connection, run_id: int) -> Row[Any]:
        row = conn.execute(select(pipeline_runs).where(pipeline_runs.c.id == run_id)).first()
        if row is None:
            raise NotFoundError(f"unknown pipeline run {run_id}")
        return row

    def _event(self, conn: Connection, mr: Row[Any], payload: dict[str, Any]) -> None:
        self._store.append_event(
            EventType.PIPELINE,
            {**payload, "mr_id": mr.id, "branch": mr.branch},
            service=mr.service,
            decision_id=mr.decision_id,
            conn=conn,
        )
