"""Decision -> branch -> commit -> push -> merge request, idempotent and crash-safe.

``Committer.propose(decision)``:

1. validates every name (service, providers, regions, instance type) before anything is written;
2. derives the branch from the decision (kind, service, target provider, ``decision.created_at``), so a
   repeated call for the same decision always means the same branch;
3. if the host already has an MR for that branch, returns it (and finishes the PROPOSED -> MR_OPENED
   transition if a crash interrupted it);
4. checks that every other open MR of the service can be superseded (else ConflictError, nothing
   changed);
5. edits only that service's entry of the placement map (``terraform.tfvars``, or the file and
   variable the settings name) on ``origin/main`` - adding the entry when the service is in the fleet
   but not yet in the map - commits on the branch and pushes - unless the branch is already on the
   remote (a crash between push and MR);
6. supersedes the older MRs (decision -> SUPERSEDED first, then the MR is closed, so a crash in between
   is finished by the next call), opens the MR and moves the decision to MR_OPENED.

A commit stage that cannot succeed - a push the remote refuses, a service missing from
terraform.tfvars, a tfvars that already has the target, unparseable HCL - moves the decision to FAILED
with the tool's message and opens no MR. Transient git errors are retried inside ``InfraRepo`` and, if
they persist, leave the decision PROPOSED for a later attempt. A ConflictError raised before anything
was written (an older MR that cannot be superseded) also leaves it PROPOSED.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol

from swen.domain.decision import (
    ALLOWED_TRANSITIONS,
    ROLLBACK_FROM_STATUSES,
    Decision,
    DecisionAction,
    DecisionStatus,
)
from swen.domain.errors import ConflictError, GitOpsError, InvalidInputError, NotFoundError, StoreError
from swen.domain.merge_requests import MergeRequest, MRKind, MRState
from swen.domain.models import Placement, Service
from swen.domain.names import validate_location_name, validate_service_name
from swen.gitops import markdown as md
from swen.gitops.branch import BranchKind, branch_name
from swen.gitops.layout import InfraLayout
from swen.gitops.mr_description import change_economics, mr_description
from swen.gitops.mr_hosts import MergeRequestHost
from swen.gitops.repo import MAIN, REMOTE, InfraRepo
from swen.gitops.tfvars import PlacementEntry, edit_placement, read_placements, validate_instance_type
from swen.store.repository import Store

__all__ = [
    "Committer",
    "ProposalEvents",
    "change_title",
    "commit_message",
    "instance_type_for",
    "mr_description",
    "validate_decision_names",
]

log = logging.getLogger(__name__)
_S = DecisionStatus
_PROPOSE_LOCK = threading.RLock()
"""One proposal at a time per process (the loop and the API may share a process)."""


def _validate_placement(placement: Placement, what: str) -> None:
    validate_location_name(placement.provider, f"{what} provider")
    validate_location_name(placement.region, f"{what} region")


def validate_decision_names(decision: Decision) -> None:
    """Every externally supplied name of ``decision`` (it may have been built without validation)."""
    validate_service_name(decision.service)
    _validate_placement(decision.current, "current")
    _validate_placement(decision.target, "target")


def instance_type_for(decision: Decision, placement: Placement) -> str | None:
    """The instance type the ranking chose for ``placement`` (validated), or None if unranked."""
    for score in decision.ranking:
        if score.placement == placement:
            return validate_instance_type(score.instance_type)
    return None


def change_title(decision: Decision, *, kind: MRKind, source: Placement, target: Placement) -> str:
    """``swen: move service-2 aws/us-east-1 -> alibaba/ap-southeast-1`` (also the MR title)."""
    verb = {MRKind.MIGRATION: "move", MRKind.EMERGENCY: "emergency move", MRKind.ROLLBACK: "roll back"}[kind]
    return f"swen: {verb} {decision.service} {source.key} -> {target.key}"


def commit_message(decision: Decision, *, kind: MRKind, source: Placement, target: Placement) -> str:
    """Title, explanation, then git trailers (parseable with ``git interpret-trailers --parse``)."""
    _before, _after, net, delta = change_economics(decision, kind)
    trailers = [
        f"Decision-Id: {decision.id}",
        f"Kind: {kind.value}",
        f"Service: {decision.service}",
        f"From: {source.key}",
        f"To: {target.key}",
        f"Savings-Monthly-USD: {net:.2f}",
        f"Cost-Delta-Pct: {delta:.2f}",
        f"Confidence: {decision.confidence.value:.3f}",
    ]
    explanation = _printable(decision.explanation) or "(no explanation given)"
    if kind is MRKind.ROLLBACK:
        explanation = (
            f"Puts {decision.service} back where it ran before decision {decision.id}.\n\n"
            f"The decision said: {explanation}"
        )
    title = change_title(decision, kind=kind, source=source, target=target)
    return f"{title}\n\n{explanation}\n\n" + "\n".join(trailers) + "\n"


def _printable(text: str) -> str:
    """Explanation text without control characters (kept multi-line)."""
    lines = ["".join(ch for ch in line if ch.isprintable()) for line in text.strip().splitlines()]
    return "\n".join(lines).strip()


@dataclass(frozen=True)
class _BranchEdit:
    """The change a proposal's branch carries: ``decision.service`` goes from ``source`` to
    ``target`` (on ``instance_type``), as a merge request of ``kind``."""

    branch: str
    decision: Decision
    source: Placement
    target: Placement
    instance_type: str | None
    kind: MRKind


class ProposalEvents(Protocol):
    """Records what a proposal did to the move (``swen.moves.lifecycle.Lifecycle``)."""

    def proposed(self, decision: Decision) -> None: ...

    def opened(self, decision_id: str, mr: MergeRequest) -> None: ...

    def commit_failed(self, decision_id: str, error: str) -> None: ...

    def superseded(self, decision_id: str, *, by_decision: str, mr_id: int | None) -> None: ...


class Committer:
    """Turns decisions into merge requests on ``host`` via the infra repository ``repo``."""

    def __init__(
        self,
        store: Store,
        repo: InfraRepo,
        host: MergeRequestHost,
        *,
        events: ProposalEvents,
        terraform_bin: str = "terraform",
        layout: InfraLayout | None = None,
        fleet: Callable[[], Mapping[str, Service]] | None = None,
        fleet_costs: Callable[[], Mapping[str, float | None]] | None = None,
    ):
        self.store = store
        self.repo = repo
        self.host = host
        self.events = events
        self.terraform_bin = terraform_bin
        self.layout = layout or InfraLayout()
        self._fleet = fleet
        """The fleet's services by name: a service with no entry in the placement map gets one (from
        its fleet description) on its first move. None: such a service is a NotFoundError."""
        self._fleet_costs = fleet_costs
        """Every fleet service's monthly cost where it runs now (None while unpriced;
        ``swen.moves.review_brief.fleet_monthly_costs``), for the description's fleet total. None: the
        description shows the service's cost only."""

    # --- recommendations and emergencies --------------------------------------------------------
    def propose(self, decision: Decision) -> MergeRequest:
        """Open (or find) the merge request for ``decision``; see the module docstring."""
        with _PROPOSE_LOCK:
            return self._propose(decision)

    def _propose(self, decision: Decision) -> MergeRequest:
        validate_decision_names(decision)
        if decision.action is not DecisionAction.MIGRATE or decision.current == decision.target:
            raise InvalidInputError(
                f"decision {decision.id} does not move {decision.service}",
                hint="only migrate decisions are proposed",
            )
        instance_type = instance_type_for(decision, decision.target)
        kind = MRKind.EMERGENCY if decision.emergency else MRKind.MIGRATION
        branch_kind = BranchKind.EMERGENCY if decision.emergency else BranchKind.RECOMMENDATION
        branch = branch_name(
            branch_kind,
            decision.service,
            decision.target.provider,
            decision.created_at,
            prefix=self.layout.branch_prefix,
        )
        status = self._stored_status(decision)

        existing = self._existing(branch, decision.id)
        if existing is not None:
            if status is _S.PROPOSED and existing.is_open:
                self._mark_opened(decision.id, existing)
            return existing
        if status is not _S.PROPOSED:
            raise ConflictError(
                f"decision {decision.id} is {status.value}; only proposed decisions get a merge request"
            )
        older = self._supersedable(decision.service, branch)
        edit = _BranchEdit(branch, decision, decision.current, decision.target, instance_type, kind)
        try:
            self._ensure_branch(edit)
        except (GitOpsError, ConflictError, NotFoundError, InvalidInputError) as exc:
            if not getattr(exc, "transient", False):
                self.events.commit_failed(decision.id, exc.message)
            raise
        self._supersede(older, by=decision.id)
        mr = self._open(edit)
        self._mark_opened(decision.id, mr)
        return mr

    # --- rollback -------------------------------------------------------------------------------
    def propose_rollback(self, decision_id: str) -> MergeRequest:
        """Open an MR (kind rollback) that puts the placement from before ``decision_id`` back.

        Only for applied, verified or failed decisions whose target is what main has now. The
        decision's status is not changed here: the pipeline marks it ROLLED_BACK once applied.
        """
        with _PROPOSE_LOCK:
            return self._propose_rollback(decision_id)

    def _propose_rollback(self, decision_id: str) -> MergeRequest:
        stored = self.store.get_decision(decision_id)
        decision = stored.decision
        validate_decision_names(decision)
        if stored.status not in ROLLBACK_FROM_STATUSES:
            raise ConflictError(
                f"decision {decision_id} is {stored.status.value}; only applied, verified or failed "
                "decisions can be rolled back"
            )
        branch = branch_name(
            BranchKind.ROLLBACK,
            decision.service,
            decision.current.provider,
            decision.created_at,
            prefix=self.layout.branch_prefix,
        )
        existing = self._existing(branch, decision.id)
        if existing is not None:
            return existing
        self.repo.fetch()
        if branch not in self.repo.remote_branches():
            entries = self._main_entries()
            if decision.service not in entries:
                raise NotFoundError(
                    f"service {decision.service!r} has no entry in {self.layout.placements_file} on main"
                )
            entry = entries[decision.service]
            now = Placement(provider=entry.provider, region=entry.region)
            if now != decision.target:
                raise ConflictError(
                    f"{decision.service} is at {now.key} on main, not at {decision.target.key}",
                    hint="nothing to roll back" if now == decision.current else "a later change moved it",
                )
        older = self._supersedable(decision.service, branch)
        instance_type = instance_type_for(decision, decision.current)
        edit = _BranchEdit(
            branch, decision, decision.target, decision.current, instance_type, MRKind.ROLLBACK
        )
        self._ensure_branch(edit)
        self._supersede(older, by=decision.id)
        return self._open(edit)

    # --- keeping a branch current ----------------------------------------------------------------
    def rebase(self, mr: MergeRequest) -> bool:
        """Re-cut ``mr``'s branch on the current main if main moved since it was cut.

        Another change merged meanwhile would otherwise show in this branch's plan as a revert of
        that change (the gate denies it: ``deletes_beyond_move``). The same one-entry edit is made on
        top of main and pushed in place of the old branch (refused if someone pushed to it since).
        True when the branch was re-cut.
        """
        with _PROPOSE_LOCK:
            self.repo.fetch()
            head = self.repo.rev_parse(f"{REMOTE}/{mr.branch}")
            if self.repo.is_ancestor(f"{REMOTE}/{MAIN}", head):
                return False
            decision = self.store.get_decision(mr.decision_id).decision
            rollback = mr.kind is MRKind.ROLLBACK
            source, target = (
                (decision.target, decision.current) if rollback else (decision.current, decision.target)
            )
            self._commit_edit(
                _BranchEdit(mr.branch, decision, source, target, instance_type_for(decision, target), mr.kind)
            )
            self.repo.push_branch(mr.branch, replacing=head)
            return True

    # --- steps ----------------------------------------------------------------------------------
    def _stored_status(self, decision: Decision) -> DecisionStatus:
        try:
            return self.store.get_decision(decision.id).status
        except NotFoundError:
            self.events.proposed(decision)
            return _S.PROPOSED

    def _existing(self, branch: str, decision_id: str) -> MergeRequest | None:
        mr = self.host.find_by_branch(branch)
        if mr is not None and mr.decision_id != decision_id:
            raise ConflictError(
                f"branch {branch} already belongs to decision {mr.decision_id}",
                hint="two decisions for one service in the same second; propose the newer one later",
            )
        return mr

    def _ensure_branch(self, edit: _BranchEdit) -> None:
        """Commit the one-entry edit on its branch and push it, unless origin already has the branch."""
        self.repo.fetch()
        if edit.branch in self.repo.remote_branches():
            return
        self._commit_edit(edit)
        self.repo.push_branch(edit.branch)

    def _commit_edit(self, edit: _BranchEdit) -> None:
        """Local ``edit.branch`` = origin's main + the one-entry edit of ``edit.decision.service``."""
        base = f"{REMOTE}/{MAIN}"
        layout = self.layout
        text = self.repo.read_file(base, layout.placements_file)
        edited = edit_placement(
            text,
            edit.decision.service,
            edit.target.provider,
            edit.target.region,
            edit.instance_type,
            terraform_bin=self.terraform_bin,
            variable=layout.variable,
            source=layout.placements_file,
            new_entry=self._new_entry(text, edit.decision.service),
        )
        message = commit_message(edit.decision, kind=edit.kind, source=edit.source, target=edit.target)
        self.repo.commit_file(
            branch=edit.branch, base=base, path=layout.placements_file, content=edited, message=message
        )

    def _main_entries(self) -> dict[str, PlacementEntry]:
        layout = self.layout
        return read_placements(
            self.repo.read_file(f"{REMOTE}/{MAIN}", layout.placements_file),
            source=layout.placements_file,
            variable=layout.variable,
        )

    def _new_entry(self, text: str, service: str) -> dict[str, str | int | bool] | None:
        """The attributes of ``service``'s entry if the map has none and the fleet describes it.

        The entry carries the keys the map's other entries use (all of gpu_count, stateful, replicas
        for an empty map), filled from the fleet; provider, region and instance_type come from the move.
        """
        if self._fleet is None:
            return None
        entries = read_placements(text, source=self.layout.placements_file, variable=self.layout.variable)
        if service in entries:
            return None
        known = self._fleet().get(service)  # read only when an entry is missing
        if known is None:
            return None
        described: dict[str, str | int | bool] = {
            "gpu_count": known.shape.gpu_count,
            "stateful": known.stateful,
            "replicas": known.replicas,
        }
        used = {key for entry in entries.values() for key in entry.attributes}
        return {k: v for k, v in described.items() if not entries or k in used}

    def _open(self, edit: _BranchEdit) -> MergeRequest:
        """Open the merge request of ``edit``'s branch, titled and described from its decision."""
        decision, kind, source, target = edit.decision, edit.kind, edit.source, edit.target
        description = mr_description(
            decision, kind=kind, source=source, target=target, fleet_costs=self._costs()
        )
        if decision.service not in self._main_entries():
            layout = self.layout
            description += (
                f"\n### New entry\n\n{md.code(decision.service, cell=False)} is in the fleet but had no "
                f"entry in {md.code(layout.variable, cell=False)} of "
                f"{md.code(layout.placements_file, cell=False)}: this change adds it at "
                f"{md.code(target.key, cell=False)}, from the fleet file's description of the service.\n"
            )
        return self.host.open(
            edit.branch,
            change_title(decision, kind=kind, source=source, target=target),
            description,
            decision.id,
            decision.service,
            kind,
        )

    def _costs(self) -> Mapping[str, float | None] | None:
        """What the fleet costs now, for the description; None when unknown (the MR opens anyway)."""
        if self._fleet_costs is None:
            return None
        try:
            return self._fleet_costs()
        except StoreError as exc:
            log.warning("no fleet total in the merge request's description: %s", exc)
            return None

    def _supersedable(self, service: str, branch: str) -> list[MergeRequest]:
        """Other open MRs of ``service``; ConflictError if one of them must not be superseded."""
        older = [mr for mr in self.host.list(state=MRState.OPENED, service=service) if mr.branch != branch]
        for mr in older:
            if mr.kind is MRKind.ROLLBACK:
                raise ConflictError(
                    f"rollback MR {mr.id} of {service} is still open", hint="merge or close it first"
                )
            status = self.store.get_decision(mr.decision_id).status
            if status is not _S.SUPERSEDED and _S.SUPERSEDED not in ALLOWED_TRANSITIONS[status]:
                raise ConflictError(
                    f"MR {mr.id} of {service} is {status.value} and cannot be superseded",
                    hint="wait until it is applied or failed, then propose again",
                )
        return older

    def _supersede(self, older: Iterable[MergeRequest], *, by: str) -> None:
        for mr in older:
            if self.store.get_decision(mr.decision_id).status is not _S.SUPERSEDED:
                self.events.superseded(mr.decision_id, by_decision=by, mr_id=mr.id)
            self.host.close(mr.id, f"superseded by decision {by}")

    def _mark_opened(self, decision_id: str, mr: MergeRequest) -> None:
        self.events.opened(decision_id, mr)
