"""Alert intake: Alertmanager's webhook (payload version 4) into alerts and incidents.

``intake(store, payload)`` validates the whole payload first (an invalid one writes nothing), then
records its alerts in bounded write transactions: at most ``BATCH_ALERTS`` alerts or
``BATCH_BUDGET_S`` seconds each, the write lock let go in between (``Store.let_other_writers_in``), so
an alert storm (three concurrent posts of 5,000 alerts) never holds the database for longer than
another writer (the simulator, another post) waits for it. Each batch is all or nothing; a post that
fails part-way (503) has committed whole batches only, and because the intake is idempotent (below)
Alertmanager's retry of the same notification records exactly the rest. For every alert:

- deduplicates every alert by ``(fingerprint, startsAt)``: Alertmanager re-sends an alert every
  ``group_interval``/``repeat_interval`` and retries failed deliveries; a second notification of the
  same firing alert writes nothing;
- ignores a new alert whose ``service`` label names a service that is not in the fleet: it is not
  recorded and opens no incident, and the result counts it (``ignored_reasons["unknown_service"]``);
- maps the ``service``/``provider``/``region`` labels to the ONE active incident of that (service,
  provider), opening it when there is none (``source="alertmanager"``, ``kind`` from the alert's
  ``kind`` label or its name; an ``outage`` alert joining an incident of another kind makes it an
  ``outage`` incident, ``kind_changed`` event). Alerts without a provider (SelfHealingFailed with no
  known placement, EngineStalled) are recorded and attached to the service's active incident if there
  is one, but never open an incident;
- on a resolved notification marks the alert resolved. When every alert of the incident has
  resolved, the incident records ``details.alert_resolved_at``, and it is closed (``resolved``) at once
  if no remediation is pending (status ``open`` and no decision attached). A ``remediating`` incident
  is closed by the self-healing flow once it has verified recovery; an ``escalated`` one by a person.
- appends ``alert`` and ``incident`` events for every change (and none for a duplicate).

Anything that is not a valid version-4 payload raises ``InvalidInputError`` (the API answers 4xx) and
writes nothing.

``intake_anomalies(store, anomalies)`` applies the same rules to the engine's own anomaly detector
(:mod:`swen.engine.anomaly`): only anomalies of a service's CURRENT placement count (like the alert
rules); a firing anomaly opens or joins the (service, provider) incident (``source="engine"``; an
outage anomaly makes it an ``outage`` incident, as an outage alert does), a
cleared one closes it when nothing else fires on it and no remediation is pending. Reports of an
anomaly that is already recorded write nothing, so the detector's level-triggered output can be fed
every cycle.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StrictInt, StrictStr, ValidationError

from swen.domain.clock import utcnow
from swen.domain.errors import InvalidInputError
from swen.domain.events import EventType
from swen.domain.incidents import AlertRecord, IncidentRecord, IncidentSource, IncidentStatus
from swen.domain.names import validate_alert_labels
from swen.engine.anomaly import Anomaly
from swen.moves.running import running_services
from swen.store import audit
from swen.store.incidents import IncidentRepository
from swen.store.repository import Store, Transaction

MAX_ALERTS_PER_PAYLOAD = 5000
BATCH_ALERTS = 200
"""At most this many alerts are recorded in one write transaction (see the module docstring)."""
BATCH_BUDGET_S = 0.5
"""A batch also ends once it has held the write lock this long (a slow disk, a loaded machine)."""
FINGERPRINT_PATTERN = r"^[0-9a-f]{1,64}$"
KIND_PATTERN = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")

ALERT_KINDS: dict[str, str] = {
    "ProviderOutage": "outage",
    "HighLatency": "latency",
    "CostSpike": "cost",
    "HighCost": "cost",
    "GPUUnavailable": "gpu",
    "SelfHealingFailed": "remediation",
    "EngineStalled": "platform",
}
"""Incident kind of each SWEN alert (used when an alert carries no ``kind`` label)."""
OUTAGE = "outage"
"""The incident kind that wins over the others when signals of several kinds share an incident."""


class _Payload(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class WebhookAlert(_Payload):
    """One alert of an Alertmanager webhook notification."""

    status: Literal["firing", "resolved"]
    labels: dict[StrictStr, StrictStr] = Field(min_length=1, max_length=64)
    annotations: dict[StrictStr, StrictStr] = Field(default_factory=dict, max_length=64)
    startsAt: AwareDatetime
    endsAt: AwareDatetime | None = None
    """Always sent by Alertmanager (``0001-01-01T00:00:00Z`` while firing); a resolve without it: now."""
    generatorURL: StrictStr | None = None
    fingerprint: StrictStr = Field(pattern=FINGERPRINT_PATTERN)


class AlertmanagerWebhook(_Payload):
    """Alertmanager's webhook payload, version 4 (https://prometheus.io/docs/alerting/latest/configuration/#webhook_config)."""

    version: Literal["4"]
    groupKey: StrictStr
    truncatedAlerts: StrictInt = Field(default=0, ge=0)
    status: Literal["firing", "resolved"]
    receiver: StrictStr
    groupLabels: dict[StrictStr, StrictStr] = Field(default_factory=dict)
    commonLabels: dict[StrictStr, StrictStr] = Field(default_factory=dict)
    commonAnnotations: dict[StrictStr, StrictStr] = Field(default_factory=dict)
    externalURL: StrictStr = ""
    alerts: list[WebhookAlert] = Field(min_length=1, max_length=MAX_ALERTS_PER_PAYLOAD)


