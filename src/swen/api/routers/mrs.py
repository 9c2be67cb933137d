"""GET /mrs, GET /mrs/{mr_id}, GET /mrs/{mr_id}/review; POST /mrs/{mr_id}/approve and /reject (operator).

Approving or rejecting is recorded by ``swen.moves.reviews`` (shared with the CLI) on the merge-request
host (local store or GitLab) and the lifecycle: approve -> ``approved`` when the decision waits at the
policy gate, compare-and-set, so a second approval is a 409 that writes nothing; reject -> ``rejected``
and the waiting run ends. Approve answers 202: the engine process applies the move (never this
request), and the live feed reports it. A merge request that is not open is refused with 409.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Body, Path, Query

from swen.api.deps import OperatorDep, SettingsDep, StoreDep, ViewerDep, declares_role
from swen.api.problems import problem_responses
from swen.api.routers.telemetry import OffsetQuery, ServiceQuery
from swen.api.schemas import (
    CostLineOut,
    MergeRequestOut,
    MergeRequestPage,
    MergeRequestReviewOut,
    PipelineRunOut,
    PipelineStageOut,
    PlanBriefOut,
    PlanResourceOut,
    RejectIn,
    ReviewOut,
    next_offset,
)
from swen.domain.errors import ConflictError
from swen.domain.keys import Principal, Role
from swen.domain.merge_requests import MergeRequest, MRState
from swen.gitops.mr_hosts import make_host
from swen.moves import reviews
from swen.moves.review_brief import ReviewBrief, is_waiting_for_person, review_brief
from swen.store.mrs import MergeRequestRepository, PipelineRepository
from swen.store.reads import count_merge_requests
from swen.store.repository import Store

router = APIRouter(tags=["merge requests"])

MrIdPath = Annotated[int, Path(ge=1, le=2_147_483_647, description="Merge request id (SWEN's).")]
RejectBody = Annotated[RejectIn | None, Body(description="Why (kept in the audit log).")]
DEFAULT_REASON = "rejected through the API"


def mr_out(store: Store, mr: MergeRequest) -> MergeRequestOut:
    runs = PipelineRepository(store).list_runs(mr_id=mr.id, limit=20)
    return MergeRequestOut(
        id=mr.id, decision_id=mr.decision_id, service=mr.service, branch=mr.branch, host=mr.host,
        external_id=mr.external_id, web_url=mr.web_url, state=mr.state.value, title=mr.title,
        kind=mr.kind.value, review=mr.review, approved_by=mr.approved_by, created_at=mr.created_at,
        updated_at=mr.updated_at, waiting_for_person=is_waiting_for_person(mr, runs[0] if runs else None),
        pipelines=[
            PipelineRunOut(
                id=r.id, status=r.status.value, started_at=r.started_at, finished_at=r.finished_at,
                stages=[
                    PipelineStageOut(
                        name=s.name.value, status=s.status.value, started_at=s.started_at,
                        duration_s=s.duration_s,
                    )
                    for s in r.stages
                ],
            )
            for r in runs
        ],
    )  # fmt: skip


@router.get(
    "/mrs",
    response_model=MergeRequestPage,
    summary="Merge requests, newest first (role: viewer)",
    openapi_extra=declares_role(Role.VIEWER),
)
def list_mrs(
    store: StoreDep,
    _key: ViewerDep,
    service: ServiceQuery = None,
    state: Annotated[MRState | None, Query(description="opened, merged or closed.")] = None,
    limit: Annotated[int, Query(ge=1, le=200, description="Page size.")] = 50,
    offset: OffsetQuery = 0,
) -> MergeRequestPage:
    items = MergeRequestRepository(store).list(state=state, service=service, limit=limit, offset=offset)
    total = count_merge_requests(store, service=service, state=state.value if state else None)
    return MergeRequestPage(
        limit=limit, offset=offset, total=total,
        next_offset=next_offset(offset, limit, total),
        items=[mr_out(store, mr) for mr in items],
    )  # fmt: skip


@router.get(
    "/mrs/{mr_id}",
    response_model=MergeRequestOut,
    summary="One merge request (role: viewer)",
    openapi_extra=declares_role(Role.VIEWER),
)
def get_mr(store: StoreDep, _key: ViewerDep, mr_id: MrIdPath) -> MergeRequestOut:
    return mr_out(store, MergeRequestRepository(store).get(mr_id))


def review_out(brief: ReviewBrief) -> MergeRequestReviewOut:
    plan = brief.plan
    return MergeRequestReviewOut(
        mr_id=brief.mr_id, decision_id=brief.decision_id, service=brief.service, kind=brief.kind,
        state=brief.state, title=brief.title, waiting_for_person=brief.waiting_for_person,
        gate_outcome=brief.gate_outcome, gate_reasons=list(brief.gate_reasons), override=brief.override,
        cost=[
            CostLineOut(
                name=c.name, before_monthly_usd=c.before_monthly_usd, after_monthly_usd=c.after_monthly_usd,
                delta_monthly_usd=c.delta_monthly_usd,
            )
            for c in brief.cost
        ],
        tfvars_diff=brief.tfvars_diff, diff_note=brief.diff_note,
        plan=None if plan is None else PlanBriefOut(
            to_add=plan.to_add, to_change=plan.to_change, to_destroy=plan.to_destroy, summary=plan.line,
            stage=plan.stage,
            resources=[
                PlanResourceOut(address=r.address, action=r.action, stateful=r.stateful)
                for r in plan.resources
            ],
        ),
        plan_note=brief.plan_note,
    )  # fmt: skip


@router.get(
    "/mrs/{mr_id}/review",
    response_model=MergeRequestReviewOut,
    summary="What a reviewer needs: cost table, the gate's reasons, tfvars diff, plan (role: viewer)",
    openapi_extra=declares_role(Role.VIEWER),
    description=(
        "The cost table (monthly cost before and after, for the service and the fleet), why the "
        "policy gate wants a person, the unified diff of the change's commit in the infra repository "
        "and the plan summary (to add / change / destroy) of its latest pipeline run."
    ),
)
def get_mr_review(
    store: StoreDep, settings: SettingsDep, _key: ViewerDep, mr_id: MrIdPath
) -> MergeRequestReviewOut:
    return review_out(review_brief(settings, store, mr_id))


def _checked_open(store: Store, mr_id: int, action: str) -> MergeRequest:
    mr = MergeRequestRepository(store).get(mr_id)
    if not mr.is_open:
        raise ConflictError(
            f"merge request {mr_id} is {mr.state.value}; cannot {action} it",
            hint="only open merge requests can be approved or rejected",
        )
    return mr


def _actor(key: Principal) -> str:
    return f"{key.name} (api key {key.key_id})" if key.key_id is not None else key.name


def _review(store: Store, mr_id: int, act: Callable[[], MergeRequest]) -> ReviewOut:
    """Record a review (``act``); a conflict (a second approval, a closed MR) is a 409 and writes nothing."""
    mr = act()
    return ReviewOut(
        merge_request=mr_out(store, mr), decision_status=store.get_decision(mr.decision_id).status
    )


@router.post(
    "/mrs/{mr_id}/approve",
    response_model=ReviewOut,
    summary="Approve an open merge request (role: operator)",
    openapi_extra=declares_role(Role.OPERATOR),
    status_code=202,
    description=(
        "Records the approval once (a second approval gets 409 and changes nothing): a decision waiting "
        "at the policy gate becomes approved. The engine applies it (never this request); the live feed "
        "(`/ws`) reports the apply."
    ),
    responses=problem_responses(409),
)
def approve_mr(store: StoreDep, settings: SettingsDep, key: OperatorDep, mr_id: MrIdPath) -> ReviewOut:
    _checked_open(store, mr_id, "approve")
    host = make_host(settings, store)
    return _review(
        store,
        mr_id,
        lambda: reviews.approve(store, host, mr_id, by=_actor(key)),
    )


@router.post(
    "/mrs/{mr_id}/reject",
    response_model=ReviewOut,
    summary="Reject (close) an open merge request and its decision (role: operator)",
    openapi_extra=declares_role(Role.OPERATOR),
    responses=problem_responses(409),
)
def reject_mr(
    store: StoreDep, settings: SettingsDep, key: OperatorDep, mr_id: MrIdPath, body: RejectBody = None
) -> ReviewOut:
    _checked_open(store, mr_id, "reject")
    reason = body.reason if body is not None and body.reason and body.reason.strip() else DEFAULT_REASON
    host = make_host(settings, store)
    return _review(
        store,
        mr_id,
        lambda: reviews.reject(settings, store, host, mr_id, by=_actor(key), reason=reason),
    )
