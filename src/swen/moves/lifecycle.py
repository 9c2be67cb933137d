"""The lifecycle of a move: the only code that changes a decision's status or a service's placement.

Each method is named after the event it records and makes one compare-and-set transition
(``Store.transition(..., expected=...)``): a second process trying the same step gets a ConflictError
and writes nothing. Each transition keeps its detail on the decision's row, so readers (healing, the
CLI) ask :meth:`Lifecycle.detail` instead of scanning the audit log.

proposed -> opened -> pipeline_started -> gate_decided (approved | awaiting a person | denied)
-> approved (by a person) -> applied -> verified; failed, superseded, withdrawn, rejected and
rolled_back end it early or late. See docs/ARCHITECTURE.md ("The move").

Times of placements are on the platform clock (:func:`platform_now`: the newest telemetry time), so
the engine's cooldown and verification compare like with like under an accelerated simulator.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from swen.domain.decision import (
    ALLOWED_TRANSITIONS,
    OPEN_STATUSES,
    ROLLBACK_FROM_STATUSES,
    Decision,
    DecisionStatus,
)
from swen.domain.errors import ConflictError, NotFoundError
from swen.domain.merge_requests import MergeRequest, MRKind
from swen.domain.models import Placement
from swen.store.mrs import MergeRequestRepository
from swen.store.records import PlacementWrite, StoredDecision
from swen.store.repository import Store

_S = DecisionStatus


def platform_now(store: Store) -> datetime:
    """The platform clock: the newest telemetry timestamp (simulated time under the simulator), or
    wall time before the first sample."""
    return store.newest_sample_time() or datetime.now(UTC)


class Lifecycle:
    """Records the events of moves in the store (one instance per store; cheap to build)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    # --- reading -------------------------------------------------------------------------------
    def status(self, decision_id: str) -> DecisionStatus:
        return self.store.get_decision(decision_id).status

    def detail(self, decision_id: str, status: DecisionStatus) -> dict[str, Any]:
        """What was recorded when ``decision_id`` entered ``status`` ({} if it never did)."""
        return self.store.transition_detail(decision_id, status)

    def open_moves(self, *, service: str | None = None, limit: int = 1000) -> list[StoredDecision]:
        """Moves on their way (proposed .. approved), newest first."""
        out: list[StoredDecision] = []
        for status in sorted(OPEN_STATUSES):
            out.extend(self.store.list_decisions(status=status, service=service, limit=limit))
        return sorted(out, key=lambda s: s.decision.created_at, reverse=True)

    # --- proposing -----------------------------------------------------------------------------
    def proposed(self, decision: Decision) -> None:
        """A recommendation the platform will carry out (saving the same decision again is a no-op)."""
        self.store.save_decision(decision)

    def proposed_all(self, decisions: Sequence[Decision]) -> None:
        """:meth:`proposed` for a cycle's recommendations (batched transactions, an event each)."""
        self.store.save_decisions(decisions)

    def opened(self, decision_id: str, mr: MergeRequest) -> None:
        detail = {"mr_id": mr.id, "branch": mr.branch, "web_url": mr.web_url, "host": mr.host}
        self._step(decision_id, _S.MR_OPENED, {_S.PROPOSED}, detail)

    def commit_failed(self, decision_id: str, error: str) -> None:
        """The change could not be committed (the remote refused, tfvars lacks the service, ...)."""
        self._step(decision_id, _S.FAILED, {_S.PROPOSED}, {"stage": "commit", "error": error})

    def superseded(self, decision_id: str, *, by_decision: str, mr_id: int | None) -> None:
        """A newer decision for the same service replaces this one (its MR is closed next)."""
        self._step(decision_id, _S.SUPERSEDED, OPEN_STATUSES, {"by_decision": by_decision, "mr_id": mr_id})

    def withdrawn(self, decision_id: str, reason: str) -> None:
        """The engine no longer recommends a move that waits for a person."""
        self._step(decision_id, _S.SUPERSEDED, OPEN_STATUSES, {"reason": reason})

    # --- the pipeline --------------------------------------------------------------------------
    def pipeline_started(self, decision_id: str, *, mr_id: int, run_id: int) -> None:
        self._step(decision_id, _S.PIPELINE_RUNNING, {_S.MR_OPENED}, {"mr_id": mr_id, "run_id": run_id})

    def gate_decided(
        self,
        decision_id: str,
        *,
        outcome: str,
        mr_id: int,
        reasons: list[str],
        approved_by: str | None = None,
    ) -> DecisionStatus:
        """The policy gate's verdict: ``auto_approve`` -> approved by the policy; ``manual_review`` ->
        waiting for a person, or approved at once when a person approved the MR before the gate ran
        (``approved_by``); ``deny`` -> rejected by the policy. Idempotent for a re-run after a crash."""
        current = self.status(decision_id)
        if outcome == "deny":
            if _S.REJECTED in _allowed(current):
                detail = {"mr_id": mr_id, "by": "policy", "reasons": reasons}
                self._step(decision_id, _S.REJECTED, {current}, detail)
            return self.status(decision_id)
        if current is _S.APPROVED:
            return current
        if outcome == "auto_approve":
            self._step(decision_id, _S.APPROVED, {_S.PIPELINE_RUNNING, _S.AWAITING_APPROVAL},
                       {"by": "policy", "mr_id": mr_id, "reasons": reasons})  # fmt: skip
            return _S.APPROVED
        if current is not _S.AWAITING_APPROVAL:
            self._step(decision_id, _S.AWAITING_APPROVAL, {_S.PIPELINE_RUNNING},
                       {"mr_id": mr_id, "reasons": reasons})  # fmt: skip
        if approved_by:
            self.approved(decision_id, by=approved_by, mr_id=mr_id)
            return _S.APPROVED
        return _S.AWAITING_APPROVAL

    def approved(self, decision_id: str, *, by: str, mr_id: int) -> None:
        """An approval given before the gate ran, honoured once the gate asked for a person."""
        self._step(decision_id, _S.APPROVED, {_S.AWAITING_APPROVAL}, {"by": by, "mr_id": mr_id})

    def rejected(self, decision_id: str, *, by: str, reason: str, mr_id: int) -> None:
        """A person (or GitLab's "close") rejected an open move."""
        self._step(decision_id, _S.REJECTED, OPEN_STATUSES - {_S.APPROVED},
                   {"by": by, "reason": reason, "mr_id": mr_id})  # fmt: skip

    def applied(self, decision_id: str, *, service: str, placement: Placement, mr_id: int) -> None:
        """Terraform applied the move: the placement and the status change commit together."""
        self._step(
            decision_id,
            _S.APPLIED,
            {_S.APPROVED},
            {"mr_id": mr_id, "placement": placement.key},
            PlacementWrite(service, placement, decision_id, platform_now(self.store)),
        )

    def rolled_back(self, decision_id: str, *, service: str, placement: Placement, mr_id: int) -> None:
        """A rollback MR put the placement from before the decision back."""
        self._step(
            decision_id,
            _S.ROLLED_BACK,
            ROLLBACK_FROM_STATUSES,
            {"mr_id": mr_id, "placement": placement.key},
            PlacementWrite(service, placement, decision_id, platform_now(self.store)),
        )

    def failed(self, decision_id: str, detail: dict[str, Any]) -> bool:
        """The move failed (a pipeline stage, or unhealthy after the move). False when the decision
        had already ended (nothing recorded)."""
        current = self.status(decision_id)
        if _S.FAILED not in _allowed(current):
            return False
        self._step(decision_id, _S.FAILED, {current}, detail)
        return True

    def verified(self, decision_id: str, detail: dict[str, Any]) -> None:
        """Telemetry from the new placement is healthy: the move is done."""
        self._step(decision_id, _S.VERIFIED, {_S.APPLIED}, detail)

    def reported_by_host(
        self, decision_id: str, old: DecisionStatus, new: DecisionStatus, detail: dict[str, Any]
    ) -> None:
        """A step the MR host reported (GitLab webhooks: merged, pipeline success, ...), taken only
        from ``old`` (compare-and-set)."""
        self._step(decision_id, new, {old}, detail)

    # --- placements without a status change --------------------------------------------------
    def first_seen(self, service: str, placement: Placement, *, at: datetime) -> None:
        """A service the store has no placement for starts where its fleet file says it runs."""
        self.store.record_placement(service, placement, decision_id=None, at=at)

    def first_seen_all(self, placements: dict[str, Placement], *, at: datetime) -> None:
        """:meth:`first_seen` for many services at once (batched transactions, an event each)."""
        writes = [PlacementWrite(name, where, None, at) for name, where in placements.items()]
        self.store.record_placements(writes)

    def synced(self, service: str, placement: Placement) -> None:
        """``main`` applied as it is says ``service`` runs at ``placement`` (``swen pipeline sync``)."""
        self.store.record_placement(service, placement, decision_id=None, at=platform_now(self.store))

    # --- merge requests ------------------------------------------------------------------------
    def approve_review(self, mr: MergeRequest, *, by: str) -> MergeRequest:
        """Record a person's approval of ``mr``, atomically and once (the API and CLI call this).

        A migration MR waiting at the gate moves its decision to APPROVED (compare-and-set: of two
        racing approvals one gets a ConflictError and writes nothing); an approval given before the
        gate ran is kept on the MR for the gate to honour. The apply itself runs in the engine
        (``moves.driver``), never in the caller's request.
        """
        return MergeRequestRepository(self.store).record_approval(
            mr.id, by=by, decision_id=None if mr.kind is MRKind.ROLLBACK else mr.decision_id
        )

    # --- internals -----------------------------------------------------------------------------
    def _step(
        self,
        decision_id: str,
        new: DecisionStatus,
        expected: frozenset[DecisionStatus] | set[DecisionStatus],
        detail: dict[str, Any],
        placement: PlacementWrite | None = None,
    ) -> None:
        try:
            self.store.transition(decision_id, new, expected=expected, detail=detail, placement=placement)
        except NotFoundError:
            raise
        except ConflictError:
            if self.status(decision_id) is new and placement is None:
                return  # already recorded (a re-run after a crash): nothing to do
            raise


def _allowed(status: DecisionStatus) -> frozenset[DecisionStatus]:
    return ALLOWED_TRANSITIONS[status]
