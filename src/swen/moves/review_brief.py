"""What a person needs to judge a merge request (the API's review route, `swen mr show`, the dashboard).

One read model, assembled from what the platform already keeps:

- **why a person is needed**: the policy gate's outcome and reasons, stored with the MR's latest
  pipeline run (``policy_result``); a run that waits although the gate auto-approved waits because
  automation is paused;
- **the cost table** (Infracost style): the service's monthly cost before and after the change (from
  its decision; a rollback reverses it) and the fleet total before and after (every service where it
  runs now, ``running_services``, with this service's figure swapped);
- **the tfvars diff**: the unified diff of the commit the gate checked (``policy_result.head``, else
  the branch on origin) against its parent, read from the real infra repository;
- **the plan summary**: to add / change / destroy (Terraform's convention: a replace is one add and one
  destroy) and the changed resources, from the run's plan.

"Waiting for a person" means the same for every kind of MR (migration, emergency, rollback): the MR is
open, nobody has approved it yet and its latest run waits at the apply stage.
"""

from __future__ import annotations

import logging

from pydantic import BaseModel, ConfigDict

from swen.config import Settings
from swen.domain.errors import GitOpsError, NotFoundError, StoreError, SwenError
from swen.domain.merge_requests import (
    MergeRequest,
    MRKind,
    MRState,
    PipelineRun,
    RunStatus,
    StageName,
    StageStatus,
)
from swen.gitops.branch import validate_branch_name
from swen.gitops.mr_description import CostLine, cost_lines
from swen.gitops.repo import REMOTE, InfraRepo
from swen.moves.running import running_services
from swen.pipeline.events import PAUSED_REASON
from swen.pipeline.plan_summary import PlanSummary
from swen.pipeline.review_comment import PlanBrief, ResourceLine, brief_of
from swen.store.mrs import MergeRequestRepository, PipelineRepository
from swen.store.repository import Store

__all__ = [
    "CostLine",
    "PlanBrief",
    "ResourceLine",
    "ReviewBrief",
    "cost_table",
    "fleet_monthly_costs",
    "gate_reasons",
    "is_waiting_for_person",
    "plan_brief",
    "review_brief",
    "tfvars_diff",
    "waiting_mr_ids",
]

log = logging.getLogger(__name__)

MAX_DIFF_CHARS = 20_000


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True)


class ReviewBrief(_Frozen):
    mr_id: int
    decision_id: str
    service: str
    kind: str
    state: str
    title: str
    waiting_for_person: bool
    gate_outcome: str | None
    """auto_approve | manual_review | deny, or None before the policy stage ran."""
    gate_reasons: tuple[str, ...]
    override: bool
    cost: tuple[CostLine, ...]
    """The service's row, then the fleet total (absent without a priced fleet)."""
    tfvars_diff: str | None
    diff_note: str | None
    """Why there is no diff, or that it was cut."""
    plan: PlanBrief | None
    plan_note: str | None


def is_waiting_for_person(mr: MergeRequest, run: PipelineRun | None) -> bool:
    """Open, not approved yet, and its latest run waits at the apply stage (any kind of MR)."""
    return mr.is_open and not mr.approved_by and run is not None and run.status is RunStatus.AWAITING_APPROVAL


def waiting_mr_ids(store: Store) -> list[int]:
    """Ids of every open MR waiting for a person, oldest first."""
    repo, runs = MergeRequestRepository(store), PipelineRepository(store)
    out: list[int] = []
    offset = 0
    while True:
        page = repo.list(state=MRState.OPENED, limit=200, offset=offset)
        for mr in page:
            if not mr.approved_by and is_waiting_for_person(mr, runs.latest_run(mr.id)):
                out.append(mr.id)
        if len(page) < 200:
            return sorted(out)
        offset += 200


def gate_reasons(run: PipelineRun | None) -> tuple[str | None, tuple[str, ...], bool]:
    """(outcome, reasons, override) of the gate on this run; a wait while auto-approved is the pause."""
    policy = (run.policy_result if run is not None else None) or {}
    outcome = policy.get("outcome")
    reasons = tuple(str(r) for r in policy.get("reasons", []) if r)
    if run is not None and run.status is RunStatus.AWAITING_APPROVAL and outcome == "auto_approve":
        reasons = (*reasons, PAUSED_REASON)
    return (str(outcome) if outcome else None, reasons, bool(policy.get("override", False)))