@dataclass
class IntakeResult:
    """What one notification changed. Lists hold incident ids; counts are alerts."""

    received: int = 0
    new_alerts: int = 0
    duplicates: int = 0
    resolved_alerts: int = 0
    incidents_opened: list[int] = field(default_factory=list)
    incidents_closed: list[int] = field(default_factory=list)
    incidents: list[int] = field(default_factory=list)
    """Every incident an alert of this payload belongs to (firing or resolved), in order, once."""
    remediation_requested: list[int] = field(default_factory=list)
    """Open incidents with a firing ``self_healing="true"`` alert: the self-healing flow should act."""
    event_ids: list[int] = field(default_factory=list)
    """Audit events this notification appended (empty for a pure repeat)."""
    ignored: int = 0
    """Reports that were not recorded and never open an incident (why: ``ignored_reasons``)."""
    ignored_reasons: dict[str, int] = field(default_factory=dict)
    """How many were ignored for each reason: ``unknown_service`` (an alert for a service not in the
    fleet), ``not_current_placement`` (an anomaly off the service's current placement)."""

    @property
    def stored(self) -> int:
        """Alerts not seen before (alias of ``new_alerts`` for the API's response)."""
        return self.new_alerts

    def to_dict(self) -> dict[str, Any]:
        """Every field, in declaration order (lists and counts as they are now)."""
        return asdict(self)

    def ignore(self, reason: str) -> None:
        self.ignored += 1
        self.ignored_reasons[reason] = self.ignored_reasons.get(reason, 0) + 1

    def _note(self, bucket: list[int], incident_id: int | None) -> None:
        if incident_id is not None and incident_id not in bucket:
            bucket.append(incident_id)


def parse_webhook(payload: Any) -> AlertmanagerWebhook:
    """Validate a decoded JSON payload; InvalidInputError names the first bad field."""
    if isinstance(payload, AlertmanagerWebhook):
        return payload
    if not isinstance(payload, dict):
        raise InvalidInputError(
            f"an Alertmanager webhook payload must be a JSON object, got {type(payload).__name__}",
            hint="point an Alertmanager webhook_config at POST /alerts",
        )
    if payload.get("version") != "4":
        raise InvalidInputError(
            f"unsupported Alertmanager webhook version {payload.get('version')!r}; "
            'only version "4" is accepted',
            hint="send Alertmanager webhook payloads (version 4) to POST /alerts",
            source="version",
        )
    try:
        webhook = AlertmanagerWebhook.model_validate(payload)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "payload"
        raise InvalidInputError(
            f"invalid Alertmanager payload: {err['msg']}",
            hint="POST /alerts accepts Alertmanager webhook payloads (version 4) only",
            source=where,
        ) from None
    for i, alert in enumerate(webhook.alerts):
        _check_labels(alert, f"alerts.{i}")
    return webhook


def _check_labels(alert: WebhookAlert, where: str) -> None:
    try:
        validate_alert_labels(alert.labels)
    except InvalidInputError as exc:
        label = f"{where}.labels.{exc.source}" if exc.source in ("service", "provider", "region") else None
        raise InvalidInputError(exc.message, hint=exc.hint, source=label or f"{where}.labels") from None


