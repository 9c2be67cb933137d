"""The apply step: merge an MR into main and apply main, one at a time, undoing the merge on failure.

Runs under the apply lock (``lock.StoreLock`` named ``apply:infra``). A live holder is waited for with
the runner's backoff; after that, ``LockError`` names it. See docs/PIPELINE.md ("Apply").
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from swen.config import Settings
from swen.domain.errors import PipelineError, SwenError
from swen.domain.merge_requests import MergeRequest
from swen.domain.models import Placement
from swen.gitops.mr_hosts import MergeRequestHost
from swen.gitops.repo import MAIN, REMOTE, InfraRepo
from swen.pipeline.lock import APPLY_LOCK_NAME, LockStore, StoreLock
from swen.pipeline.plan_summary import PlanSummary
from swen.pipeline.retry import Backoff, with_retry
from swen.pipeline.stages import (
    StageLog,
    apply_planfile,
    describe_summary,
    plan_tree,
    read_applied_placements,
    require_same_plan,
    revert_main_to,
)
from swen.pipeline.terraform import TerraformError
from swen.store.mrs import MergeRequestRepository

log = logging.getLogger(__name__)


class MainApplier:
    """Merges merge requests into ``main`` and applies ``main`` with terraform."""

    def __init__(
        self,
        settings: Settings,
        store: LockStore,
        repo: InfraRepo,
        host: MergeRequestHost,
        mrs: MergeRequestRepository,
        backoff: Backoff,
    ) -> None:
        self.settings = settings
        self.store = store
        self.repo = repo
        self.host = host
        self.mrs = mrs
        self.backoff = backoff

    @contextmanager
    def lock(self, owner: str, stage_log: StageLog) -> Iterator[StoreLock]:
        """The apply lock; a live holder is waited for with backoff, then LockError names it."""
        lock = StoreLock(
            self.store, APPLY_LOCK_NAME, owner=owner, stale_after_s=self.settings.apply_lock_stale_s
        )

        def on_retry(attempt: int, exc: BaseException, delay: float) -> None:
            stage_log.note(f"waiting {delay:.1f} s for the apply lock: {exc}")

        with_retry(lock.acquire, what="apply lock", backoff=self.backoff, on_retry=on_retry)
        stage_log.note(f"apply lock {APPLY_LOCK_NAME} taken")
        try:
            yield lock
        finally:
            lock.release()

    def apply_mr(
        self,
        mr: MergeRequest,
        *,
        service: str,
        head: str,
        expected: PlanSummary,
        owner: str,
        stage_log: StageLog,
    ) -> Placement:
        """Merge ``mr`` (still at ``head``) into main, apply main, return ``service``'s applied placement.

        The plan on main must equal ``expected`` (the summary the gate judged). Any failure after the
        merge reverts main (and re-applies it when terraform had started applying), then re-raises.
        """
        with self.lock(owner, stage_log) as lock:
            self.repo.fetch()
            if self.repo.rev_parse(f"{REMOTE}/{mr.branch}") != head:
                raise PipelineError(
                    "the branch moved after the policy check; what was approved is not what would merge",
                    hint="run the pipeline again",
                    stage="apply",
                )
            before = self.repo.rev_parse(f"{REMOTE}/{MAIN}")
            self.host.merge(mr.id)
            self.repo.fetch()
            merged = self.repo.rev_parse(f"{REMOTE}/{MAIN}")
            stage_log.note(f"merged {mr.branch} into {MAIN}: {before[:10]} -> {merged[:10]}")
            try:
                return self._apply_main(service, stage_log, expected, lock)
            except SwenError as exc:
                self._undo_merge(mr, stage_log, before=before, merged=merged, cause=exc)
                raise

    def sync(self, stage_log: StageLog) -> tuple[dict[str, Placement], str]:
        """Apply main as it is; return every service's placement and a description of the changes."""
        with self.lock("sync of main", stage_log):
            self.repo.fetch()
            with self.repo.worktree(f"{REMOTE}/{MAIN}") as tree:
                plan = plan_tree(tree, self.settings, stage_log, name="sync", backoff=self.backoff)
                if plan.summary.has_changes:
                    placements = apply_planfile(
                        tree, self.settings, stage_log, plan.planfile, backoff=self.backoff
                    )
                else:
                    placements = read_applied_placements(self.settings, tree)
        return placements, describe_summary(plan.summary)

    def _apply_main(
        self, service: str, stage_log: StageLog, expected: PlanSummary, lock: StoreLock
    ) -> Placement:
        with self.repo.worktree(f"{REMOTE}/{MAIN}") as tree:
            plan = plan_tree(tree, self.settings, stage_log, name="apply", backoff=self.backoff)
            require_same_plan(
                expected,
                plan.summary,
                problem="the plan on main differs from the approved plan",
                labels=("approved", "main"),
                hint="main or the state changed; nothing was applied, run the pipeline again",
                stage="apply",
            )
            lock.ensure_held()
            placements = apply_planfile(tree, self.settings, stage_log, plan.planfile, backoff=self.backoff)
        placement = placements.get(service)
        if placement is None:
            raise PipelineError(f"terraform's placements output has no {service}", stage="apply")
        return placement

    def _undo_merge(
        self, mr: MergeRequest, stage_log: StageLog, *, before: str, merged: str, cause: SwenError
    ) -> None:
        """Put main back to what is applied and re-apply it if the failed apply changed anything."""
        if merged == before:
            return
        stage_log.note(f"apply failed; reverting {MAIN} to {before[:10]} so it matches the applied state")
        try:
            commit = revert_main_to(
                self.repo,
                good=before,
                bad=merged,
                message=f"Revert MR {mr.id} ({mr.branch}): apply failed\n\n{cause.message}\n",
                backoff=self.backoff,
            )
            stage_log.note(f"reverted {MAIN}: {commit[:10]}")
            self.mrs.update(mr.id, action="reverted", detail={"revert": commit, "error": cause.message})
            if not (isinstance(cause, TerraformError) and cause.stage == "apply"):
                return  # terraform never started applying: the state is untouched
            with self.repo.worktree(f"{REMOTE}/{MAIN}") as tree:
                restore = plan_tree(tree, self.settings, stage_log, name="restore", backoff=self.backoff)
                if restore.summary.has_changes:
                    stage_log.note("the failed apply changed resources; applying main to restore them")
                    apply_planfile(tree, self.settings, stage_log, restore.planfile, backoff=self.backoff)
        except SwenError as exc:  # the original failure stays the stage's error
            stage_log.note(f"could not restore {MAIN}/state automatically: {exc}")
            log.error("MR %s: restoring main after a failed apply failed: %s", mr.id, exc)
