"""Carries moves out: proposal, pipeline, approval, apply, withdrawal, rollback, and resuming.

:class:`MoveDriver` wires the GitOps committer and the pipeline runner to the lifecycle: the committer
and the runner report what they did (``ProposalEvents``, ``RunListener``) and the lifecycle records
it. The engine process owns the driver (``loop.EngineLoop``); the API and CLI only *record* reviews
(:meth:`MoveDriver.approve` writes the approval and returns), and the engine applies approved moves
(:meth:`MoveDriver.resume`), so an approval taken by any API process is applied once, in one place.

:meth:`MoveDriver.resume` is also the crash recovery: every move the platform still owes work for
(proposed, MR opened, pipeline running, approved) is carried on from where the store says it is,
after a restart or a crash of whichever process held it. A branch cut before another change was
merged is re-cut on the current main before its pipeline runs (``Committer.rebase``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Unpack

from swen.config import Settings
from swen.domain.decision import Decision, DecisionStatus
from swen.domain.errors import ConflictError, InvalidInputError, LockError, SwenError
from swen.domain.merge_requests import MergeRequest, MRKind, MRState, PipelineRun, RunStatus
from swen.domain.models import Placement
from swen.gitops.branch import BranchKind, branch_name
from swen.gitops.committer import Committer
from swen.gitops.layout import InfraLayout, fleet_services
from swen.moves import automation, choice, reviews
from swen.moves.lifecycle import Lifecycle
from swen.moves.queue import OWED_STATUSES, owed_decisions
from swen.moves.review_brief import fleet_monthly_costs
from swen.pipeline.events import OutcomeKind, PipelineOutcome
from swen.pipeline.lock import StoreLock
from swen.pipeline.runner import PipelineRunner, PipelineTools
from swen.store.mrs import MergeRequestRepository
from swen.store.repository import Store

log = logging.getLogger(__name__)
_S = DecisionStatus


class LifecycleListener:
    """The pipeline's :class:`~swen.pipeline.events.RunListener`: records each step with the lifecycle."""

    def __init__(self, lifecycle: Lifecycle) -> None:
        self.lifecycle = lifecycle

    def run_started(self, mr: MergeRequest, run: PipelineRun) -> None:
        if self.lifecycle.status(mr.decision_id) is _S.MR_OPENED:
            self.lifecycle.pipeline_started(mr.decision_id, mr_id=mr.id, run_id=run.id)

    def may_auto_apply(self) -> bool:
        return not automation.is_paused(self.lifecycle.store)

    def gate_decided(
        self, mr: MergeRequest, *, outcome: str, reasons: list[str], approved_by: str | None
    ) -> bool:
        status = self.lifecycle.gate_decided(
            mr.decision_id, outcome=outcome, mr_id=mr.id, reasons=reasons, approved_by=approved_by
        )
        return status is _S.APPROVED

    def applied(self, mr: MergeRequest, *, service: str, placement: Placement) -> None:
        if mr.kind is MRKind.ROLLBACK:
            self.lifecycle.rolled_back(mr.decision_id, service=service, placement=placement, mr_id=mr.id)
        else:
            self.lifecycle.applied(mr.decision_id, service=service, placement=placement, mr_id=mr.id)

    def failed(self, mr: MergeRequest, detail: dict[str, Any], *, denied: bool) -> None:
        if mr.kind is MRKind.ROLLBACK:
            return  # the rolled-back decision keeps its status; the failed run says why
        status = self.lifecycle.status(mr.decision_id)
        if denied and status is not _S.REJECTED:
            self.lifecycle.gate_decided(
                mr.decision_id, outcome="deny", mr_id=mr.id, reasons=[str(detail.get("error", ""))]
            )
        elif not denied and status is not _S.APPLIED:
            self.lifecycle.failed(mr.decision_id, detail)

    def synced(self, placements: dict[str, Placement]) -> None:
        known = self.lifecycle.store.get_placements()
        for service, placement in sorted(placements.items()):
            if known.get(service) != placement:
                self.lifecycle.synced(service, placement)