def _outage_wins(
    repo: IncidentRepository, conn: Transaction, incident: IncidentRecord, kind: str, because: str
) -> IncidentRecord:
    """An outage signal (alert or anomaly) joining an incident opened as something milder makes it an
    ``outage`` incident: a provider going down raises latency first, so the latency alert or anomaly
    usually opens the incident, and remediation treats only outages as emergencies by kind."""
    if kind == OUTAGE and incident.kind != OUTAGE:
        return repo.set_kind(incident.id, OUTAGE, because=because, conn=conn)
    return incident


def incident_kind(labels: dict[str, str]) -> str:
    kind = labels.get("kind", "")
    if KIND_PATTERN.fullmatch(kind):
        return kind
    return ALERT_KINDS.get(labels["alertname"], "alert")


def intake(store: Store, payload: Any, *, now: datetime | None = None) -> IntakeResult:
    """Validate and record one Alertmanager notification (idempotent). See the module docstring."""
    webhook = parse_webhook(payload)
    now = now or utcnow()
    repo = IncidentRepository(store)
    result = IntakeResult(received=len(webhook.alerts))
    fleet = {s.name for s in store.list_services()}
    pending: Sequence[WebhookAlert] = webhook.alerts
    while pending:
        with store.transaction() as conn:
            last_event = audit.newest_event_id(conn)
            done = _batch(repo, conn, pending, fleet, now, result)
            result.event_ids += audit.event_ids_after(conn, last_event)
        pending = pending[done:]
        if pending:
            store.let_other_writers_in()
    return result


def _batch(
    repo: IncidentRepository, conn: Transaction, alerts: Sequence[WebhookAlert], fleet: set[str],
    now: datetime, result: IntakeResult,
) -> int:  # fmt: skip
    """Record alerts from the front of ``alerts`` inside one transaction, up to ``BATCH_ALERTS`` or
    ``BATCH_BUDGET_S`` seconds; returns how many were recorded."""
    started = time.monotonic()
    done = 0
    for alert in alerts:
        _one(repo, conn, alert, fleet, now, result)
        done += 1
        if done >= BATCH_ALERTS or time.monotonic() - started >= BATCH_BUDGET_S:
            break
    return done


def _one(
    repo: IncidentRepository, conn: Transaction, alert: WebhookAlert, fleet: set[str], now: datetime,
    result: IntakeResult,
) -> None:  # fmt: skip
    existing = repo.find_alert(alert.fingerprint, alert.startsAt, conn=conn)
    service = alert.labels.get("service")
    if existing is None and service is not None and service not in fleet:
        result.ignore("unknown_service")  # e.g. a rule about another system: no incident
    elif alert.status == "firing":
        _firing(repo, conn, alert, existing, now, result)
    else:
        _resolved(repo, conn, alert, existing, now, result)


def _ends_at(alert: WebhookAlert, now: datetime) -> datetime:
    """When a resolved alert ended: its endsAt, never in the future, ``now`` when missing."""
    if alert.endsAt is None or alert.endsAt > now or alert.endsAt < alert.startsAt:
        return now
    return alert.endsAt


def _alert_event(
    repo: IncidentRepository,
    conn: Transaction,
    alert: WebhookAlert,
    incident_id: int | None,
    action: str,
    now: datetime,
) -> None:
    repo.store.append_event(
        EventType.ALERT,
        {
            "action": action,
            "alertname": alert.labels["alertname"],
            "fingerprint": alert.fingerprint,
            "starts_at": alert.startsAt.isoformat(),
            "ends_at": _ends_at(alert, now).isoformat() if alert.status == "resolved" else None,
            "labels": alert.labels,
            "summary": alert.annotations.get("summary", ""),
            "incident_id": incident_id,
        },
        service=alert.labels.get("service"),
        conn=conn,
    )


def _incident_for(
    repo: IncidentRepository, conn: Transaction, alert: WebhookAlert, *, may_open: bool, now: datetime,
    result: IntakeResult,
) -> IncidentRecord | None:  # fmt: skip
    labels = alert.labels
    service, provider = labels.get("service"), labels.get("provider")
    if service is None:
        return None
    if provider is None or not may_open:
        return repo.find_active(service, provider, conn=conn)
    incident, created = repo.open_incident(
        service=service,
        provider=provider,
        region=labels.get("region"),
        kind=incident_kind(labels),
        source=IncidentSource.ALERTMANAGER,
        at=alert.startsAt if alert.startsAt <= now else now,
        details={
            "alertnames": [labels["alertname"]],
            "severity": labels.get("severity"),
            "summary": alert.annotations.get("summary", ""),
            "alert_resolved_at": None,
        },
        conn=conn,
    )
    if created:
        result._note(result.incidents_opened, incident.id)
        return incident
    incident = _outage_wins(repo, conn, incident, incident_kind(labels), f"alert {labels['alertname']}")
    changes: dict[str, Any] = {}
    names = list(incident.details.get("alertnames", []))
    if labels["alertname"] not in names:
        changes["alertnames"] = [*names, labels["alertname"]]
    if incident.details.get("alert_resolved_at") is not None:
        changes["alert_resolved_at"] = None  # a new alert fires: not recovered after all
    return repo.update_details(incident.id, changes, conn=conn) if changes else incident


