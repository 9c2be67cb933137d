"""The platform's log for a person: one readable line per event that matters, read from the audit log.

``swen up`` prints these lines while it runs (``EventTail``), e.g.::

    19:04:12 decision  service-2 aws/us-east-1 -> alibaba/us-west-1: 12 % cheaper (-$130/month), ...
    19:04:13 mr        service-2 MR 3 opened (swen/service-2/alibaba-us-west-1-3f2a)
    19:04:20 gate      service-2 MR 3 waits for a person: <the gate's reasons> (approve: swen mr approve 3)
    19:05:02 approval  service-2 MR 3 approved by alice
    19:05:09 applied   service-2 now runs on alibaba/us-west-1 (MR 3)
    19:05:40 verified  service-2 healthy on alibaba/us-west-1 (3 healthy samples)

Shown: decisions recommended, merge requests opened, the policy gate's verdicts, approvals and
rejections, applies, verifications, failures, superseded moves, rollbacks, incidents opened, remediated,
resolved and escalated, automation paused and resumed, injected scenarios. Telemetry and engine cycles,
pipeline stages, notifications, locks and API keys are not (they are in the audit log and on the
dashboard's live feed). Times are the events' wall-clock times in the local time zone.

The lines hold text from outside SWEN (reasons, names): print them through ``swen.cli.text.plain``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from swen.domain.decision import Decision
from swen.domain.errors import NotFoundError
from swen.domain.events import EventType
from swen.store.reads import events_version
from swen.store.records import EventRecord
from swen.store.repository import Store

LOGGED_TYPES = (
    EventType.DECISION,
    EventType.DECISION_STATUS,
    EventType.MR,
    EventType.PIPELINE,
    EventType.INCIDENT,
    EventType.AUTOMATION,
    EventType.SCENARIO,
    EventType.CATALOG,
)
"""The event types that can make a line (the others never do)."""

DENIED_PREFIX = "the policy denied the change"
"""How a denied run's error starts (pipeline.runner.PolicyDenied): the gate's line already says it."""


def event_line(event: EventRecord, *, decision: Decision | None = None) -> str | None:
    """One line for ``event``, or None when it is not worth a line. ``decision``: the decision of a
    DECISION event, for its monthly cost change (without it the line shows the net saving)."""
    describe = _DESCRIBERS.get(event.type)
    if describe is None:
        return None
    described = describe(event.payload, decision)
    if described is None:
        return None
    kind, text = described
    who = f"{event.service} " if event.service else ""
    return f"{event.ts.astimezone().strftime('%H:%M:%S')} {kind:<9} {who}{text}"


class EventTail:
    """Follows the audit log from where it ends now (or after ``after_id``), a page at a time."""

    PAGE = 200

    def __init__(self, store: Store, *, after_id: int | None = None) -> None:
        self.store = store
        self.cursor = events_version(store) if after_id is None else after_id  # the newest event id

    def poll(self) -> list[str]:
        """Lines for the events appended since the last poll (oldest first)."""
        lines: list[str] = []
        while True:
            events = self.store.events_after(self.cursor, limit=self.PAGE, types=LOGGED_TYPES)
            for event in events:
                self.cursor = event.id
                line = event_line(event, decision=self._decision(event))
                if line is not None:
                    lines.append(line)
            if len(events) < self.PAGE:
                return lines

    def _decision(self, event: EventRecord) -> Decision | None:
        if event.type != EventType.DECISION or event.decision_id is None:
            return None
        try:
            return self.store.get_decision(event.decision_id).decision
        except NotFoundError:
            return None


# --- one describer per event type: payload -> (kind, text) or None ----------------------------------

Described = tuple[str, str] | None


def _decision(p: dict[str, Any], decision: Decision | None) -> Described:
    delta_pct = _number(p.get("cost_delta_pct"))
    if decision is not None:
        savings = decision.savings
        delta = savings.target_monthly_usd - savings.current_monthly_usd
        money = f"{'-' if delta < 0 else '+'}${abs(delta):,.0f}/month"
    else:
        money = f"net saving ${_number(p.get('net_savings_monthly_usd')):,.0f}/month"
    if delta_pct < 0:
        change = f"{abs(delta_pct):.0f} % cheaper ({money})"
    else:
        change = f"{delta_pct:.0f} % more expensive ({money})"
    emergency = "EMERGENCY move " if p.get("emergency") else ""
    confidence = f"confidence {_number(p.get('confidence')):.2f}"
    chosen = f"chosen by {p['chosen_by']}: " if p.get("chosen_by") else ""
    return "decision", f"{emergency}{chosen}{p.get('from')} -> {p.get('to')}: {change}, {confidence}"


def _status(p: dict[str, Any], _decision: Decision | None) -> Described:
    to, detail = p.get("to"), p.get("detail") or {}
    if not isinstance(detail, dict):
        detail = {}
    mr = f"MR {detail['mr_id']}" if detail.get("mr_id") is not None else "its MR"
    reasons = _reasons(detail.get("reasons"))
    by = detail.get("by")
    if to == "awaiting_approval":
        approve = f" (approve: swen mr approve {detail['mr_id']})" if detail.get("mr_id") is not None else ""
        return "gate", f"{mr} waits for a person" + (f": {reasons}" if reasons else "") + approve
    if to == "approved" and by == "policy":
        return "gate", f"{mr} approved by the policy (auto-approve)"
    if to == "rejected":
        if by == "policy":
            return "gate", f"{mr} denied by the policy" + (f": {reasons}" if reasons else "")
        reason = detail.get("reason")
        return "rejected", f"{mr} rejected by {by or 'a person'}" + (f": {reason}" if reason else "")
    if to == "applied":
        return "applied", f"now runs on {detail.get('placement')} ({mr})"
    if to == "verified":
        samples = detail.get("healthy_samples")
        return "verified", f"healthy on {detail.get('placement')}" + (
            f" ({samples} healthy samples)" if samples is not None else ""
        )
    if to == "failed":
        if "run_id" in detail:
            return None  # the pipeline's run_failed line says it, with the stage and the hint
        where = f" at {detail['stage']}" if detail.get("stage") else ""
        why = detail.get("error") or detail.get("reason") or "no reason recorded"
        return "failed", f"move failed{where}: {why}"
    if to == "superseded":
        if detail.get("by_decision"):
            return "superseded", f"{mr} replaced by decision {detail['by_decision']}"
        return "superseded", "withdrawn" + (f": {detail['reason']}" if detail.get("reason") else "")
    if to == "rolled_back":
        return "rollback", f"back on {detail.get('placement')} ({mr})"
    return None  # mr_opened (the MR's own line), pipeline_running, approved by a person (approval line)


def _mr(p: dict[str, Any], _decision: Decision | None) -> Described:
    action, mr = p.get("action"), f"MR {p.get('mr_id')}"
    kind = "rollback MR" if p.get("kind") == "rollback" else "MR"
    if action == "opened":
        url = p.get("web_url")
        return "mr", f"{kind} {p.get('mr_id')} opened ({p.get('branch')})" + (f" {url}" if url else "")
    if action == "approved":
        detail = p.get("detail") or {}
        by = detail.get("by") if isinstance(detail, dict) else None
        return "approval", f"{mr} approved by {by or p.get('approved_by') or 'a person'}"
    return None


def _pipeline(p: dict[str, Any], _decision: Decision | None) -> Described:
    if p.get("action") != "run_failed":
        return None
    error = str(p.get("error") or "")
    if error.startswith(DENIED_PREFIX):
        return None  # the gate's line says it
    hint = f" ({p['hint']})" if p.get("hint") else ""
    return (
        "failed",
        f"MR {p.get('mr_id')} pipeline run {p.get('run_id')}: stage {p.get('stage')} failed: {error}{hint}",
    )


def _incident(p: dict[str, Any], _decision: Decision | None) -> Described:
    action, incident = p.get("action"), f"incident {p.get('incident_id')}"
    if action == "opened":
        where = f"{p.get('provider')}/{p.get('region') or '*'}"
        return "incident", f"{incident} opened: {p.get('kind')} on {where} (seen by {p.get('source')})"
    if action == "kind_changed":
        return (
            "incident",
            f"{incident} is now an {p.get('to')} incident (was {p.get('from')}; {p.get('because')})",
        )
    if action == "remediating":
        return "incident", f"{incident}: moving away (decision {p.get('decision_id')})"
    if action == "resolved":
        ttr = p.get("time_to_recovery_s")
        after = f" after {_duration(float(ttr))}" if isinstance(ttr, int | float) else ""
        reason = f": {p['reason']}" if p.get("reason") else ""
        return "incident", f"{incident} resolved{after}{reason}"
    if action == "escalated":
        return "escalation", f"{incident} handed to a person: {p.get('reason')}"
    if action == "remediation_failed":
        return "failed", f"{incident}: remediation failed: {p.get('reason')}"
    return None


def _automation(p: dict[str, Any], _decision: Decision | None) -> Described:
    action = p.get("action")
    if action not in ("paused", "resumed"):
        return None
    reason = f": {p['reason']}" if p.get("reason") else ""
    follow = " (no automatic applies until `swen automation resume`)" if action == "paused" else ""
    return "automation", f"{action} by {p.get('by')}{reason}{follow}"


def _scenario(p: dict[str, Any], _decision: Decision | None) -> Described:
    where = f"{p.get('provider')}/{p.get('region') or '*'}"
    target = f" for {p['service']}" if p.get("service") else ""
    duration = p.get("duration_s")
    lasting = f" for {_duration(float(duration))}" if isinstance(duration, int | float) else ""
    return "scenario", f"{p.get('kind')} on {where}{target}{lasting} injected"


def _catalog(p: dict[str, Any], _decision: Decision | None) -> Described:
    providers = ", ".join(str(x) for x in p.get("providers") or []) or "no"
    sha = str(p.get("sha256") or "")[:12]
    return (
        "catalog",
        f"prices version {p.get('version')} active: {providers} prices from {p.get('source')} (sha256 {sha})",
    )


_DESCRIBERS: dict[str, Callable[[dict[str, Any], Decision | None], Described]] = {
    EventType.DECISION.value: _decision,
    EventType.DECISION_STATUS.value: _status,
    EventType.MR.value: _mr,
    EventType.PIPELINE.value: _pipeline,
    EventType.INCIDENT.value: _incident,
    EventType.AUTOMATION.value: _automation,
    EventType.SCENARIO.value: _scenario,
    EventType.CATALOG.value: _catalog,
}


def _number(value: object) -> float:
    return float(value) if isinstance(value, int | float) else 0.0


def _reasons(value: object) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, Iterable):
        return "; ".join(str(v) for v in value if str(v))
    return ""


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