class _ProposalRecorder:
    """The committer's ``ProposalEvents``: the lifecycle, plus ending a superseded MR's waiting run."""

    def __init__(self, driver: MoveDriver) -> None:
        self.driver = driver
        self.lifecycle = driver.lifecycle

    def proposed(self, decision: Decision) -> None:
        self.lifecycle.proposed(decision)

    def opened(self, decision_id: str, mr: MergeRequest) -> None:
        self.lifecycle.opened(decision_id, mr)

    def commit_failed(self, decision_id: str, error: str) -> None:
        self.lifecycle.commit_failed(decision_id, error)

    def superseded(self, decision_id: str, *, by_decision: str, mr_id: int | None) -> None:
        self.lifecycle.superseded(decision_id, by_decision=by_decision, mr_id=mr_id)
        if mr_id is not None:
            mr = self.driver.mrs.get(mr_id)
            self.driver.runner.end_unfinished_run(mr, f"superseded by decision {by_decision}")


class _CarryFailed(SwenError):
    """A queued action's step failed (the driver's own error, already logged)."""


@dataclass(frozen=True)
class CarryOutcome:
    """What carrying one queued action did (``outcome``) and the MR it is on, if any."""

    outcome: str
    mr_id: int | None = None


@dataclass
class ResumeReport:
    """What :meth:`MoveDriver.resume` did this time."""

    outcomes: dict[str, str] = field(default_factory=dict)
    """decision id (or ``rollback:<mr id>``) -> what happened."""
    errors: list[str] = field(default_factory=list)