def _attach(
    repo: IncidentRepository, conn: Transaction, alert: WebhookAlert, incident: IncidentRecord | None,
    now: datetime,
) -> int | None:  # fmt: skip
    """Record an alert not seen before (in its own status), attached to ``incident``; its id."""
    incident_id = incident.id if incident is not None else None
    repo.attach_alert(
        fingerprint=alert.fingerprint,
        starts_at=alert.startsAt,
        alertname=alert.labels["alertname"],
        status=alert.status,
        labels=alert.labels,
        incident_id=incident_id,
        at=now,
        conn=conn,
    )
    return incident_id


def _firing(
    repo: IncidentRepository, conn: Transaction, alert: WebhookAlert, existing: AlertRecord | None,
    now: datetime, result: IntakeResult,
) -> None:  # fmt: skip
    if existing is not None:
        # Re-sent (or a late retry after the resolve): already recorded, nothing to write.
        result.duplicates += 1
        result._note(result.incidents, existing.incident_id)
        incident = repo.get(existing.incident_id, conn=conn) if existing.incident_id is not None else None
        if incident is not None and existing.status == "firing":
            _maybe_request_remediation(alert, incident, result)
        return
    incident = _incident_for(repo, conn, alert, may_open=True, now=now, result=result)
    incident_id = _attach(repo, conn, alert, incident, now)
    _alert_event(repo, conn, alert, incident_id, "firing", now)
    result.new_alerts += 1
    result._note(result.incidents, incident_id)
    if incident is not None:
        _maybe_request_remediation(alert, incident, result)


def _maybe_request_remediation(alert: WebhookAlert, incident: IncidentRecord, result: IntakeResult) -> None:
    if alert.labels.get("self_healing") == "true" and incident.status is IncidentStatus.OPEN:
        result._note(result.remediation_requested, incident.id)


def _resolved(
    repo: IncidentRepository, conn: Transaction, alert: WebhookAlert, existing: AlertRecord | None,
    now: datetime, result: IntakeResult,
) -> None:  # fmt: skip
    if existing is not None and existing.status == "resolved":
        result.duplicates += 1
        result._note(result.incidents, existing.incident_id)
        return
    if existing is None:
        # Never saw it fire (e.g. the platform was down): record it, attach to an active incident if any.
        incident = _incident_for(repo, conn, alert, may_open=False, now=now, result=result)
        incident_id = _attach(repo, conn, alert, incident, now)
    else:
        incident_id = existing.incident_id
        repo.mark_alert_resolved(existing.id, at=now, conn=conn)
    _alert_event(repo, conn, alert, incident_id, "resolved", now)
    result.resolved_alerts += 1
    result._note(result.incidents, incident_id)
    if incident_id is not None:
        _after_alert_resolved(repo, conn, incident_id, _ends_at(alert, now), result)


def _after_alert_resolved(
    repo: IncidentRepository, conn: Transaction, incident_id: int, at: datetime, result: IntakeResult
) -> None:
    if any(a.status == "firing" for a in repo.alerts_of(incident_id, conn=conn)):
        return
    incident = repo.get(incident_id, conn=conn)
    if not incident.active or incident.details.get("alert_resolved_at") is not None:
        return
    if _anomalies_firing(incident):
        return  # the engine still sees the problem
    incident = repo.update_details(incident_id, {"alert_resolved_at": at.isoformat()}, conn=conn)
    repo.store.append_event(
        EventType.INCIDENT,
        {"action": "alerts_resolved", "incident_id": incident_id, "at": at.isoformat(),
         "status": incident.status.value},
        service=incident.service,
        conn=conn,
    )  # fmt: skip
    if incident.status is IncidentStatus.OPEN and incident.decision_id is None:
        repo.resolve(incident_id, at, reason="alert resolved without remediation", conn=conn)
        result._note(result.incidents_closed, incident_id)


# --- the engine's own anomalies ----------------------------------------------------------------------


