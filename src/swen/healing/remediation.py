"""The emergency flow: incidents -> engine emergency inputs -> GitOps -> verification -> resolve.

:class:`Healer` is called by :class:`swen.loop.EngineLoop` at four points of a cycle:

1. :meth:`Healer.plan` (before the engine runs): reads the active incidents and returns the engine's
   ``emergency`` services, the ``quarantined`` pairs and the services ``held`` for a person.

   - An **open** incident that asks for remediation (a firing alert labelled ``self_healing="true"``
     or a firing anomaly of the engine's own detector) on the service's *current* placement:
     - kind ``outage``, or any engine anomaly firing on it -> **emergency**: the failing
       (provider, region) is quarantined for ``SWEN_QUARANTINE_S`` (for every service after an
       outage, like SkyPilot blocks a preempted region; for this service after a spike) and the
       service goes into ``EngineInputs.emergency``;
     - otherwise (a Prometheus-only latency/cost/GPU alert: a threshold the service may breach as
       its normal level, e.g. service-2's 68 ms against a 60 ms SLO in the default fleet) ->
       **ordinary**: the incident attaches to the service's open or applied migration, when there is
       one, and is resolved when that migration is verified. No emergency, no override, no loop.
   - An open incident about a placement the service has already left attaches to the decision that
     moved it (resolved when that one is verified), or is resolved at once when a person moved it.
   - A **remediating** incident whose attempt failed (``details.retry``) asks for an emergency again:
     the engine then picks the next candidate (the failed target is quarantined for the service);
     one that rode an ordinary move waits for the engine's next move of the service instead.
   - An **escalated** incident holds the service: no automatic move until a person closes it.

2. :meth:`Healer.admit` (before an emergency decision is acted on): the loop guards
   (:mod:`swen.healing.guards`). A refusal escalates the service's incidents.
3. :meth:`Healer.started` (after the merge request is opened): ``start_remediation`` on the incidents.
4. :meth:`Healer.follow_up` (after verification): a verified decision resolves its incidents with
   their time to recovery (verification sample time - incident opened); a failed one quarantines its
   target and asks for the next candidate; a rejected one, or an emergency for which the engine finds
   no healthy candidate for ``NO_CANDIDATE_LIMIT`` cycles, escalates to a person, naming the commands
   that exist for it (``swen rollback N`` when a decision can be rolled back, ``swen place SERVICE
   PROVIDER/REGION`` with the candidates considered; :mod:`swen.healing.next_steps`).

Times are simulated time (sample timestamps) throughout.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from swen.config import Settings
from swen.domain.decision import FAILED_STATUSES, NOT_ENDED_STATUSES, Decision, DecisionStatus
from swen.domain.errors import ConflictError, NotFoundError, SwenError
from swen.domain.events import EventType
from swen.domain.incidents import ACTIVE_STATUSES, IncidentRecord, IncidentSource, IncidentStatus
from swen.domain.models import Placement
from swen.engine.constraints import WILDCARD
from swen.engine.decide import EngineResult
from swen.healing.guards import Attempt, GuardLimits, GuardVerdict, Outcome, check_remediation
from swen.healing.next_steps import next_steps
from swen.healing.quarantine import Quarantine
from swen.moves.verification import load_verification
from swen.pipeline.notify import Notification, Notifier
from swen.store.incidents import IncidentRepository
from swen.store.repository import Store

_log = logging.getLogger(__name__)
_S = DecisionStatus

NO_CANDIDATE_LIMIT = 3
"""Cycles an emergency may find no healthy candidate before a person is asked."""
EMERGENCY_KINDS = frozenset({"outage"})
"""Decisions still on their way (proposed .. applied)."""
HISTORY_LIMIT = 200


@dataclass
class HealingPlan:
    """What self-healing asks of one engine cycle."""

    emergency: set[str] = field(default_factory=set)
    quarantined: list[tuple[str, str]] = field(default_factory=list)
    held: set[str] = field(default_factory=set)
    """Services with an escalated incident: no automatic move until a person closes it."""
    incidents: dict[str, list[int]] = field(default_factory=dict)
    """Service -> incidents asking for its emergency move."""


@dataclass
class HealingReport:
    """What self-healing did in one cycle (ids of incidents)."""

    remediating: list[int] = field(default_factory=list)
    resolved: list[int] = field(default_factory=list)
    retried: list[int] = field(default_factory=list)
    escalated: list[int] = field(default_factory=list)


class Healer:
    def __init__(self, settings: Settings, store: Store, *, notifier: Notifier | None = None) -> None:
        self.settings = settings
        self.store = store
        self.incidents = IncidentRepository(store)
        self.quarantine = Quarantine(store)
        self.limits = GuardLimits(max_per_hour=settings.max_remediations_per_hour)
        self._notifier = notifier
        self.report = HealingReport()

    @property
    def notifier(self) -> Notifier:
        if self._notifier is None:
            self._notifier = Notifier(self.store, self.settings.notification_urls)
        return self._notifier

    # --- 1. before the engine ----------------------------------------------------------------
    def plan(
        self, services: Sequence[str], placements: Mapping[str, Placement], now: datetime
    ) -> HealingPlan:
        plan = HealingPlan()
        active = self.incidents.list(status=ACTIVE_STATUSES, limit=1000)
        for incident in sorted(active, key=lambda i: i.id):
            where = placements.get(incident.service)
            if incident.status is IncidentStatus.ESCALATED:
                plan.held.add(incident.service)
            elif where is not None and self._asks_for_move(incident):
                self._plan_incident(incident, where, now, plan)
        plan.emergency -= plan.held
        plan.quarantined = self.quarantine.engine_pairs(now, placements, services)
        return plan

    def _asks_for_move(self, incident: IncidentRecord) -> bool:
        if incident.status is IncidentStatus.REMEDIATING:
            return bool(incident.details.get("retry"))
        if _anomalies_firing(incident):
            return True
        return any(
            a.status == "firing" and a.labels.get("self_healing") == "true"
            for a in self.incidents.alerts_of(incident.id)
        )

    def _plan_incident(
        self, incident: IncidentRecord, where: Placement, now: datetime, plan: HealingPlan
    ) -> None:
        retry = incident.status is IncidentStatus.REMEDIATING
        if retry and incident.details.get("mode") == "ordinary":
            self._attach_ordinary(incident)  # an ordinary move failed: wait for the engine's next one
            return
        if not retry and not _is_at(incident, where):
            self._attach_to_move(incident, where, now)
            return
        if not retry and not _emergency_worthy(incident):
            self._attach_ordinary(incident)
            return
        if not retry and "quarantine" not in incident.details:
            self._quarantine_source(incident, where, now)
        plan.emergency.add(incident.service)
        plan.incidents.setdefault(incident.service, []).append(incident.id)

    def _quarantine_source(self, incident: IncidentRecord, where: Placement, now: datetime) -> None:
        scope = WILDCARD if incident.kind in EMERGENCY_KINDS else incident.service
        entry = self.quarantine.add(
            scope,
            where,
            now=now,
            duration_s=self.settings.quarantine_s,
            reason=f"{incident.kind} of {incident.service} (incident {incident.id})",
            incident_id=incident.id,
        )
        self.incidents.update_details(incident.id, {"quarantine": entry.to_dict()})
        self._event(incident, "quarantined", entry.to_dict())

    def _attach_to_move(self, incident: IncidentRecord, where: Placement, now: datetime) -> None:
        """The service already left the incident's placement (e.g. the engine saw it first)."""
        record = self.store.placement_records().get(incident.service)
        mover = self._decision(record.decision_id) if record and record.decision_id else None
        if mover is not None and mover.decision.current.provider == incident.provider:
            self._start(incident, mover.decision.id, mode="moved_already")
            return
        self.incidents.resolve(
            incident.id, now, reason=f"{incident.service} no longer runs there (now at {where.key})"
        )
        self.report.resolved.append(incident.id)

    def _attach_ordinary(self, incident: IncidentRecord) -> None:
        """A threshold alert the engine's detector does not see as a change: ride the normal move."""
        retry = bool(incident.details.get("retry"))
        for stored in self.store.list_decisions(service=incident.service, limit=20):
            if stored.status in NOT_ENDED_STATUSES and (
                retry or stored.decision.current.provider == incident.provider
            ):
                mode = "emergency" if stored.decision.emergency else "ordinary"
                self._start(incident, stored.decision.id, mode=mode)
                return
        if not incident.details.get("waiting_for_engine"):
            self.incidents.update_details(incident.id, {"waiting_for_engine": True})
            self._event(
                incident,
                "waiting_for_engine",
                {"reason": "no engine anomaly on it: handled as an ordinary (non-emergency) move"},
            )

    # --- 2. before acting on an emergency decision -------------------------------------------
    def admit(self, decision: Decision, plan: HealingPlan, now: datetime) -> GuardVerdict:
        """May the loop act on this emergency decision? Escalates when a loop guard refuses."""
        active = self._active(decision.service)
        if decision.service in plan.held or any(i.status is IncidentStatus.ESCALATED for i in active):
            return GuardVerdict(False, "escalated", f"{decision.service} waits for a person")
        for incident in active:
            running = incident.status is IncidentStatus.REMEDIATING and not incident.details.get("retry")
            if running and incident.details.get("mode") == "emergency":
                return GuardVerdict(
                    False, "in_flight", f"remediation {incident.decision_id} of {decision.service} is running"
                )
        verdict = check_remediation(
            service=decision.service,
            source=decision.current,
            target=decision.target,
            now=now,
            attempts=self._attempts(decision.service, now, exclude=decision.id),
            limits=self.limits,
        )
        if not verdict.allowed:
            targets = active or [self._open_for(decision, now)]
            self.escalate(targets, verdict.reason, now, decision=decision)
        return verdict

    def _attempts(self, service: str, now: datetime, *, exclude: str) -> list[Attempt]:
        """Emergency attempts acted on (MR opened or later) and normal moves that were applied."""
        since = now - timedelta(seconds=max(self.limits.window_s, 4 * 3600.0))
        attempts: list[Attempt] = []
        for stored in self.store.list_decisions(service=service, since=since, limit=HISTORY_LIMIT):
            d = stored.decision
            if d.id == exclude or stored.status in (_S.PROPOSED, _S.SUPERSEDED):
                continue
            if not d.emergency and stored.status not in (_S.APPLIED, _S.VERIFIED, _S.ROLLED_BACK):
                continue
            attempts.append(
                Attempt(
                    decision_id=d.id,
                    at=d.created_at,
                    source=d.current,
                    target=d.target,
                    outcome=_outcome(stored.status),
                    emergency=d.emergency,
                )
            )
        return attempts

    # --- 3. after the merge request is opened ------------------------------------------------
    def started(self, decision: Decision, plan: HealingPlan, now: datetime) -> list[int]:
        """Attach the emergency decision to the incidents it remediates (opening one if none)."""
        ids = list(plan.incidents.get(decision.service, []))
        if not ids:
            existing = self.incidents.find_active(decision.service, decision.current.provider)
            ids = [(existing or self._open_for(decision, now)).id]
        started = []
        for incident_id in ids:
            incident = self.incidents.get(incident_id)
            if incident.active and incident.status is not IncidentStatus.ESCALATED:
                self._start(incident, decision.id, mode="emergency", target=decision.target.key)
                started.append(incident_id)
        return started

    def _open_for(self, decision: Decision, now: datetime) -> IncidentRecord:
        """An incident for an emergency the engine decided on its own (availability below the floor)."""
        incident, _ = self.incidents.open_incident(
            service=decision.service,
            provider=decision.current.provider,
            region=decision.current.region,
            kind="outage",
            source=IncidentSource.ENGINE,
            at=now,
            details={"trigger": "engine", "summary": decision.explanation[:500]},
        )
        return incident

    def _start(
        self, incident: IncidentRecord, decision_id: str, *, mode: str, target: str | None = None
    ) -> None:
        attempts = list(incident.details.get("attempts", []))
        if decision_id not in [a.get("decision_id") for a in attempts]:
            attempts.append({"decision_id": decision_id, "mode": mode, "target": target})
        try:
            self.incidents.start_remediation(incident.id, decision_id)
        except ConflictError as exc:
            _log.warning("incident %s: %s", incident.id, exc)
            return
        self.incidents.update_details(incident.id, {"retry": False, "attempts": attempts, "mode": mode})
        self.report.remediating.append(incident.id)

    # --- 4. after verification ---------------------------------------------------------------
    def follow_up(self, plan: HealingPlan, result: EngineResult | None, now: datetime) -> HealingReport:
        for incident in self.incidents.list(status=IncidentStatus.REMEDIATING, limit=1000):
            if incident.decision_id is None or incident.details.get("retry"):
                continue
            stored = self._decision(incident.decision_id)
            if stored is not None:
                self._follow(incident, stored.decision, stored.status, now)
        if result is not None:
            self._no_candidate(plan, result, now)
        report, self.report = self.report, HealingReport()
        return report

    def _follow(
        self, incident: IncidentRecord, decision: Decision, status: DecisionStatus, now: datetime
    ) -> None:
        if status is _S.VERIFIED:
            at = self._verified_at(decision.id) or now
            self.incidents.resolve(incident.id, at, reason=f"recovery verified at {decision.target.key}")
            self.report.resolved.append(incident.id)
        elif status is _S.SUPERSEDED:
            by = self._status_detail(decision.id, _S.SUPERSEDED).get("by_decision")
            if isinstance(by, str) and self._decision(by) is not None:
                self._start(incident, by, mode="superseded")
        elif status in FAILED_STATUSES:
            self._failed(incident, decision, status, now)
        elif status is _S.REJECTED:
            detail = self._status_detail(decision.id, _S.REJECTED)
            who = detail.get("by", "a person")
            self.escalate([incident], f"the move {decision.id} was rejected by {who}", now, decision=decision)
        elif status is _S.AWAITING_APPROVAL and not incident.details.get("awaiting_person"):
            self.incidents.update_details(incident.id, {"awaiting_person": True})
            self._event(
                incident, "awaiting_person", {"decision_id": decision.id, "stateful": decision.stateful}
            )

    def _failed(
        self, incident: IncidentRecord, decision: Decision, status: DecisionStatus, now: datetime
    ) -> None:
        detail = self._status_detail(decision.id, status)
        reason = str(detail.get("reason") or detail.get("error") or status.value)
        entry = self.quarantine.add(
            decision.service,
            decision.target,
            now=now,
            duration_s=self.settings.quarantine_s,
            reason=f"remediation {decision.id} failed: {reason}",
            incident_id=incident.id,
        )
        failures = list(incident.details.get("failures", []))
        failures.append({"decision_id": decision.id, "target": decision.target.key, "reason": reason})
        self.incidents.update_details(incident.id, {"retry": True, "failures": failures})
        self._event(incident, "remediation_failed", {"decision_id": decision.id, "reason": reason,
                                                     "quarantine": entry.to_dict()})  # fmt: skip
        self.report.retried.append(incident.id)

    def _no_candidate(self, plan: HealingPlan, result: EngineResult, now: datetime) -> None:
        moving = {d.service for d in result.recommendations}
        for service in sorted(plan.emergency - moving):
            asking = [self.incidents.get(i) for i in plan.incidents.get(service, [])]
            asking = [i for i in asking if i.active and i.status is not IncidentStatus.ESCALATED]
            if not asking:
                continue
            count = max(int(i.details.get("no_candidate_cycles", 0)) for i in asking) + 1
            for incident in asking:
                self.incidents.update_details(incident.id, {"no_candidate_cycles": count})
            if count >= NO_CANDIDATE_LIMIT:
                scored = result.decision(service) if service in result.cycle.row_of else None
                why = "; ".join(scored.reasons) if scored is not None else ""
                self.escalate(
                    self._active(service),
                    f"no healthy candidate for {service} in {count} cycles ({why})",
                    now,
                    considered=scored,
                )

    def _active(self, service: str) -> list[IncidentRecord]:
        return self.incidents.list(service=service, status=ACTIVE_STATUSES, limit=100)

    # --- escalation --------------------------------------------------------------------------
    def escalate(
        self,
        incidents: Collection[IncidentRecord],
        reason: str,
        now: datetime,
        *,
        decision: Decision | None = None,
        considered: Decision | None = None,
    ) -> None:
        """Hand the incidents to a person: incident escalated (+ event), a notification, the metric.

        The reason ends with what the person can run (:func:`swen.healing.next_steps.next_steps`):
        ``swen rollback N`` when a decision put the service where it runs now, and ``swen place``
        with the candidates of ``considered`` (the engine's verdict this cycle), else of
        ``decision``, else of the service's newest decision."""
        for incident in incidents:
            current = self.incidents.get(incident.id)
            if not current.active or current.status is IncidentStatus.ESCALATED:
                continue
            steps = next_steps(self.store, incident.service, considered or decision)
            full = f"{reason}; {steps}"
            self.incidents.escalate(incident.id, full, at=now)
            self.report.escalated.append(incident.id)
            note = Notification(
                title=f"SWEN self-healing stopped for {incident.service}"[:150],
                text=f"{full}. Automation will not retry on its own; once decided, close incident "
                f"{incident.id} (`swen incident resolve {incident.id} --reason ...`).",
                status="escalated",
                fields={
                    "incident": str(incident.id),
                    "service": incident.service,
                    "placement": f"{incident.provider}/{incident.region or '*'}",
                    "decision": decision.id if decision else "-",
                },
                service=incident.service,
                decision_id=decision.id if decision else None,
            )
            try:
                self.notifier.notify(note)
            except SwenError as exc:
                _log.warning("escalation notification failed: %s", exc)

    # --- helpers -----------------------------------------------------------------------------
    def _decision(self, decision_id: str) -> Any:
        try:
            return self.store.get_decision(decision_id)
        except NotFoundError:
            return None

    def _status_detail(self, decision_id: str, status: DecisionStatus) -> dict[str, Any]:
        """What the lifecycle recorded when the decision entered ``status`` (kept on its row)."""
        return self.store.transition_detail(decision_id, status)

    def _verified_at(self, decision_id: str) -> datetime | None:
        return load_verification(self.store, decision_id).last_ts

    def _event(self, incident: IncidentRecord, action: str, payload: dict[str, Any]) -> None:
        self.store.append_event(
            EventType.INCIDENT,
            {"action": action, "incident_id": incident.id, **payload},
            service=incident.service,
        )


def _anomalies_firing(incident: IncidentRecord) -> bool:
    anomalies = incident.details.get("anomalies", {})
    return isinstance(anomalies, dict) and any(v == "firing" for v in anomalies.values())


def _emergency_worthy(incident: IncidentRecord) -> bool:
    return incident.kind in EMERGENCY_KINDS or _anomalies_firing(incident)


def _is_at(incident: IncidentRecord, where: Placement) -> bool:
    return incident.provider == where.provider and incident.region in (None, where.region)


def _outcome(status: DecisionStatus) -> Outcome:
    if status is _S.VERIFIED:
        return Outcome.VERIFIED
    if status in (_S.FAILED, _S.ROLLED_BACK, _S.REJECTED):
        return Outcome.FAILED
    return Outcome.PENDING
