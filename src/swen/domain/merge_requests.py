"""Merge requests and pipeline runs: what SWEN opened on a host and what its pipeline did (plain data).

Kept by ``swen.store.mrs``; opened by ``swen.gitops``; run by ``swen.pipeline``.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict


class MRState(StrEnum):
    OPENED = "opened"
    MERGED = "merged"
    CLOSED = "closed"


class MRKind(StrEnum):
    MIGRATION = "migration"
    EMERGENCY = "emergency"
    ROLLBACK = "rollback"


class MergeRequest(BaseModel):
    """A merge request as SWEN knows it (``id`` is the store's id, ``external_id`` the host's)."""

    model_config = ConfigDict(frozen=True)

    id: int
    decision_id: str
    service: str
    branch: str
    host: str
    external_id: str | None = None
    web_url: str | None = None
    state: MRState
    title: str
    description: str
    kind: MRKind
    review: str | None = None
    """auto_approve | manual_review | deny, set by the pipeline's policy stage."""
    approved_by: str | None = None
    created_at: datetime
    updated_at: datetime

    @property
    def is_open(self) -> bool:
        return self.state is MRState.OPENED


class RunStatus(StrEnum):
    RUNNING = "running"
    AWAITING_APPROVAL = "awaiting_approval"
    SUCCESS = "success"
    FAILED = "failed"


class StageName(StrEnum):
    VALIDATE = "validate"
    POLICY = "policy"
    PLAN = "plan"
    APPLY = "apply"
    NOTIFY = "notify"


class StageStatus(StrEnum):
    RUNNING = "running"
    SUCCESS = "success"
    FAILED = "failed"
    SKIPPED = "skipped"
    WAITING = "waiting"


class PipelineStage(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: int
    run_id: int
    name: StageName
    status: StageStatus
    started_at: datetime
    duration_s: float | None = None
    log: str = ""


class PipelineRun(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: int
    mr_id: int
    status: RunStatus
    started_at: datetime
    finished_at: datetime | None = None
    plan_summary: dict[str, Any] | None = None
    policy_result: dict[str, Any] | None = None
    stages: tuple[PipelineStage, ...] = ()
    """In pipeline order (validate, policy, plan, apply, notify)."""
