"""Ending a pipeline run that will never finish (its MR was rejected, withdrawn or superseded).

Needs only the store, so any process that records a review (an API replica, the CLI) can end the
run without the infra repository or Terraform.
"""

from __future__ import annotations

import logging

from swen.config import Settings
from swen.domain.errors import LockError
from swen.domain.merge_requests import MergeRequest, PipelineRun, RunStatus, StageName, StageStatus
from swen.pipeline.lock import StoreLock
from swen.store.mrs import PipelineRepository
from swen.store.repository import Store

log = logging.getLogger(__name__)
STAGE_ORDER: tuple[StageName, ...] = tuple(StageName)
FINISHED_RUNS = frozenset({RunStatus.SUCCESS, RunStatus.FAILED})


def mr_lock(settings: Settings, store: Store, mr_id: int) -> StoreLock:
    """The lock one pipeline process holds while it works on ``mr_id``."""
    return StoreLock(
        store,
        f"pipeline:mr:{mr_id}",
        owner=f"pipeline for MR {mr_id}",
        stale_after_s=settings.apply_lock_stale_s,
    )


def end_unfinished_run(settings: Settings, store: Store, mr: MergeRequest, note: str) -> PipelineRun | None:
    """Skip the stages left of ``mr``'s newest run and mark it failed with ``note`` (if unfinished)."""
    runs = PipelineRepository(store)
    run = runs.latest_run(mr.id)
    try:
        with mr_lock(settings, store, mr.id):
            run = runs.latest_run(mr.id)
            if run is not None and run.status not in FINISHED_RUNS:
                done = {s.name for s in run.stages if s.status is StageStatus.SUCCESS}
                for stage in STAGE_ORDER:
                    if stage not in done:
                        runs.record_stage(run.id, stage, StageStatus.SKIPPED, log=note)
                run = runs.finish_run(run.id, RunStatus.FAILED)
    except LockError as exc:
        # A pipeline process is running this MR right now; it stops at its next step because the
        # MR is closed and the decision is no longer open.
        log.warning("MR %s closed while its pipeline runs: %s", mr.id, exc)
    return run
