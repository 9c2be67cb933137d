"""The pipeline runner: validate -> policy -> plan -> apply -> notify for one merge request.

Each stage reads what it needs from the store (the MR, the decision, the run's policy result and plan
summary), so the same code runs the whole pipeline in one process (``swen pipeline run MR``) or one
stage per process (``swen pipeline stage NAME --mr MR`` from GitLab CI). See docs/PIPELINE.md.

* validate: ``terraform fmt -check`` and ``validate`` in a clean worktree of the MR branch.
* policy: a speculative plan of the branch against the real state, summarised, plus the decision,
  through the Rego gate -> auto_approve | manual_review | deny (deny rejects the decision).
* plan: the plan again; its summary must equal the one the policy saw ("plan changed since the policy
  check" otherwise). Manual review stops the run here: AWAITING_APPROVAL until ``swen mr approve``.
* apply: under the apply lock, merge the MR into main and push, plan + apply from a clean worktree of
  main (the plan must still match), read ``terraform output -json`` and record the placement. A
  failure reverts main to what is applied and marks the decision FAILED.
* notify: an event and, when configured, the message to each apprise target. A target that fails is
  logged; it never fails the run.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypedDict, Unpack

from pydantic import ValidationError

from swen.config import Settings
from swen.domain.decision import (
    ENDED_WITHOUT_APPLY_STATUSES,
    OPEN_STATUSES,
    ROLLBACK_FROM_STATUSES,
    Decision,
    DecisionStatus,
)
from swen.domain.errors import ConflictError, PipelineError, PolicyError, SwenError
from swen.domain.events import EventType
from swen.domain.merge_requests import MergeRequest, MRKind, PipelineRun, RunStatus, StageName, StageStatus
from swen.domain.models import Placement
from swen.gitops.mr_hosts import MergeRequestHost, make_host
from swen.gitops.repo import REMOTE, InfraRepo
from swen.pipeline.apply import MainApplier
from swen.pipeline.events import PAUSED_REASON, OutcomeKind, PipelineOutcome, RunListener
from swen.pipeline.lock import StoreLock
from swen.pipeline.notify import Notification, Notifier
from swen.pipeline.plan_summary import PlanSummary
from swen.pipeline.policy import PolicyGate, PolicyInput, cost_delta_pct
from swen.pipeline.retry import DEFAULT_BACKOFF, Backoff
from swen.pipeline.review_comment import GateVerdict, post_review_comment
from swen.pipeline.run_end import STAGE_ORDER, end_unfinished_run, mr_lock
from swen.pipeline.stages import (
    StageLog,
    plan_tree,
    require_same_plan,
    state_path,
    validate_tree,
)
from swen.store.mrs import MergeRequestRepository, PipelineRepository
from swen.store.records import StoredDecision
from swen.store.repository import Store

log = logging.getLogger(__name__)

_S = DecisionStatus
_FINISHED = frozenset({RunStatus.SUCCESS, RunStatus.FAILED})


class PolicyDenied(PipelineError):
    """The gate said deny: the decision is rejected, the MR closed."""


class StageFailed(PipelineError):
    """A stage failed; the run stopped (``cause`` is the tool's error)."""

    def __init__(self, stage: StageName, cause: SwenError) -> None:
        super().__init__(f"stage {stage.value} failed: {cause}", stage=stage.value)
        self.cause = cause


@dataclass
class _Ctx:
    """What a stage works on, read fresh from the store."""

    mr: MergeRequest
    stored: StoredDecision
    run: PipelineRun

    @property
    def decision(self) -> Decision:
        return self.stored.decision

    @property
    def is_rollback(self) -> bool:
        return self.mr.kind is MRKind.ROLLBACK

    @property
    def policy(self) -> dict[str, Any]:
        return self.run.policy_result or {}


def _now() -> datetime:
    return datetime.now(UTC)


def policy_decision(decision: Decision, *, rollback: bool) -> Decision:
    """The decision the gate judges: for a rollback, the reversed move with the reversed cost delta."""
    if not rollback:
        return decision
    savings = decision.savings
    reversed_delta = cost_delta_pct(savings.target_monthly_usd, savings.current_monthly_usd)
    return decision.model_copy(
        update={
            "current": decision.target,
            "target": decision.current,
            "emergency": False,
            "savings": savings.model_copy(update={"cost_delta_pct": reversed_delta}),
        }
    )


class PipelineTools(TypedDict, total=False):
    """What a pipeline works with besides the settings and the store; each one left out (or None) is
    made from the settings: the infra repository, its merge-request host, the policy gate (loaded on
    first use), the notifier and the back-off of retried terraform and git steps."""

    repo: InfraRepo | None
    host: MergeRequestHost | None
    gate: PolicyGate | None
    notifier: Notifier | None
    backoff: Backoff


class PipelineRunner:
    """Runs the five stages for merge requests of the infra repository."""

    def __init__(
        self, settings: Settings, store: Store, *, listener: RunListener, **tools: Unpack[PipelineTools]
    ) -> None:
        self.settings = settings
        self.store = store
        self.listener = listener
        self.repo = tools.get("repo") or InfraRepo.open(settings)
        self.host = tools.get("host") or make_host(settings, store, self.repo)
        self.mrs = MergeRequestRepository(store)
        self.runs = PipelineRepository(store)
        self._gate = tools.get("gate")
        self.notifier = tools.get("notifier") or Notifier(store, settings.notification_urls)
        self.backoff = tools.get("backoff", DEFAULT_BACKOFF)
        self.applier = MainApplier(settings, store, self.repo, self.host, self.mrs, self.backoff)

    @property
    def gate(self) -> PolicyGate:
        if self._gate is None:
            self._gate = PolicyGate()
        return self._gate

    # --- public API ------------------------------------------------------------------------------
    def run(self, mr_id: int) -> PipelineOutcome:
        """Run every stage; stops early on failure, denial or when a person must approve."""
        with self._mr_lock(mr_id):
            run = self._start(mr_id)
            return self._outcome(self._continue(run.id, STAGE_ORDER[1:]))

    def run_stage(self, mr_id: int, stage: StageName | str) -> PipelineOutcome:
        """Run one stage (GitLab CI runs one job per stage). ``validate`` starts a new run."""
        stage = StageName(stage)
        with self._mr_lock(mr_id):
            if stage is StageName.VALIDATE:
                return self._outcome(self._start(mr_id))
            latest = self.runs.latest_run(mr_id)
            if stage is StageName.NOTIFY and latest is not None and latest.status is RunStatus.FAILED:
                return self._outcome(latest)  # its failure was notified when it happened
            run = self._current_run(mr_id)
            if stage is StageName.APPLY and run.status is RunStatus.AWAITING_APPROVAL:
                self._resume_approved(run)
            return self._outcome(self._continue(run.id, (stage,), last=stage is StageName.NOTIFY))

    def apply_approved(self, mr_id: int) -> PipelineOutcome:
        """Continue a run that stopped for a person, now that the approval is recorded: apply, notify.

        The engine calls this (``moves.driver``); the approval itself was recorded by the lifecycle.
        """
        with self._mr_lock(mr_id):
            run = self.runs.latest_run(mr_id)
            if run is None or run.status is not RunStatus.AWAITING_APPROVAL:
                state = "no run" if run is None else f"run {run.id} is {run.status.value}"
                raise ConflictError(
                    f"merge request {mr_id} is not waiting for approval ({state})",
                    hint=f"`swen pipeline run {mr_id}` runs the pipeline",
                )
            self._resume_approved(run)
            return self._outcome(self._continue(run.id, (StageName.APPLY, StageName.NOTIFY)))

    def _resume_approved(self, run: PipelineRun) -> None:
        mr = self.host.get(run.mr_id)
        if mr.kind is MRKind.ROLLBACK:  # a rollback's decision was applied already: the MR is the approval
            approved = mr.approved_by is not None
        else:  # approved through the lifecycle, or on the host (GitLab's manual job) and recorded now
            approved = self._decision_status(mr) is _S.APPROVED or (
                mr.approved_by is not None
                and self.listener.gate_decided(
                    mr, outcome="manual_review", reasons=[], approved_by=mr.approved_by
                )
            )
        if not approved:
            raise ConflictError(
                f"merge request {mr.id} is waiting for a person's approval",
                hint=f"run `swen mr approve {mr.id}`",
            )
        self.runs.set_status(run.id, RunStatus.RUNNING)

    def _decision_status(self, mr: MergeRequest) -> DecisionStatus:
        return self.store.get_decision(mr.decision_id).status

    def end_unfinished_run(self, mr: MergeRequest, note: str) -> PipelineRun | None:
        return end_unfinished_run(self.settings, self.store, mr, note)

    def sync_state(self) -> dict[str, Placement]:
        """Apply ``main`` as it is (under the apply lock); every service's placement from its outputs,
        reported to the listener (which records the ones that changed).

        Run once after ``swen init`` so the state holds the current placements; afterwards it is a
        no-op unless someone changed main or the state behind SWEN's back.
        """
        placements, changes = self.applier.sync(StageLog())
        self.listener.synced(placements)
        self.store.append_event(
            EventType.PIPELINE, {"action": "sync", "changes": changes, "services": len(placements)}
        )
        return placements

    def show(self, mr_id: int) -> PipelineRun | None:
        """The newest run of ``mr_id`` with its stages (None before the first run)."""
        self.host.get(mr_id)
        return self.runs.latest_run(mr_id)

    # --- run bookkeeping -------------------------------------------------------------------------
    def _outcome(self, run: PipelineRun) -> PipelineOutcome:
        if run.status is RunStatus.SUCCESS:
            return PipelineOutcome(OutcomeKind.APPLIED, run)
        if run.status is RunStatus.FAILED:
            denied = (run.policy_result or {}).get("outcome") == "deny"
            return PipelineOutcome(OutcomeKind.DENIED if denied else OutcomeKind.FAILED, run)
        return PipelineOutcome(OutcomeKind.WAITING, run)

    def _mr_lock(self, mr_id: int) -> StoreLock:
        return mr_lock(self.settings, self.store, mr_id)

    def _ctx(self, run_id: int) -> _Ctx:
        run = self.runs.get_run(run_id)
        mr = self.host.get(run.mr_id)
        return _Ctx(mr=mr, stored=self.store.get_decision(mr.decision_id), run=run)

    def _current_run(self, mr_id: int) -> PipelineRun:
        run = self.runs.latest_run(mr_id)
        if run is None or run.status in _FINISHED:
            raise ConflictError(
                f"merge request {mr_id} has no pipeline run in progress",
                hint=f"start one with `swen pipeline stage validate --mr {mr_id}`",
            )
        return run

    def _start(self, mr_id: int) -> PipelineRun:
        """Check the MR and decision can run, open a run and do the validate stage."""
        mr = self.host.get(mr_id)
        if not mr.is_open:
            raise ConflictError(
                f"merge request {mr_id} is {mr.state.value}", hint="only open merge requests run the pipeline"
            )
        stored = self.store.get_decision(mr.decision_id)
        self._check_startable(mr, stored)
        if not state_path(self.settings).exists():
            # Never applied here: bootstrap the state from main first, or the first MR's plan would
            # create every service and no gate could judge it.
            self.sync_state()
        previous = self.runs.latest_run(mr_id)
        if previous is not None and previous.status not in _FINISHED:
            # We hold the MR lock, so no live process runs it: it was interrupted (RUNNING) or is
            # replaced by this fresh evaluation (AWAITING_APPROVAL, e.g. after a new push).
            action = "run_interrupted" if previous.status is RunStatus.RUNNING else "run_superseded"
            self.runs.finish_run(previous.id, RunStatus.FAILED)
            self.store.append_event(
                EventType.PIPELINE,
                {"action": action, "run_id": previous.id, "mr_id": mr_id},
                service=mr.service,
                decision_id=mr.decision_id,
            )
        run = self.runs.start_run(mr_id)
        if mr.kind is not MRKind.ROLLBACK:
            self.listener.run_started(mr, run)
        return self._continue(run.id, (StageName.VALIDATE,), last=False)

    @staticmethod
    def _check_startable(mr: MergeRequest, stored: StoredDecision) -> None:
        if mr.kind is MRKind.ROLLBACK:
            if stored.status not in ROLLBACK_FROM_STATUSES:
                raise ConflictError(
                    f"decision {stored.decision.id} is {stored.status.value}; it cannot be rolled back"
                )
            return
        if stored.status not in OPEN_STATUSES - {_S.PROPOSED}:
            raise ConflictError(
                f"decision {stored.decision.id} is {stored.status.value}; the pipeline runs decisions "
                "whose merge request is open",
                hint="the engine proposes a new decision when the move is still worth it",
            )

    def _continue(self, run_id: int, stages: tuple[StageName, ...], *, last: bool = True) -> PipelineRun:
        """Run ``stages`` in order; stop on failure or when the run waits for approval."""
        actions: dict[StageName, Callable[[_Ctx, StageLog], None]] = {
            StageName.VALIDATE: self._validate,
            StageName.POLICY: self._policy,
            StageName.PLAN: self._plan,
            StageName.APPLY: self._apply,
            StageName.NOTIFY: self._notify,
        }
        for stage in stages:
            ctx = self._ctx(run_id)
            if ctx.run.status is not RunStatus.RUNNING:
                break
            try:
                self._stage(ctx, stage, actions[stage])
            except StageFailed as failure:
                return self._fail(run_id, failure)
        run = self.runs.get_run(run_id)
        done = {s.name for s in run.stages if s.status is StageStatus.SUCCESS}
        if last and run.status is RunStatus.RUNNING and StageName.NOTIFY in done:
            run = self.runs.finish_run(run_id, RunStatus.SUCCESS)
        return run

    def _stage(self, ctx: _Ctx, stage: StageName, action: Callable[[_Ctx, StageLog], None]) -> None:
        started = _now()
        self.runs.record_stage(ctx.run.id, stage, StageStatus.RUNNING, started_at=started)
        stage_log = StageLog()
        t0 = time.perf_counter()
        try:
            try:
                action(ctx, stage_log)
            except SwenError:
                raise
            except Exception as exc:  # a bug or an untranslated library error: still a failed stage
                log.exception("stage %s of run %s crashed", stage.value, ctx.run.id)
                raise PipelineError(
                    f"unexpected {type(exc).__name__}: {exc}", hint="see the SWEN log", stage=stage.value
                ) from exc
        except SwenError as exc:
            stage_log.failure(exc)
            self.runs.record_stage(
                ctx.run.id, stage, StageStatus.FAILED, duration_s=time.perf_counter() - t0, log=stage_log.text
            )
            raise StageFailed(stage, exc) from exc
        self.runs.record_stage(
            ctx.run.id, stage, StageStatus.SUCCESS, duration_s=time.perf_counter() - t0, log=stage_log.text
        )

    def _fail(self, run_id: int, failure: StageFailed) -> PipelineRun:
        ctx = self._ctx(run_id)
        failed_at = STAGE_ORDER.index(StageName(failure.stage or "validate"))
        for stage in STAGE_ORDER[failed_at + 1 :]:
            self.runs.record_stage(run_id, stage, StageStatus.SKIPPED, log=f"skipped: {failure.stage} failed")
        cause = failure.cause
        denied = isinstance(cause, PolicyDenied)
        detail = {"mr_id": ctx.mr.id, "run_id": run_id, "stage": failure.stage, "error": cause.message}
        self.listener.failed(ctx.mr, detail, denied=denied)
        if ctx.mr.is_open and (denied or self._decision_status(ctx.mr) in ENDED_WITHOUT_APPLY_STATUSES):
            # a failed change holds its MR no longer: the engine proposes afresh when still worth it
            why = "denied by policy" if denied else f"stage {failure.stage} failed"
            try:
                self.host.close(ctx.mr.id, f"{why}: {cause.message}"[:2000])
            except SwenError as exc:  # the run still ends; the MR can be closed by hand
                log.warning("could not close MR %s after its run failed: %s", ctx.mr.id, exc)
        self.store.append_event(
            EventType.PIPELINE,
            {"action": "run_failed", **detail, "hint": cause.hint},
            service=ctx.mr.service,
            decision_id=ctx.decision.id,
        )
        run = self.runs.finish_run(run_id, RunStatus.FAILED)
        if failure.stage != StageName.NOTIFY.value:
            self._notify_quietly(self._note(ctx, "failed", f"stage {failure.stage} failed: {cause.message}"))
        return run

    # --- stages ----------------------------------------------------------------------------------
    def _validate(self, ctx: _Ctx, stage_log: StageLog) -> None:
        with self._branch_tree(ctx, stage_log) as (tree, _head):
            validate_tree(tree, self.settings, stage_log)

    def _policy(self, ctx: _Ctx, stage_log: StageLog) -> None:
        with self._branch_tree(ctx, stage_log) as (tree, head):
            plan = plan_tree(tree, self.settings, stage_log, name="policy", backoff=self.backoff)
        decision = policy_decision(ctx.decision, rollback=ctx.is_rollback)
        try:
            policy_input = PolicyInput.from_decision(decision, plan.summary)
        except ValidationError as exc:  # pydantic: the decision does not fit the gate's input
            raise PolicyError(f"cannot build the policy input: {exc}", stage="policy") from None
        result = self.gate.evaluate(policy_input)
        stage_log.note(f"policy: {result.outcome}" + "".join(f"\n  - {r}" for r in result.reasons))
        policy_record = {
            **result.to_dict(),
            "head": head,
            "policy_sha256": self.gate.sha256,
            "input": policy_input.to_rego_input(),
        }
        self.runs.save_results(
            ctx.run.id, plan_summary=plan.summary.model_dump(mode="json"), policy_result=policy_record
        )
        self.mrs.update(ctx.mr.id, action="reviewed", review=result.outcome, detail=result.to_dict())
        if result.outcome == "deny":
            verdict = GateVerdict(result.outcome, result.reasons, result.override)
            self._review_comment(ctx, stage_log, plan.summary, verdict, stage="policy")
            raise PolicyDenied("the policy denied the change: " + "; ".join(result.reasons), stage="policy")

    def _plan(self, ctx: _Ctx, stage_log: StageLog) -> None:
        expected = self._policy_summary(ctx)
        with self._branch_tree(ctx, stage_log) as (tree, head):
            if head != ctx.policy.get("head"):
                raise PipelineError(
                    f"the branch moved since the policy check "
                    f"({str(ctx.policy.get('head'))[:10]} -> {head[:10]})",
                    hint="run the pipeline again so the policy sees the new commit",
                    stage="plan",
                )
            plan = plan_tree(tree, self.settings, stage_log, name="plan", backoff=self.backoff)
        require_same_plan(
            expected,
            plan.summary,
            problem="plan changed since the policy check",
            labels=("policy saw", "now"),
            hint="the state or main changed meanwhile; run the pipeline again",
            stage="plan",
        )
        artifact = self._artifact_dir(ctx) / "plan.json"
        artifact.write_text(json.dumps(plan.show_json, indent=1, sort_keys=True), encoding="utf-8")
        stage_log.note(f"plan JSON kept at {artifact}")
        self._gate_after_plan(ctx, stage_log)

    def _gate_after_plan(self, ctx: _Ctx, stage_log: StageLog) -> None:
        outcome = str(ctx.policy.get("outcome"))
        reasons = list(ctx.policy.get("reasons", []))
        if outcome == "auto_approve" and not self.listener.may_auto_apply():
            outcome, reasons = "manual_review", [PAUSED_REASON]  # a person applies while paused
            stage_log.note(PAUSED_REASON)
        if ctx.is_rollback:
            go = outcome == "auto_approve" or bool(ctx.mr.approved_by)
        else:
            go = self.listener.gate_decided(
                ctx.mr, outcome=outcome, reasons=reasons, approved_by=ctx.mr.approved_by
            )
        approved_by = ctx.mr.approved_by if go and outcome != "auto_approve" else None
        verdict = GateVerdict(outcome, tuple(reasons), bool(ctx.policy.get("override")), approved_by)
        self._review_comment(ctx, stage_log, self._policy_summary(ctx), verdict)
        if go:
            by = "the policy gate" if outcome == "auto_approve" else (ctx.mr.approved_by or "a person")
            stage_log.note(f"approved by {by}")
            return
        stage_log.note(f"manual review required: `swen mr approve {ctx.mr.id}` continues with apply")
        self.runs.set_status(ctx.run.id, RunStatus.AWAITING_APPROVAL)
        self.runs.record_stage(ctx.run.id, StageName.APPLY, StageStatus.WAITING, log="waiting for approval")
        self._notify_quietly(self._note(ctx, "awaiting_approval", "needs a person: " + "; ".join(reasons)))

    def _apply(self, ctx: _Ctx, stage_log: StageLog) -> None:
        placement = self.applier.apply_mr(
            ctx.mr,
            service=ctx.decision.service,
            head=str(ctx.policy.get("head")),
            expected=self._policy_summary(ctx),
            owner=f"apply of MR {ctx.mr.id} (run {ctx.run.id})",
            stage_log=stage_log,
        )
        wanted = ctx.decision.current if ctx.is_rollback else ctx.decision.target
        if placement != wanted:
            raise PipelineError(
                f"terraform placed {ctx.decision.service} at {placement.key}, expected {wanted.key}",
                hint="check the infra repository's terraform.tfvars on main, then `swen pipeline sync`",
                stage="apply",
            )
        self.listener.applied(ctx.mr, service=ctx.decision.service, placement=placement)
        stage_log.note(f"applied: {ctx.decision.service} runs at {placement.key}")

    def _notify(self, ctx: _Ctx, stage_log: StageLog) -> None:
        placements = self.store.get_placements()
        where = placements.get(ctx.decision.service)
        verb = "rolled back" if ctx.is_rollback else "moved"
        text = f"{ctx.decision.service} {verb} to {where.key if where else '?'}"
        result = self.notifier.notify(self._note(ctx, "rolled_back" if ctx.is_rollback else "success", text))
        sent = f"; sent to {', '.join(result.sent)}" if result.sent else ""
        failed = f"; NOT delivered to {', '.join(result.failed)} (logged)" if result.failed else ""
        none = "" if sent or failed else "; no notification target configured"
        stage_log.note(f"event {result.event_id} recorded{sent}{failed}{none}")

    # --- helpers ---------------------------------------------------------------------------------
    def _note(self, ctx: _Ctx, status: str, text: str) -> Notification:
        d = ctx.decision
        source, target = (d.target, d.current) if ctx.is_rollback else (d.current, d.target)
        return Notification(
            title=f"SWEN MR {ctx.mr.id}: {ctx.mr.title}"[:150],
            text=text,
            status=status,
            fields={
                "service": d.service,
                "move": f"{source.key} -> {target.key}",
                "decision": d.id,
                "policy": str(ctx.policy.get("outcome", "-")),
                "cost delta": f"{d.savings.cost_delta_pct:+.1f} %",
                "confidence": f"{d.confidence.value:.2f}",
            },
            service=d.service,
            decision_id=d.id,
            link=ctx.mr.web_url,
        )

    def _review_comment(
        self,
        ctx: _Ctx,
        stage_log: StageLog,
        summary: PlanSummary,
        verdict: GateVerdict,
        *,
        stage: str = "plan",
    ) -> None:
        """The plan and the gate's verdict as a comment on the MR, when they changed since the last one
        (``pipeline/review_comment.py``); never fails the stage."""
        stage_log.note(post_review_comment(self.host, ctx.mr, ctx.decision, summary, verdict, stage=stage))

    def _notify_quietly(self, note: Notification) -> None:
        try:
            self.notifier.notify(note)
        except SwenError as exc:
            log.warning("notification failed: %s", exc)

    def _policy_summary(self, ctx: _Ctx) -> PlanSummary:
        if not ctx.run.plan_summary or not ctx.policy:
            raise PipelineError(
                "this run has no policy result yet", hint="run the policy stage first", stage="plan"
            )
        return PlanSummary.model_validate(ctx.run.plan_summary)

    def _artifact_dir(self, ctx: _Ctx) -> Path:
        path = (self.settings.home / "pipeline" / "runs" / str(ctx.run.id)).resolve()
        path.mkdir(parents=True, exist_ok=True)
        return path

    @contextmanager
    def _branch_tree(self, ctx: _Ctx, stage_log: StageLog) -> Iterator[tuple[Path, str]]:
        """A clean worktree of ``origin/<branch>`` (fetched first) and its commit, removed afterwards."""
        self.repo.fetch()
        head = self.repo.rev_parse(f"{REMOTE}/{ctx.mr.branch}")
        with self.repo.worktree(head) as tree:
            stage_log.note(f"worktree of {ctx.mr.branch} at {head[:10]}")
            yield tree, head
