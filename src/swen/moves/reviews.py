"""A person's review of a merge request, recorded by the lifecycle (the API, the CLI, webhooks).

Recording needs only the store and the MR host: an API replica records an approval and answers at
once; the engine, which owns the apply (``moves.driver``), carries the approved move out. Approval is
compare-and-set: of two racing approvals of one MR exactly one is recorded, the other gets a
ConflictError (HTTP 409) and writes nothing.
"""

from __future__ import annotations

import logging

from swen.config import Settings
from swen.domain.decision import DecisionStatus
from swen.domain.errors import ConflictError, SwenError
from swen.domain.merge_requests import MergeRequest, MRKind
from swen.gitops.mr_hosts import MergeRequestHost, validate_actor, validate_reason
from swen.moves.lifecycle import Lifecycle
from swen.pipeline.notify import Notification, Notifier
from swen.pipeline.run_end import end_unfinished_run
from swen.store.repository import Store

log = logging.getLogger(__name__)


def approve(store: Store, host: MergeRequestHost, mr_id: int, by: str) -> MergeRequest:
    """Record a person's approval of an open MR once; the engine applies it."""
    by = validate_actor(by)
    mr = Lifecycle(store).approve_review(host.get(mr_id), by=by)
    try:
        host.approve_remote(mr)
    except SwenError as exc:  # recorded here; the host can be told by hand
        log.warning("approval of MR %s recorded, but the host was not told: %s", mr_id, exc)
    return mr


def reject(
    settings: Settings, store: Store, host: MergeRequestHost, mr_id: int, by: str, reason: str
) -> MergeRequest:
    """Close an open MR on its host, reject its decision, end its waiting run, tell people."""
    by, reason = validate_actor(by), validate_reason(reason)
    lifecycle = Lifecycle(store)
    current = host.get(mr_id)
    if (
        current.kind is not MRKind.ROLLBACK
        and lifecycle.status(current.decision_id) is DecisionStatus.APPROVED
    ):
        raise ConflictError(
            f"merge request {mr_id} is already approved and about to be applied",
            hint=f"roll it back once applied: `swen rollback {current.decision_id}`",
        )
    mr = host.reject(mr_id, by, reason)
    if mr.kind is not MRKind.ROLLBACK:
        lifecycle.rejected(mr.decision_id, by=by, reason=reason, mr_id=mr.id)
    end_unfinished_run(settings, store, mr, f"rejected by {by}")
    note = Notification(
        title=f"SWEN MR {mr.id} rejected",
        text=f"{by} rejected {mr.title}: {reason}",
        status="rejected",
        fields={"merge request": str(mr.id), "service": mr.service, "decision": mr.decision_id},
        service=mr.service,
        decision_id=mr.decision_id,
        link=mr.web_url,
    )
    try:
        Notifier(store, settings.notification_urls).notify(note)
    except SwenError as exc:
        log.warning("notification failed: %s", exc)
    return mr
