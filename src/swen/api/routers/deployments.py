"""POST /deployments: GitLab webhook (merge request and pipeline events) -> decision lifecycle.

Authenticated by ``X-Gitlab-Token`` (constant-time compare with SWEN_GITLAB_WEBHOOK_SECRET). Hooks
for branches SWEN did not open are acknowledged and ignored (GitLab sends every project event).

Merge request actions: ``open``/``reopen`` -> ``mr_opened`` (from proposed); ``approved`` ->
``approved`` (when awaiting approval); ``merge`` -> MR merged and ``approved`` if not yet;
``close`` -> MR closed and ``rejected``. Pipeline status: ``pending``/``running`` ->
``pipeline_running``; ``success`` -> ``awaiting_approval`` while the MR is open, ``applied`` once the
decision was approved (the pipeline on the merged change applied it); ``failed``/``canceled`` ->
``failed``. A step the lifecycle does not allow from the current status is skipped, not an error.

Hooks act only on merge requests SWEN opened on GitLab (``host == "gitlab"``): a hook naming the
branch of a local MR (``SWEN_MR_HOST=local``) is acknowledged and ignored, since nothing was merged or
applied on GitLab. Every status change goes through the lifecycle (``swen.moves``).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body

from swen.api.deps import GitlabWebhookDep, StoreDep, declares_role
from swen.api.schemas import GitlabHook, MergeRequestHook, PipelineHook, WebhookOut
from swen.domain.decision import ALLOWED_TRANSITIONS, DecisionStatus
from swen.domain.events import EventType
from swen.domain.merge_requests import MergeRequest, MRState
from swen.moves.lifecycle import Lifecycle
from swen.store.mrs import MergeRequestRepository
from swen.store.repository import Store

router = APIRouter(tags=["webhooks"])

_S = DecisionStatus
_MR_ACTIONS: dict[str, tuple[MRState | None, tuple[tuple[DecisionStatus, DecisionStatus], ...]]] = {
    "open": (None, ((_S.PROPOSED, _S.MR_OPENED),)),
    "reopen": (MRState.OPENED, ((_S.PROPOSED, _S.MR_OPENED),)),
    "approved": (None, ((_S.AWAITING_APPROVAL, _S.APPROVED),)),
    "merge": (MRState.MERGED, ((_S.AWAITING_APPROVAL, _S.APPROVED), (_S.PIPELINE_RUNNING, _S.APPROVED))),
    "close": (MRState.CLOSED, tuple((s, _S.REJECTED) for s in _S if _S.REJECTED in ALLOWED_TRANSITIONS[s])),
}
_PIPELINE_STEPS: dict[str, tuple[tuple[DecisionStatus, DecisionStatus], ...]] = {
    "pending": ((_S.MR_OPENED, _S.PIPELINE_RUNNING),),
    "running": ((_S.MR_OPENED, _S.PIPELINE_RUNNING),),
    "success": ((_S.PIPELINE_RUNNING, _S.AWAITING_APPROVAL), (_S.APPROVED, _S.APPLIED)),
    "failed": tuple((s, _S.FAILED) for s in _S if _S.FAILED in ALLOWED_TRANSITIONS[s]),
    "canceled": tuple((s, _S.FAILED) for s in _S if _S.FAILED in ALLOWED_TRANSITIONS[s]),
}


GITLAB_HOST = "gitlab"


def _step(
    store: Store,
    mr: MergeRequest,
    steps: tuple[tuple[DecisionStatus, DecisionStatus], ...],
    detail: dict[str, Any],
) -> DecisionStatus:
    lifecycle = Lifecycle(store)
    current = lifecycle.status(mr.decision_id)
    for old, new in steps:
        if current is old:
            lifecycle.reported_by_host(mr.decision_id, old, new, detail)
            return new
    return current


def _own(mr: MergeRequest | None) -> WebhookOut | None:
    """An answer for a hook that is not about a GitLab MR of SWEN's (None: act on it)."""
    if mr is None:
        return WebhookOut(accepted=False, action="ignored: no SWEN merge request for this branch")
    if mr.host != GITLAB_HOST:
        return WebhookOut(
            accepted=False,
            action=f"ignored: merge request {mr.id} is on the {mr.host} host, not GitLab",
            decision_id=mr.decision_id,
        )
    return None


def _on_merge_request(store: Store, hook: MergeRequestHook) -> WebhookOut:
    attrs = hook.object_attributes
    repo = MergeRequestRepository(store)
    mr = repo.get_by_branch(attrs.source_branch)
    if (ignored := _own(mr)) is not None or mr is None:
        return ignored or WebhookOut(accepted=False, action="ignored")
    action = attrs.action or ""
    if action not in _MR_ACTIONS:
        return WebhookOut(accepted=False, action=f"ignored: action {action!r}", decision_id=mr.decision_id)
    new_state, steps = _MR_ACTIONS[action]
    by = hook.user.username if hook.user else "gitlab"
    detail = {"source": "gitlab", "action": action, "by": by, "iid": attrs.iid}
    if new_state is not None and mr.state is not new_state:
        repo.update(mr.id, action=f"gitlab_{action}", state=new_state, detail=detail)
    elif action == "approved":
        repo.update(mr.id, action="gitlab_approved", approved_by=by[:128], detail=detail)
    status = _step(store, mr, steps, detail)
    return WebhookOut(
        accepted=True, action=f"merge request {action}", decision_id=mr.decision_id, status=status
    )


def _on_pipeline(store: Store, hook: PipelineHook) -> WebhookOut:
    attrs = hook.object_attributes
    branch = hook.merge_request.source_branch if hook.merge_request else attrs.ref
    mr = MergeRequestRepository(store).get_by_branch(branch)
    if (ignored := _own(mr)) is not None or mr is None:
        return ignored or WebhookOut(accepted=False, action="ignored")
    payload = {
        "source": "gitlab", "action": "gitlab_pipeline", "mr_id": mr.id, "branch": mr.branch,
        "gitlab_pipeline_id": attrs.id, "status": attrs.status, "duration_s": attrs.duration,
    }  # fmt: skip
    store.append_event(EventType.PIPELINE, payload, service=mr.service, decision_id=mr.decision_id)
    steps = _PIPELINE_STEPS.get(attrs.status, ())
    status = _step(store, mr, steps, {"source": "gitlab", "pipeline_id": attrs.id, "status": attrs.status})
    return WebhookOut(
        accepted=True, action=f"pipeline {attrs.status}", decision_id=mr.decision_id, status=status
    )


@router.post(
    "/deployments",
    response_model=WebhookOut,
    summary="GitLab webhook: merge request and pipeline events (auth: X-Gitlab-Token)",
    openapi_extra=declares_role("gitlab-webhook-token"),
)
def gitlab_webhook(
    store: StoreDep,
    _gitlab: GitlabWebhookDep,
    hook: Annotated[GitlabHook, Body(description="A GitLab Merge Request Hook or Pipeline Hook payload.")],
) -> WebhookOut:
    if isinstance(hook, MergeRequestHook):
        return _on_merge_request(store, hook)
    return _on_pipeline(store, hook)