def _anomalies_firing(incident: IncidentRecord) -> bool:
    return any(state == "firing" for state in incident.details.get("anomalies", {}).values())


def _current_placements(store: Store) -> dict[str, tuple[str, str]]:
    return {name: (r.placement.provider, r.placement.region) for name, r in running_services(store).items()}


def intake_anomalies(
    store: Store, anomalies: Sequence[Anomaly], *, now: datetime | None = None
) -> IntakeResult:
    """Record the detector's anomalies as incidents (idempotent; see the module docstring)."""
    now = now or utcnow()
    result = IntakeResult(received=len(anomalies))
    if not anomalies:
        return result
    current = _current_placements(store)
    repo = IncidentRepository(store)
    with store.transaction() as conn:
        last_event = audit.newest_event_id(conn)
        for anomaly in anomalies:
            if current.get(anomaly.service) != (anomaly.provider, anomaly.region):
                result.ignore("not_current_placement")
            elif anomaly.firing:
                _anomaly_firing(repo, conn, anomaly, result)
            else:
                _anomaly_cleared(repo, conn, anomaly, result)
        result.event_ids = audit.event_ids_after(conn, last_event)
    return result


def _anomaly_facts(anomaly: Anomaly) -> dict[str, Any]:
    return {
        "kind": anomaly.kind.value,
        "value": anomaly.value,
        "baseline": anomaly.baseline,
        "band": anomaly.band,
        "first_seen": anomaly.first_seen.isoformat(),
        "region": anomaly.region,
    }


def _anomaly_firing(
    repo: IncidentRepository, conn: Transaction, anomaly: Anomaly, result: IntakeResult
) -> None:
    incident = repo.find_active(anomaly.service, anomaly.provider, conn=conn)
    if incident is None:
        incident, _ = repo.open_incident(
            service=anomaly.service,
            provider=anomaly.provider,
            region=anomaly.region,
            kind=anomaly.kind.incident_kind,
            source=IncidentSource.ENGINE,
            at=anomaly.first_seen,
            details={"anomalies": {anomaly.kind.value: "firing"}, "anomaly": _anomaly_facts(anomaly)},
            conn=conn,
        )
        result._note(result.incidents_opened, incident.id)
        result.new_alerts += 1
    elif incident.details.get("anomalies", {}).get(anomaly.kind.value) != "firing":
        anomalies = {**incident.details.get("anomalies", {}), anomaly.kind.value: "firing"}
        incident = repo.update_details(incident.id, {"anomalies": anomalies}, conn=conn)
        incident = _outage_wins(
            repo, conn, incident, anomaly.kind.incident_kind, f"anomaly {anomaly.kind.value}"
        )
        repo.store.append_event(
            EventType.INCIDENT,
            {"action": "anomaly", "incident_id": incident.id, **_anomaly_facts(anomaly)},
            service=anomaly.service,
            conn=conn,
        )
        result.new_alerts += 1
    else:
        result.duplicates += 1
    result._note(result.incidents, incident.id)
    if incident.status is IncidentStatus.OPEN:
        result._note(result.remediation_requested, incident.id)


def _anomaly_cleared(
    repo: IncidentRepository, conn: Transaction, anomaly: Anomaly, result: IntakeResult
) -> None:
    incident = repo.find_active(anomaly.service, anomaly.provider, conn=conn)
    if incident is None or incident.details.get("anomalies", {}).get(anomaly.kind.value) != "firing":
        result.duplicates += 1
        return
    anomalies = {**incident.details["anomalies"], anomaly.kind.value: "resolved"}
    at = anomaly.last_seen
    incident = repo.update_details(incident.id, {"anomalies": anomalies}, conn=conn)
    repo.store.append_event(
        EventType.INCIDENT,
        {"action": "anomaly_resolved", "incident_id": incident.id, "kind": anomaly.kind.value,
         "at": at.isoformat(), "rebaselined": anomaly.rebaselined},
        service=anomaly.service,
        conn=conn,
    )  # fmt: skip
    result.resolved_alerts += 1
    result._note(result.incidents, incident.id)
    if _anomalies_firing(incident):
        return
    if any(a.status == "firing" for a in repo.alerts_of(incident.id, conn=conn)):
        return  # Alertmanager still reports it
    if incident.status is IncidentStatus.OPEN and incident.decision_id is None:
        repo.resolve(incident.id, at, reason="anomaly cleared without remediation", conn=conn)
        result._note(result.incidents_closed, incident.id)
