"""Approve or reject a merge request and move its decision along (shared by the CLI and the API).

``approve``: records the approval on the host; if the decision is waiting at the policy gate
(AWAITING_APPROVAL) it becomes APPROVED; an approval given earlier (MR_OPENED or PIPELINE_RUNNING) is
kept on the MR (``approved_by``) for the pipeline's policy stage to honour. Then every registered
approval hook runs: this is where the pipeline continues (apply, notify). The pipeline layer
registers its continuation with ``on_approved(hook)``; until one is registered, approving only records.

``reject``: closes the MR on the host, moves the decision to REJECTED when that is allowed, then runs
the rejection hooks (``on_rejected``; the pipeline ends a run that was waiting for approval there).
Rollback MRs never change their decision here (their decision was already applied).

Hooks may raise: the approval or rejection is already recorded when they run, and the error reaches
the caller (CLI/API) as is. Approval hooks run for every approval, also an early one given before
the pipeline reached the gate; a hook must check whether its run is actually waiting.
"""

from __future__ import annotations

from collections.abc import Callable

from swen.domain.decision import ALLOWED_TRANSITIONS, DecisionStatus
from swen.domain.errors import ConflictError
from swen.gitops.mr_hosts import MergeRequest, MergeRequestHost, MRKind
from swen.store.repository import Store

ApprovalHook = Callable[[MergeRequest], None]
RejectionHook = Callable[[MergeRequest, str, str], None]
"""Called with (mr, by, reason) after a rejection, e.g. to end a pipeline run waiting for approval."""
_APPROVAL_HOOKS: list[ApprovalHook] = []
_REJECTION_HOOKS: list[RejectionHook] = []


def on_approved(hook: ApprovalHook) -> ApprovalHook:
    """Register ``hook`` to run after every approval (usable as a decorator); idempotent."""
    if hook not in _APPROVAL_HOOKS:
        _APPROVAL_HOOKS.append(hook)
    return hook


def on_rejected(hook: RejectionHook) -> RejectionHook:
    """Register ``hook`` to run after every rejection (usable as a decorator); idempotent."""
    if hook not in _REJECTION_HOOKS:
        _REJECTION_HOOKS.append(hook)
    return hook


def clear_approval_hooks() -> None:
    """Forget every registered approval and rejection hook (tests)."""
    _APPROVAL_HOOKS.clear()
    _REJECTION_HOOKS.clear()


def approve(store: Store, host: MergeRequestHost, mr_id: int, by: str) -> MergeRequest:
    mr = host.approve(mr_id, by)
    if mr.kind is not MRKind.ROLLBACK:
        status = store.get_decision(mr.decision_id).status
        if status is DecisionStatus.AWAITING_APPROVAL:
            store.transition(
                mr.decision_id, DecisionStatus.APPROVED, detail={"by": mr.approved_by, "mr_id": mr.id}
            )
    for hook in list(_APPROVAL_HOOKS):
        hook(mr)
    return mr


def reject(store: Store, host: MergeRequestHost, mr_id: int, by: str, reason: str) -> MergeRequest:
    mr = host.reject(mr_id, by, reason)
    if mr.kind is not MRKind.ROLLBACK:
        status = store.get_decision(mr.decision_id).status
        if DecisionStatus.REJECTED in ALLOWED_TRANSITIONS[status]:
            detail = {"by": by.strip(), "reason": reason.strip(), "mr_id": mr.id}
            store.transition(mr.decision_id, DecisionStatus.REJECTED, detail=detail)
    for hook in list(_REJECTION_HOOKS):
        hook(mr, by.strip(), reason.strip())
    return mr


def merge(store: Store, host: MergeRequestHost, mr_id: int) -> MergeRequest:
    """Merge an MR whose change passed the gate: its decision must be APPROVED (rollbacks: a person's call).

    Merging puts the change on main of the infra remote; applying it is the pipeline's job.
    """
    mr = host.get(mr_id)
    if mr.kind is not MRKind.ROLLBACK:
        status = store.get_decision(mr.decision_id).status
        if status is not DecisionStatus.APPROVED:
            raise ConflictError(
                f"decision {mr.decision_id} of MR {mr.id} is {status.value}, not approved",
                hint="run the pipeline (policy gate) or approve the MR when it waits for approval",
            )
    return host.merge(mr_id)