def fleet_monthly_costs(store: Store) -> dict[str, float | None]:
    """Every fleet service's monthly cost where it runs now (``running_services``; None while its
    placement has no price): what the cost table's fleet total is made of. The committer takes it to
    write the fleet total into a merge request's description."""
    return {name: r.monthly_cost_usd for name, r in running_services(store).items()}


def cost_table(store: Store, mr: MergeRequest) -> tuple[CostLine, ...]:
    """The service's monthly cost before/after this MR's change, then the fleet's."""
    try:
        savings = store.get_decision(mr.decision_id).decision.savings
    except NotFoundError:
        return ()
    before, after = savings.current_monthly_usd, savings.target_monthly_usd
    if mr.kind is MRKind.ROLLBACK:
        before, after = after, before
    return cost_lines(mr.service, before, after, fleet_monthly_costs(store))


def plan_brief(run: PipelineRun | None) -> tuple[PlanBrief | None, str | None]:
    if run is None:
        return None, "no pipeline run yet"
    if not run.plan_summary:
        return None, "the pipeline has not planned this change yet"
    try:
        summary = PlanSummary.model_validate(run.plan_summary)
    except ValueError:
        return None, "the stored plan summary is not readable"
    planned = any(s.name is StageName.PLAN and s.status is StageStatus.SUCCESS for s in run.stages)
    return brief_of(summary, stage="plan" if planned else "policy"), None


def _commit_of(repo: InfraRepo, mr: MergeRequest, run: PipelineRun | None) -> str:
    head = (run.policy_result or {}).get("head") if run is not None else None
    if isinstance(head, str) and head:
        try:
            return repo.rev_parse(head)
        except GitOpsError:
            repo.fetch()
            return repo.rev_parse(head)
    validate_branch_name(mr.branch)
    try:
        return repo.rev_parse(f"refs/remotes/{REMOTE}/{mr.branch}")
    except GitOpsError:
        repo.fetch()
        return repo.rev_parse(f"refs/remotes/{REMOTE}/{mr.branch}")


def tfvars_diff(
    settings: Settings, mr: MergeRequest, run: PipelineRun | None
) -> tuple[str | None, str | None]:
    """(unified diff of the MR's commit against its parent, note) from the infra repository."""
    try:
        repo = InfraRepo.open(settings)
        commit = _commit_of(repo, mr, run)
        diff = repo.git("diff", "--no-color", "--no-ext-diff", f"{commit}^", commit, strip=False)
    except (GitOpsError, NotFoundError) as exc:
        return None, f"no diff: the branch's commit is not in the infra repository ({exc.message})"
    except SwenError as exc:  # an invalid stored branch name
        return None, f"no diff: {exc.message}"
    if not diff.strip():
        return None, "the change's commit changes no file"
    if len(diff) > MAX_DIFF_CHARS:
        return diff[:MAX_DIFF_CHARS], f"diff cut at {MAX_DIFF_CHARS:,} characters"
    return diff, None


def review_brief(settings: Settings, store: Store, mr_id: int) -> ReviewBrief:
    """Everything a reviewer needs about MR ``mr_id`` (NotFoundError for an unknown id)."""
    mr = MergeRequestRepository(store).get(mr_id)
    run = PipelineRepository(store).latest_run(mr.id)
    outcome, reasons, override = gate_reasons(run)
    try:
        cost = cost_table(store, mr)
    except StoreError as exc:
        log.warning("no cost table for MR %s: %s", mr_id, exc)
        cost = ()
    diff, diff_note = tfvars_diff(settings, mr, run)
    plan, plan_note = plan_brief(run)
    return ReviewBrief(
        mr_id=mr.id,
        decision_id=mr.decision_id,
        service=mr.service,
        kind=mr.kind.value,
        state=mr.state.value,
        title=mr.title,
        waiting_for_person=is_waiting_for_person(mr, run),
        gate_outcome=outcome,
        gate_reasons=reasons,
        override=override,
        cost=cost,
        tfvars_diff=diff,
        diff_note=diff_note,
        plan=plan,
        plan_note=plan_note,
    )
