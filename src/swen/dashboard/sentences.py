"""Live Feed events as sentences a person reads ("MR 3 waits for a person: ..." rather than
``action=opened, to=awaiting_approval``).

The dashboard may not import the platform log's describers (``swen.observability.platform_log``: the
dashboard reads only the API), so this is the feed's own short version for the payloads ``/ws`` sends.
Every type gets a sentence; an unknown action falls back to "<type> <action>".
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

Payload = dict[str, Any]


def _detail(p: Payload) -> dict[str, Any]:
    detail = p.get("detail")
    return detail if isinstance(detail, dict) else {}


def _num(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _reasons(value: object) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, Iterable):
        return "; ".join(str(v) for v in value if str(v))
    return ""


def _decision(p: Payload) -> str:
    emergency = "Emergency move" if p.get("emergency") else "Recommends moving"
    text = f"{emergency} {p.get('from')} -> {p.get('to')}"
    delta, conf = _num(p.get("cost_delta_pct")), _num(p.get("confidence"))
    if delta is not None:
        text += f": {abs(delta):.0f} % {'cheaper' if delta < 0 else 'more expensive'}"
    net = _num(p.get("net_savings_monthly_usd"))
    if net is not None:
        text += f", net {'saving' if net >= 0 else 'cost'} ${abs(net):,.0f}/month"
    if conf is not None:
        text += f", confidence {conf:.2f}"
    return text


def _status(p: Payload) -> str:
    to, detail = p.get("to"), _detail(p)
    mr = f"MR {detail['mr_id']}" if detail.get("mr_id") is not None else "The move"
    reasons, by = _reasons(detail.get("reasons")), detail.get("by")
    if to == "awaiting_approval":
        return f"{mr} waits for a person" + (f": {reasons}" if reasons else "")
    if to == "approved":
        return f"{mr} approved by " + ("the policy gate" if by == "policy" else str(by or "a person"))
    if to == "rejected":
        why = reasons or detail.get("reason")
        who = "the policy gate" if by == "policy" else str(by or "a person")
        return f"{mr} rejected by {who}" + (f": {why}" if why else "")
    if to == "applied":
        return f"Applied: now runs on {detail.get('placement')}"
    if to == "verified":
        return f"Verified healthy on {detail.get('placement')}"
    if to == "failed":
        return "The move failed: " + str(detail.get("error") or detail.get("reason") or "no reason recorded")
    if to == "superseded":
        if detail.get("by_decision"):
            return f"{mr} superseded by decision {detail['by_decision']}"
        return "Withdrawn" + (f": {detail['reason']}" if detail.get("reason") else "")
    if to == "rolled_back":
        return f"Rolled back to {detail.get('placement')}"
    return f"Decision {p.get('from')} -> {to}"


def _mr(p: Payload) -> str:
    kind = "Rollback MR" if p.get("kind") == "rollback" else "MR"
    action = p.get("action")
    mr = kind + (f" {p['mr_id']}" if p.get("mr_id") is not None else "")
    if action == "opened":
        return f"{mr} opened" + (f" on {p['branch']}" if p.get("branch") else "")
    if action == "approved":
        detail = _detail(p)
        return f"{mr} approved by {detail.get('by') or p.get('approved_by') or 'a person'}"
    if action == "reviewed":
        detail = _detail(p)
        outcome = str(detail.get("outcome") or "nothing").replace("_", " ")
        reasons = _reasons(detail.get("reasons"))
        return f"{mr}: the policy gate says {outcome}" + (f" ({reasons})" if reasons else "")
    return f"{mr} {str(action or 'updated').replace('_', ' ')}"


def _pipeline(p: Payload) -> str:
    action, mr = str(p.get("action") or ""), f"MR {p.get('mr_id')}"
    if action == "run_failed":
        return f"{mr}: pipeline failed at {p.get('stage')}: {p.get('error')}"
    if action == "stage":
        took = _num(p.get("duration_s"))
        return f"{mr}: {p.get('stage')} stage {p.get('status')}" + (f" in {took:.1f} s" if took else "")
    if action == "run_results":
        return f"{mr}: policy check done ({str(p.get('policy_outcome')).replace('_', ' ')})"
    if action == "run_finished":
        return f"{mr}: pipeline run {p.get('run_id')} finished ({str(p.get('status')).replace('_', ' ')})"
    if action == "sync":
        return "Main applied (pipeline sync)"
    status = f": {str(p['status']).replace('_', ' ')}" if p.get("status") else ""
    return f"{mr}: pipeline {action.replace('_', ' ')}".rstrip() + status


def _incident(p: Payload) -> str:
    action, incident = p.get("action"), f"Incident {p.get('incident_id')}"
    if action == "opened":
        where = f"{p.get('provider')}/{p.get('region') or '*'}"
        return f"{incident} opened: {p.get('kind')} on {where} (seen by {p.get('source')})"
    if action == "resolved":
        ttr = _num(p.get("time_to_recovery_s"))
        return f"{incident} resolved" + (f" after {ttr:.0f} s" if ttr is not None else "")
    if action == "escalated":
        return f"{incident} handed to a person: {p.get('reason')}"
    if action == "remediating":
        return f"{incident}: moving away (decision {p.get('decision_id')})"
    return f"{incident} {str(action or 'updated').replace('_', ' ')}"


def _automation(p: Payload) -> str:
    action = str(p.get("action") or "changed")
    reason = f": {p['reason']}" if p.get("reason") else ""
    return f"Automation {action} by {p.get('by') or 'unknown'}{reason}"


def _alert(p: Payload) -> str:
    return f"Alert {p.get('alertname')} {p.get('status') or p.get('action') or ''}".rstrip()


def _scenario(p: Payload) -> str:
    where = f"{p.get('provider')}/{p.get('region') or '*'}"
    return f"Scenario {p.get('kind')} injected on {where}"


def _placement(p: Payload) -> str:
    return f"Placement {p.get('previous')} -> {p.get('placement')}"


def _notification(p: Payload) -> str:
    return f"Notified ({p.get('status')}): {p.get('title')}"


def _telemetry(p: Payload) -> str:
    return f"Telemetry cycle: {p.get('count')} samples"


def _engine(p: Payload) -> str:
    return "Engine cycle" + (f" at {p['sim_time']}" if p.get("sim_time") else "")


_SENTENCES: dict[str, Callable[[Payload], str]] = {
    "decision": _decision, "decision_status": _status, "mr": _mr, "pipeline": _pipeline,
    "incident": _incident, "automation": _automation, "alert": _alert, "scenario": _scenario,
    "placement": _placement, "notification": _notification, "telemetry_cycle": _telemetry,
    "engine_cycle": _engine,
}  # fmt: skip


def sentence(event_type: str, payload: Payload) -> str:
    """One sentence for an event (at most 300 characters)."""
    describe = _SENTENCES.get(event_type)
    if describe is None:
        action = payload.get("action")
        text = f"{event_type.replace('_', ' ')} {str(action).replace('_', ' ') if action else ''}".strip()
    else:
        text = describe(payload)
    return text[:300]