class MoveDriver:
    """Proposes, runs, reviews, applies, withdraws and rolls back moves (see the module docstring)."""

    def __init__(self, settings: Settings, store: Store, **tools: Unpack[PipelineTools]) -> None:
        self.settings = settings
        self.store = store
        self._tools = tools
        self.lifecycle = Lifecycle(store)
        self.mrs = MergeRequestRepository(store)
        self.runner = PipelineRunner(settings, store, listener=LifecycleListener(self.lifecycle), **tools)
        self.repo, self.host = self.runner.repo, self.runner.host
        self.committer = Committer(
            store,
            self.repo,
            self.host,
            events=_ProposalRecorder(self),
            terraform_bin=settings.terraform_bin,
            layout=InfraLayout.from_settings(settings),
            fleet=fleet_services(settings),
            fleet_costs=lambda: fleet_monthly_costs(store),
        )

    # --- the engine's side ---------------------------------------------------------------------
    def propose(self, decision: Decision) -> MergeRequest:
        """Open (or find) the MR of a MIGRATE decision and run its pipeline."""
        mr = self.committer.propose(decision)
        self.run(mr.id)
        return mr

    def run(self, mr_id: int) -> PipelineOutcome:
        """Run the whole pipeline of an open MR, its branch re-cut on main first if main moved."""
        mr = self.host.get(mr_id)
        if mr.is_open:
            self.committer.rebase(mr)
        return self.runner.run(mr_id)

    def withdraw(self, decision_id: str, reason: str) -> MergeRequest | None:
        """The engine no longer recommends a move still waiting for review: close its MR, end its
        waiting run, record the decision as withdrawn (SUPERSEDED). None when nothing was open."""
        mr = next((m for m in self.mrs.list(decision_id=decision_id) if m.is_open), None)
        if mr is None:
            return None
        self.lifecycle.withdrawn(decision_id, reason)
        mr = self.host.close(mr.id, reason)
        self.runner.end_unfinished_run(mr, f"withdrawn: {reason}")
        return mr

    def resume(self, *, acting: bool = True) -> ResumeReport:
        """Carry on every move the platform owes work for, from where the store says it is.

        ``acting`` False (automation paused): only moves a person chose (``swen place``, the API) or
        a person (or the gate, before the pause) already approved are carried on; a person's choice
        then waits for a person's approval at the gate. A proposed emergency is left to the engine
        loop, which acts on it once its loop guards admit it.
        """
        report = ResumeReport()
        for stored, status in owed_decisions(self.store, acting=acting):
            self._resume_one(stored.decision, status, report)
        for mr in self.mrs.list(state=MRState.OPENED, limit=1000):
            if mr.kind is MRKind.ROLLBACK and mr.approved_by:
                self._guarded(f"rollback:{mr.id}", report, lambda m=mr: self._apply_waiting(m).kind.value)
        return report

    # --- the action queue's workers (swen.moves.queue) ----------------------------------------------
    def fork(self) -> MoveDriver:
        """A driver of its own for one worker thread (GitPython objects are not shared across threads);
        git serialises the repository's own locks, the store's locks the rest."""
        return MoveDriver(self.settings, self.store, **self._tools)

    def carry(self, decision_id: str) -> CarryOutcome:
        """Carry one decision on from where the store says it is (a queued action): propose it and
        run its pipeline, run an open MR's pipeline, or apply an approved move. A decision no longer
        owed work (withdrawn, rejected, done meanwhile) is left as it is."""
        stored = self.store.get_decision(decision_id)
        if stored.status not in OWED_STATUSES:
            return CarryOutcome(f"nothing to do: {stored.status.value}")
        report = ResumeReport()
        self._resume_one(stored.decision, stored.status, report)
        if report.errors:
            raise _CarryFailed(report.errors[0])
        mr = self._mr_of(decision_id)
        return CarryOutcome(report.outcomes.get(decision_id, "nothing to do"), mr.id if mr else None)

    def carry_rollback(self, mr_id: int) -> CarryOutcome:
        """Apply an approved rollback MR (a queued action)."""
        mr = self.mrs.get(mr_id)
        if mr.kind is not MRKind.ROLLBACK or not mr.approved_by or not mr.is_open:
            return CarryOutcome("nothing to do: not an open approved rollback", mr.id)
        return CarryOutcome(self._apply_waiting(mr).kind.value, mr.id)

    def _resume_one(self, decision: Decision, status: DecisionStatus, report: ResumeReport) -> None:
        mr = self._mr_of(decision.id)
        if status is _S.PROPOSED or mr is None:
            step: Callable[[], str] = partial(self._propose_outcome, decision)
        elif status is _S.APPROVED:
            step = partial(self._apply_approved, decision, mr)
        elif mr.is_open:
            step = partial(self._run_outcome, mr.id)
        else:
            return
        if decision.chosen_by is not None and status is not _S.APPROVED:
            self._guarded(decision.id, report, lambda: self._with_choice_lock(decision.id, step))
        else:
            self._guarded(decision.id, report, step)

    def _choice_lock(self, decision_id: str) -> StoreLock:
        """Held by whoever carries a person's choice to the gate (``place`` in the CLI, or the
        engine's ``resume`` after the API recorded it), so the two never propose or run it at once."""
        return StoreLock(
            self.store,
            f"choice:{decision_id}",
            owner=f"choice {decision_id}",
            stale_after_s=self.settings.apply_lock_stale_s,
        )

    def _with_choice_lock(self, decision_id: str, step: Callable[[], str]) -> str:
        with self._choice_lock(decision_id):
            return step()

    def _run_outcome(self, mr_id: int) -> str:
        return self.run(mr_id).kind.value

    def _propose_outcome(self, decision: Decision) -> str:
        mr = self.committer.propose(decision)
        return self.run(mr.id).kind.value

    def _apply_approved(self, decision: Decision, mr: MergeRequest) -> str:
        if mr.state is MRState.MERGED:
            return self._finish_merged(decision, mr)
        if mr.state is MRState.CLOSED:
            self.lifecycle.failed(decision.id, {"mr_id": mr.id, "error": "its merge request was closed"})
            return "failed: merge request closed"
        return self._apply_waiting(mr).kind.value

    def _apply_waiting(self, mr: MergeRequest) -> PipelineOutcome:
        """Apply an approved MR: its run waiting for approval goes on; an interrupted one (or none)
        runs the whole pipeline again, on a branch re-cut on current main."""
        run = self.runner.runs.latest_run(mr.id)
        if run is not None and run.status is RunStatus.AWAITING_APPROVAL:
            return self.runner.apply_approved(mr.id)
        return self.run(mr.id)

    def _finish_merged(self, decision: Decision, mr: MergeRequest) -> str:
        """A crash between the merge and the apply: apply main as it is, then record what it placed."""
        placements = self.sync()
        if placements.get(decision.service) == decision.target:
            self.lifecycle.applied(
                decision.id, service=decision.service, placement=decision.target, mr_id=mr.id
            )
            return OutcomeKind.APPLIED.value
        self.lifecycle.failed(decision.id, {"mr_id": mr.id, "error": "main was applied without this move"})
        return OutcomeKind.FAILED.value

    def _guarded(self, key: str, report: ResumeReport, step: Any) -> None:
        try:
            report.outcomes[key] = step()
        except LockError as exc:  # another process is on it right now
            report.outcomes[key] = f"busy: {exc.message}"
        except SwenError as exc:
            report.errors.append(f"{key}: {exc}")
            log.error("resuming %s failed: %s", key, exc)

    def _mr_of(self, decision_id: str) -> MergeRequest | None:
        """The decision's migration MR (open first, else the newest)."""
        mrs = [m for m in self.mrs.list(decision_id=decision_id) if m.kind is not MRKind.ROLLBACK]
        return next((m for m in mrs if m.is_open), mrs[0] if mrs else None)

    # --- people's side (API, CLI, webhooks): record, the engine applies --------------------------
    def approve(self, mr_id: int, by: str) -> MergeRequest:
        """Record a person's approval once (a second one is a ConflictError); the engine applies it."""
        return reviews.approve(self.store, self.host, mr_id, by)

    def apply_now(self, mr_id: int) -> PipelineOutcome | None:
        """Carry an approved MR on in this process (``swen mr approve`` without a running engine).

        The per-MR and apply locks make this safe next to an engine doing the same."""
        mr = self.host.get(mr_id)
        if mr.kind is MRKind.ROLLBACK:
            return self.runner.apply_approved(mr.id) if mr.approved_by else None
        if self.lifecycle.status(mr.decision_id) is not _S.APPROVED:
            return None
        return self._apply_waiting(mr)

    def reject(self, mr_id: int, by: str, reason: str) -> MergeRequest:
        """Close an open MR on its host and reject its decision; end its waiting run."""
        return reviews.reject(self.settings, self.store, self.host, mr_id, by, reason)

    def merge(self, mr_id: int) -> MergeRequest:
        """Merge an MR whose change passed the gate (rollbacks: a person's call); no apply."""
        mr = self.host.get(mr_id)
        if mr.kind is not MRKind.ROLLBACK:
            status = self.lifecycle.status(mr.decision_id)
            if status is not _S.APPROVED:
                raise ConflictError(
                    f"decision {mr.decision_id} of MR {mr.id} is {status.value}, not approved",
                    hint="run the pipeline (policy gate) or approve the MR when it waits for approval",
                )
        return self.host.merge(mr_id)

    def place(self, decision: Decision) -> tuple[Decision, MergeRequest, PipelineOutcome]:
        """Carry a person's choice (``moves.choice.choose``) through the normal move: record it,
        open its MR (superseding an older open one of the service), run the pipeline. The gate judges
        it (see ``moves.choice``); while automation is paused it waits for a person in any case.
        Returns the decision as recorded (one second later when its branch name was taken)."""
        if decision.chosen_by is None:
            raise InvalidInputError(f"decision {decision.id} was not chosen by a person", hint="use propose")
        for _ in range(60):  # the branch name has a one-second resolution
            branch = branch_name(
                BranchKind.RECOMMENDATION, decision.service, decision.target.provider, decision.created_at
            )
            if self.host.find_by_branch(branch) is None:
                break
            decision = choice.later(decision)
        with self._choice_lock(decision.id):  # an engine's resume leaves it to this process
            self.lifecycle.proposed(decision)
            mr = self.committer.propose(decision)
            return decision, mr, self.run(mr.id)

    def rollback(self, decision_id: str) -> tuple[MergeRequest, PipelineOutcome]:
        """Open the rollback MR of ``decision_id`` and run its pipeline (judged as the reversed move;
        once applied the decision becomes ROLLED_BACK)."""
        mr = self.committer.propose_rollback(decision_id)
        return mr, self.run(mr.id)

    def sync(self) -> dict[str, Placement]:
        """Apply main as it is and record every placement that changed (``swen pipeline sync``)."""
        return self.runner.sync_state()
