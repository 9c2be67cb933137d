"""The post-incident report: plain data built from the store (API ``GET /incidents/{id}``, CLI, dashboard).

For one incident it gathers:

- **timeline**: every audit event about the incident and the decisions that remediated it (alert
  received, incident opened/quarantined/remediating/resolved, decision proposed, MR opened, pipeline,
  placement changed, notifications), oldest first, plus milestones: fault (first anomalous sample or
  alert start), detected (incident opened), MR opened, applied, verified, resolved;
- **alerts** attached to it and the engine's **anomalies**;
- the **decision** that ended it, with its ranking (top 5), confidence and explanation, and every
  earlier **attempt** with why it failed;
- what the **policy** gate did with it (outcome, reasons, emergency override);
- **time to recovery**, the **cost impact** of the move: one number, ``monthly_impact_usd`` (the net
  change of the monthly bill, the engine's net savings with the sign turned), and its parts;
- **first detector**: whether the engine's own detector or Prometheus/Alertmanager saw it first
  (earliest anomaly vs earliest alert start) and by how many seconds - the seed's "review decision
  accuracy" step.

Incident, alert and anomaly times come from telemetry and Alertmanager (simulated time in a simulated
run), event times from the audit log (wall clock); with a real-time clock they are the same clock.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from swen.domain.decision import Decision
from swen.domain.errors import NotFoundError
from swen.domain.events import EventType
from swen.domain.incidents import IncidentRecord, IncidentStatus
from swen.store.incidents import IncidentRepository
from swen.store.mrs import MergeRequestRepository, PipelineRepository
from swen.store.reads import recent_service_events
from swen.store.records import EventRecord
from swen.store.repository import Store

MAX_EVENTS = 5000
RANKING_ROWS = 5
_DECISION_EVENTS = frozenset(
    {EventType.DECISION, EventType.DECISION_STATUS, EventType.MR, EventType.PIPELINE, EventType.PLACEMENT,
     EventType.NOTIFICATION}
)  # fmt: skip


def incident_report(store: Store, incident_id: int) -> dict[str, Any]:
    """The report of one incident (NotFoundError when there is no such incident)."""
    repo = IncidentRepository(store)
    incident = repo.get(incident_id)
    decision_ids = _decision_ids(incident)
    timeline_events = _events(store, incident, decision_ids)
    alerts = [
        {
            "alertname": a.alertname,
            "status": a.status,
            "starts_at": a.starts_at.isoformat(),
            "received_at": a.received_at.isoformat(),
            "severity": a.labels.get("severity"),
            "labels": a.labels,
        }
        for a in repo.alerts_of(incident_id)
    ]
    final = _stored(store, incident.decision_id)
    decision = final.decision if final is not None else None
    milestones = _milestones(incident, alerts, timeline_events, incident.decision_id)
    return {
        "incident": incident.to_dict(),
        "summary": _summary(incident, decision),
        "milestones": milestones,
        "timeline": [_timeline_row(e) for e in timeline_events],
        "alerts": alerts,
        "anomaly": incident.details.get("anomaly"),
        "anomalies": incident.details.get("anomalies", {}),
        "decision": _decision(decision, final.status.value if final else None),
        "attempts": _attempts(store, incident),
        "policy": _policy(store, incident.decision_id),
        "time_to_recovery_s": incident.time_to_recovery_s,
        "cost_impact": _cost_impact(decision),
        "first_detector": _first_detector(incident, alerts),
        "escalation": {
            "escalated_at": incident.details.get("escalated_at"),
            "reason": incident.details.get("escalation_reason"),
        }
        if incident.details.get("escalated_at")
        else None,
        "quarantine": incident.details.get("quarantine"),
    }


def incident_summaries(store: Store, *, status: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
    """One line per incident, newest first (for ``swen incident list`` and ``GET /incidents``)."""
    repo = IncidentRepository(store)
    rows = repo.list(status=IncidentStatus(status) if status else None, limit=limit)
    return [{**i.to_dict(), "first_detector": _first_detector(i, None)["source"]} for i in rows]


# --- parts ------------------------------------------------------------------------------------------


def _decision_ids(incident: IncidentRecord) -> list[str]:
    ids = [a.get("decision_id") for a in incident.details.get("attempts", []) if isinstance(a, dict)]
    if incident.decision_id:
        ids.append(incident.decision_id)
    return list(dict.fromkeys(str(i) for i in ids if i))


def _stored(store: Store, decision_id: str | None) -> Any:
    if not decision_id:
        return None
    try:
        return store.get_decision(decision_id)
    except NotFoundError:
        return None


def _events(store: Store, incident: IncidentRecord, decision_ids: list[str]) -> list[EventRecord]:
    wanted = set(decision_ids)
    out = []
    for event in recent_service_events(store, incident.service, limit=MAX_EVENTS):
        about_incident = event.payload.get("incident_id") == incident.id and event.type in (
            EventType.INCIDENT,
            EventType.ALERT,
        )
        about_decision = event.decision_id in wanted and event.type in _DECISION_EVENTS
        if about_incident or about_decision:
            out.append(event)
    return out


def _timeline_row(event: EventRecord) -> dict[str, Any]:
    return {"ts": event.ts.isoformat(), "event_id": event.id, "type": event.type,
            "decision_id": event.decision_id, "what": describe_event(event)}  # fmt: skip


def describe_event(event: EventRecord) -> str:
    """One line for a person."""
    p = event.payload
    if event.type == EventType.ALERT:
        return f"alert {p.get('alertname')} {p.get('action', p.get('status', ''))}"
    if event.type == EventType.INCIDENT:
        extra = p.get("reason") or p.get("decision_id") or p.get("kind") or ""
        return f"incident {p.get('action')}" + (f": {extra}" if extra else "")
    if event.type == EventType.DECISION:
        kind = "emergency decision" if p.get("emergency") else "decision"
        return f"{kind} {p.get('from')} -> {p.get('to')} ({p.get('status')})"
    if event.type == EventType.DECISION_STATUS:
        detail = p.get("detail") or {}
        why = detail.get("reason") or detail.get("error") or detail.get("by") or ""
        return f"decision {p.get('from')} -> {p.get('to')}" + (f" ({why})" if why else "")
    if event.type == EventType.PLACEMENT:
        return f"placement {p.get('previous')} -> {p.get('placement')}"
    if event.type == EventType.NOTIFICATION:
        return f"notification ({p.get('status')}): {p.get('title')}"
    action = p.get("action") or p.get("stage") or ""
    return f"{event.type} {action}".strip()


def _milestones(
    incident: IncidentRecord,
    alerts: list[dict[str, Any]],
    timeline: list[EventRecord],
    decision_id: str | None,
) -> dict[str, str | None]:
    def status_at(status: str) -> str | None:
        for e in timeline:
            if (
                e.type == EventType.DECISION_STATUS
                and e.decision_id == decision_id
                and e.payload.get("to") == status
            ):
                return e.ts.isoformat()
        return None

    fault = _first_detector(incident, alerts)
    return {
        "fault": fault["fault_at"],
        "detected": incident.opened_at.isoformat(),
        "mr_opened": status_at("mr_opened"),
        "applied": status_at("applied"),
        "verified": status_at("verified"),
        "resolved": incident.resolved_at.isoformat() if incident.resolved_at else None,
    }


def _summary(incident: IncidentRecord, decision: Decision | None) -> str:
    where = f"{incident.provider}/{incident.region or '*'}"
    head = f"{incident.kind} of {incident.service} on {where} ({incident.source}), {incident.status.value}"
    if decision is not None:
        head += f"; moved to {decision.target.key}" + (" as an emergency" if decision.emergency else "")
    if incident.time_to_recovery_s is not None:
        head += f"; recovered in {incident.time_to_recovery_s:.1f} s"
    return head


def _decision(decision: Decision | None, status: str | None) -> dict[str, Any] | None:
    if decision is None:
        return None
    return {
        "id": decision.id,
        "status": status,
        "emergency": decision.emergency,
        "stateful": decision.stateful,
        "from": decision.current.key,
        "to": decision.target.key,
        "created_at": decision.created_at.isoformat(),
        "confidence": decision.confidence.value,
        "explanation": decision.explanation,
        "reasons": list(decision.reasons),
        "ranking": [
            {
                "rank": p.rank,
                "placement": p.placement.key,
                "total": round(p.total, 4),
                "monthly_cost_usd": round(p.monthly_cost_usd, 2),
                "latency_ms": round(p.latency_ms, 1),
                "availability": p.availability,
                "current": p.is_current,
            }
            for p in decision.ranking[:RANKING_ROWS]
        ],
        "excluded": [
            {"placement": x.placement.key, "reasons": list(x.reasons)} for x in decision.excluded[:10]
        ],
    }


def _attempts(store: Store, incident: IncidentRecord) -> list[dict[str, Any]]:
    failures = {f.get("decision_id"): f.get("reason") for f in incident.details.get("failures", [])}
    out = []
    for decision_id in _decision_ids(incident):
        stored = _stored(store, decision_id)
        if stored is None:
            continue
        d = stored.decision
        out.append({"decision_id": d.id, "from": d.current.key, "to": d.target.key,
                    "status": stored.status.value, "emergency": d.emergency,
                    "failure": failures.get(d.id)})  # fmt: skip
    return out


def _policy(store: Store, decision_id: str | None) -> dict[str, Any] | None:
    if not decision_id:
        return None
    mrs = MergeRequestRepository(store).list(decision_id=decision_id, limit=5)
    for mr in mrs:
        run = PipelineRepository(store).latest_run(mr.id)
        if run is not None and run.policy_result:
            result = run.policy_result
            return {"mr_id": mr.id, "branch": mr.branch, "outcome": result.get("outcome"),
                    "reasons": list(result.get("reasons", [])), "override": bool(result.get("override")),
                    "run_status": run.status.value}  # fmt: skip
    if mrs:
        return {"mr_id": mrs[0].id, "branch": mrs[0].branch, "outcome": None, "reasons": [],
                "override": False, "run_status": None}  # fmt: skip
    return None


COST_IMPACT_DEFINITION = (
    "monthly_impact_usd: what the move changes in the service's monthly bill, net: list price after - "
    "before (x replicas), minus the change in credits usable per month, plus the one-time migration "
    "spread over the amortisation months; positive = costs more. It is the engine's net savings with "
    "the sign turned (the explanation's 'Net saving/cost'); the other fields are its parts."
)


def _cost_impact(decision: Decision | None) -> dict[str, Any] | None:
    """One number for the move's cost impact (``monthly_impact_usd``, see COST_IMPACT_DEFINITION) and
    the parts it is the sum of, all from the decision's savings: ``list_price_change_usd -
    credits_offset_usd + migration_amortised_usd == monthly_impact_usd`` (to the cent)."""
    if decision is None:
        return None
    s = decision.savings
    price_change = round(s.target_monthly_usd - s.current_monthly_usd, 2)
    credits = round(s.credits_offset_monthly_usd, 2)
    migration = round(s.migration_cost_usd / s.amortisation_months, 2)
    return {
        "monthly_impact_usd": round(price_change - credits + migration, 2),
        "list_price_before_usd": round(s.current_monthly_usd, 2),
        "list_price_after_usd": round(s.target_monthly_usd, 2),
        "list_price_change_usd": price_change,
        "list_price_change_pct": round(s.cost_delta_pct, 2),
        "credits_offset_usd": credits,
        "migration_cost_usd": round(s.migration_cost_usd, 2),
        "amortisation_months": s.amortisation_months,
        "migration_amortised_usd": migration,
        "definition": COST_IMPACT_DEFINITION,
    }


def _first_detector(incident: IncidentRecord, alerts: list[dict[str, Any]] | None) -> dict[str, Any]:
    """Which source saw the fault first: the engine's anomaly detector or Prometheus/Alertmanager."""
    engine_at: datetime | None = None
    anomaly = incident.details.get("anomaly")
    if isinstance(anomaly, dict) and isinstance(anomaly.get("first_seen"), str):
        engine_at = datetime.fromisoformat(anomaly["first_seen"])
    elif incident.source == "engine":
        engine_at = incident.opened_at
    alert_starts = [datetime.fromisoformat(a["starts_at"]) for a in alerts or []]
    if alerts is None and incident.source == "alertmanager":
        alert_starts = [incident.opened_at]
    alert_at = min(alert_starts) if alert_starts else None
    candidates = [
        (t, name) for t, name in ((engine_at, "engine"), (alert_at, "alertmanager")) if t is not None
    ]
    if not candidates:
        return {"source": None, "engine_at": None, "alertmanager_at": None, "lead_s": None, "fault_at": None}
    first_at, source = min(candidates)
    lead = abs((engine_at - alert_at).total_seconds()) if engine_at and alert_at else None
    return {
        "source": source,
        "engine_at": engine_at.isoformat() if engine_at else None,
        "alertmanager_at": alert_at.isoformat() if alert_at else None,
        "lead_s": lead,
        "fault_at": first_at.isoformat(),
    }
