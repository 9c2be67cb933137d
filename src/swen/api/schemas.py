"""Request and response models of the HTTP API (separate from the domain and the tables).

Request models are strict (a string is not a number, a boolean is not a float) so that what the
OpenAPI schema promises is exactly what the server accepts.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    WithJsonSchema,
    model_validator,
)

from swen.domain.decision import (
    Confidence,
    DecisionAction,
    DecisionStatus,
    ExcludedCandidate,
    ProviderScore,
    Savings,
)
from swen.domain.errors import InvalidInputError
from swen.domain.models import Criticality, Placement, ServiceShape, Weights
from swen.domain.names import (
    ALERT_LABEL_NAME_PATTERN,
    ALERTNAME_MAX_LENGTH,
    LOCATION_NAME_PATTERN,
    SERVICE_NAME_PATTERN,
    validate_alert_labels,
)

# --- timestamps: RFC 3339 strings only (a number is not a date-time) ---------------------------
_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")


def _rfc3339(value: object) -> object:
    """Only RFC 3339 date-times (with an offset), as the schema's ``format: date-time`` says."""
    if not isinstance(value, str) or not _RFC3339.fullmatch(value):
        raise ValueError("expected an RFC 3339 date-time with offset, e.g. 2026-01-31T12:00:00Z")
    return value


EVENT_YEARS = (1970, 9998)
EVENT_DATE_TIME_PATTERN = (
    r"^(19[7-9][0-9]|[2-8][0-9]{3}|9[0-8][0-9]{2}|99[0-8][0-9]|999[0-8])"
    r"-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})$"
)
"""Times SWEN accepts for real events: an RFC 3339 date-time written with a year from 1970 to 9998,
far enough from datetime's limits that any offset has a UTC equivalent and a window around the time
(e.g. ``end - 24 h``) cannot overflow. The OpenAPI schema carries the same pattern."""
_EVENT_DATE_TIME = re.compile(EVENT_DATE_TIME_PATTERN)
_OUT_OF_RANGE = f"date-time out of range: use a year from {EVENT_YEARS[0]} to {EVENT_YEARS[1]}"


def _to_utc(value: datetime) -> datetime:
    try:
        return value.astimezone(UTC)
    except (OverflowError, ValueError):
        raise ValueError(_OUT_OF_RANGE) from None


def _event_year(value: object) -> object:
    """An RFC 3339 date-time whose year, as written, is in EVENT_YEARS."""
    if isinstance(_rfc3339(value), str) and not _EVENT_DATE_TIME.fullmatch(str(value)):
        raise ValueError(_OUT_OF_RANGE)
    return value


_EVENT_SCHEMA = WithJsonSchema({"type": "string", "format": "date-time", "pattern": EVENT_DATE_TIME_PATTERN})

QueryDateTime = Annotated[datetime, BeforeValidator(_event_year), AfterValidator(_to_utc), _EVENT_SCHEMA]
"""A timestamp query parameter: RFC 3339 with offset, a year from 1970 to 9998, converted to UTC."""
JsonDateTime = Annotated[datetime, BeforeValidator(_rfc3339), Field(strict=False), AfterValidator(_to_utc)]
"""A timestamp in a strict request body: an RFC 3339 string with offset (JSON has no date type) that
has a UTC equivalent (``0001-01-01T00:30:00+01:00`` has none), converted to UTC."""
EventDateTime = Annotated[JsonDateTime, BeforeValidator(_event_year), _EVENT_SCHEMA]
"""A request-body timestamp of a real event: a JsonDateTime with a year from 1970 to 9998."""


# --- integers: a JSON number with no fractional part -----------------------------------------------
def _integral(value: object) -> object:
    """JSON Schema's ``integer`` is any number without a fractional part, so ``3.0`` is one; strict
    models would refuse it. A string or a boolean stays what it is (and is refused)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


JsonInt = Annotated[int, BeforeValidator(_integral)]
"""An integer in a strict request body (``3`` or ``3.0``)."""


# --- text: valid Unicode only ----------------------------------------------------------------------
def _unicode(value: str) -> str:
    """JSON can carry lone surrogates (``"\\ud800"``); they cannot be stored, logged or encoded as UTF-8."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(
            "not valid Unicode: it holds a lone surrogate escape such as \\ud800; send UTF-8 text"
        ) from None
    return value


Text = Annotated[str, AfterValidator(_unicode)]
"""An externally supplied string: any text, but valid Unicode (no lone surrogates)."""


def _unicode_everywhere(value: object) -> None:
    """Check every string (keys too) of undeclared fields' JSON values (iteratively: any depth)."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            _unicode(item)
        elif isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)


class _OpenIn(BaseModel):
    """A request body that keeps undeclared fields (webhooks): those must be valid Unicode too."""

    model_config = ConfigDict(strict=True, extra="allow")

    @model_validator(mode="after")
    def _extra_is_unicode(self) -> Self:
        _unicode_everywhere(self.model_extra or {})
        return self


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True)


class _StrictIn(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", allow_inf_nan=False)


class Page(_Out):
    limit: int
    offset: int
    total: int
    next_offset: int | None = Field(description="Offset of the next page; null on the last page.")


def next_offset(offset: int, limit: int, total: int) -> int | None:
    """``Page.next_offset``: where the next page starts, or None on the last page."""
    return offset + limit if offset + limit < total else None


# --- auth ----------------------------------------------------------------------------------------
class AutomationOut(_Out):
    paused: bool = Field(description="While paused nothing is merged or applied automatically.")
    by: str | None = Field(description="Who paused or resumed it last.")
    at: datetime | None
    reason: str | None


class AutomationIn(_StrictIn):
    reason: Text | None = Field(default=None, max_length=500, description="Why (kept in the audit log).")


class WhoAmIOut(_Out):
    key_id: int | None
    name: str
    role: Literal["viewer", "operator", "admin"]


# --- health --------------------------------------------------------------------------------------
class HealthOut(_Out):
    status: Literal["ok"] = "ok"


class ReadyOut(_Out):
    status: Literal["ready", "not_ready"]
    store_reachable: bool
    engine_heartbeat_age_s: float | None = Field(description="Seconds since the engine's last heartbeat.")
    engine_heartbeat_max_age_s: float
    problems: list[str] = []


# --- telemetry -----------------------------------------------------------------------------------
class TelemetryPoint(_Out):
    """One sample (latest mode) or the average of the samples in one time bucket (history mode)."""

    service: str
    provider: str
    region: str
    ts: datetime = Field(description="Sample time (latest) or bucket start (history).")
    samples: int = Field(ge=1, description="How many raw samples this point summarises.")
    instance_type: str | None
    hourly_cost_usd: float
    monthly_cost_usd: float = Field(description="hourly x 730, for ONE instance (see /cost-analysis).")
    latency_ms: float
    credits_usd: float
    gpu_availability: float
    availability: float
    error_rate: float
    simulated_price: bool


class TelemetryPage(Page):
    mode: Literal["latest", "history"]
    step_s: int | None = Field(description="Bucket width of the history (server-side downsampling).")
    start: datetime | None
    end: datetime | None
    items: list[TelemetryPoint]


# --- decisions -----------------------------------------------------------------------------------
class LifecycleEvent(_Out):
    event_id: int
    ts: datetime
    type: str
    status: str | None = Field(description="Status the decision entered with this event, when it did.")
    payload: dict[str, Any]


class DecisionOut(_Out):
    id: str
    service: str
    status: DecisionStatus
    created_at: datetime
    updated_at: datetime
    action: DecisionAction
    emergency: bool
    stateful: bool
    current: Placement
    target: Placement
    ranking: list[ProviderScore] = Field(description="Every eligible candidate with factor contributions.")
    excluded: list[ExcludedCandidate]
    confidence: Confidence = Field(description="Confidence with its parts (margin, stability, freshness).")
    savings: Savings
    weights: Weights
    explanation: str
    reasons: list[str]
    chosen_by: str | None = Field(
        default=None, description="The person who chose this placement (swen place); null: the engine."
    )
    catalog_version: int | None = Field(
        default=None, description="The price catalog version it was made with (GET /catalog/versions)."
    )
    slo_repair: bool = Field(
        default=False,
        description="An SLO repair: the current placement breaks the service's latency SLO and the move "
        "buys it back, even at a higher cost (docs/ENGINE.md, Decision rules).",
    )
    history: list[LifecycleEvent] = Field(description="Lifecycle events, oldest first.")


class DecisionPage(Page):
    items: list[DecisionOut]


# --- services ------------------------------------------------------------------------------------
class RunningOut(_Out):
    """Where the service runs now and what it costs there (the same answer as /cost-analysis)."""

    placement: Placement = Field(description="The applied placement, else the fleet file's.")
    source: Literal["applied", "fleet file"] = Field(description="Where the placement comes from.")
    decision_id: str | None = Field(
        description="The decision whose move put the service there; null for an initial placement."
    )
    instance_type: str | None = Field(description="Of the newest sample there; null without one.")
    instance_monthly_cost_usd: float | None = Field(
        description="hourly x 730 of ONE instance, from the newest sample there; null without one."
    )
    monthly_cost_usd: float | None = Field(
        description="instance_monthly_cost_usd x replicas: the whole service; null without a sample."
    )
    sample_ts: datetime | None = Field(description="Time of the newest sample there; null without one.")
    simulated_price: bool = Field(description="True when that sample's price is synthetic (Alibaba).")


class ServiceOut(_Out):
    name: str
    shape: ServiceShape
    stateful: bool
    latency_slo_ms: float
    criticality: Criticality
    users_region: Placement
    allowed_providers: list[str]
    allowed_regions: list[str]
    current: Placement = Field(description="Placement declared in the fleet.")
    placement: Placement | None = Field(description="Applied placement (Terraform state), if any.")
    monthly_budget_usd: float | None
    replicas: int
    running: RunningOut = Field(description="Where the service runs now and its monthly cost there.")


class ServiceList(_Out):
    items: list[ServiceOut]


# --- cost ----------------------------------------------------------------------------------------
class ServiceCost(_Out):
    service: str
    provider: str
    region: str
    replicas: int
    monthly_cost_usd: float | None = Field(
        description="hourly x 730 x replicas at the current placement; null when it has no sample."
    )
    monthly_budget_usd: float | None
    simulated_price: bool


class ProviderCost(_Out):
    provider: str
    services: int
    monthly_cost_usd: float


class CreditsPoint(_Out):
    ts: datetime
    credits_usd: float


class SpendPoint(_Out):
    ts: datetime
    monthly_usd: float = Field(description="Monthly rate of the bucket: sum of hourly x 730 x replicas.")


class ProviderSpend(_Out):
    provider: str
    points: list[SpendPoint]


class CreditsBurndown(_Out):
    provider: str
    points: list[CreditsPoint]


class CostAnalysisOut(_Out):
    generated_at: datetime
    currency: Literal["USD"] = "USD"
    total_monthly_usd: float
    services: list[ServiceCost]
    by_provider: list[ProviderCost]
    savings_realised_monthly_usd: float = Field(description="Net monthly savings of verified decisions.")
    verified_decisions: int
    savings_projected_monthly_usd: float = Field(
        description="Net monthly savings of open (not yet terminal) migration recommendations."
    )
    open_recommendations: int
    credits_burndown: list[CreditsBurndown]
    spend_by_provider: list[ProviderSpend] = Field(
        description="Monthly spend rate per provider over the window: per bucket, each service's mean "
        "hourly price at its current placement x 730 x its replicas, summed per provider."
    )
    credits_step_s: int = Field(
        description="Bucket width of credits_burndown and spend_by_provider: whole hours from 5 days on, "
        "whole 6-hour buckets (starting 00, 06, 12 and 18 UTC) from 21 days on."
    )
    series_end: datetime | None = Field(
        default=None,
        description="Where credits_burndown and spend_by_provider end (exclusive). From 5 days on they "
        "are read from the rollups and end at the last rolled-up hour (the maintenance step rolls an hour "
        "up once it is 5 minutes past; it runs once an hour), so the newest samples are not in them yet.",
    )
    newest_sample: datetime | None = Field(
        default=None,
        description="The newest sample of the services where they run (None before any telemetry): "
        "where the dashboard draws the newest bucket's value on to, without reading every latest sample.",
    )


# --- merge requests ------------------------------------------------------------------------------
class PipelineStageOut(_Out):
    name: str
    status: str
    started_at: datetime
    duration_s: float | None


class PipelineRunOut(_Out):
    id: int
    status: str
    started_at: datetime
    finished_at: datetime | None
    stages: list[PipelineStageOut]


class MergeRequestOut(_Out):
    id: int
    decision_id: str
    service: str
    branch: str
    host: str
    external_id: str | None
    web_url: str | None
    state: str
    title: str
    kind: str
    review: str | None
    approved_by: str | None
    created_at: datetime
    updated_at: datetime
    pipelines: list[PipelineRunOut]
    waiting_for_person: bool = Field(
        default=False,
        description="Open, not approved yet, and its latest pipeline run waits at apply for a person "
        "(any kind: migration, emergency, rollback).",
    )


class MergeRequestPage(Page):
    items: list[MergeRequestOut]


class ReviewOut(_Out):
    merge_request: MergeRequestOut
    decision_status: DecisionStatus


class CostLineOut(_Out):
    name: str = Field(description="The service, or `total (fleet)` for every service together.")
    before_monthly_usd: float
    after_monthly_usd: float
    delta_monthly_usd: float = Field(description="after - before (negative: cheaper).")


class PlanResourceOut(_Out):
    address: str
    action: str = Field(description="create, update, delete, replace or forget.")
    stateful: bool


class PlanBriefOut(_Out):
    to_add: int = Field(description="Resources created (a replace counts as one add and one destroy).")
    to_change: int
    to_destroy: int
    summary: str = Field(description='Terraform\'s line, e.g. "Plan: 1 to add, 0 to change, 1 to destroy."')
    stage: str = Field(description="plan (confirmed by the plan stage) or policy (planned by the gate).")
    resources: list[PlanResourceOut]


class MergeRequestReviewOut(_Out):
    """What a person needs to judge a merge request (``swen.moves.review_brief``)."""

    mr_id: int
    decision_id: str
    service: str
    kind: str
    state: str
    title: str
    waiting_for_person: bool
    gate_outcome: str | None = Field(
        description="auto_approve, manual_review or deny; null before the gate ran."
    )
    gate_reasons: list[str] = Field(description="Why the gate wants a person (or approved by itself).")
    override: bool = Field(description="An emergency override of the cost and confidence rules.")
    cost: list[CostLineOut] = Field(
        description="Monthly cost before and after: the service, then the fleet total (Infracost style)."
    )
    tfvars_diff: str | None = Field(description="Unified diff of the MR's commit against its parent.")
    diff_note: str | None = Field(description="Why there is no diff, or that it was cut.")
    plan: PlanBriefOut | None
    plan_note: str | None = Field(description="Why there is no plan summary yet.")


class RejectIn(_StrictIn):
    reason: Text | None = Field(default=None, max_length=2000, description="Why; kept in the audit log.")


# --- webhooks ------------------------------------------------------------------------------------
class WebhookOut(_Out):
    accepted: bool
    action: str = Field(description="What SWEN did with the hook.")
    decision_id: str | None = None
    status: DecisionStatus | None = None


def _alert_labels(labels: dict[str, str]) -> dict[str, str]:
    try:
        validate_alert_labels(labels)
    except InvalidInputError as exc:
        raise ValueError(f"{exc.source}: {exc.message}" if exc.source else exc.message) from None
    return labels


_LABELS_SCHEMA = {
    "propertyNames": {"pattern": ALERT_LABEL_NAME_PATTERN},
    "required": ["alertname"],
    "properties": {
        "alertname": {"type": "string", "minLength": 1, "maxLength": ALERTNAME_MAX_LENGTH},
        "service": {"type": "string", "pattern": SERVICE_NAME_PATTERN},
        "provider": {"type": "string", "pattern": LOCATION_NAME_PATTERN},
        "region": {"type": "string", "pattern": LOCATION_NAME_PATTERN},
    },
}
AlertLabels = Annotated[dict[Text, Text], AfterValidator(_alert_labels)]
"""An alert's labels, as swen.domain.names.validate_alert_labels checks them (_LABELS_SCHEMA says it)."""


class AlertIn(_OpenIn):
    """One alert of an Alertmanager webhook (payload version 4)."""

    status: Literal["firing", "resolved"]
    labels: AlertLabels = Field(min_length=1, max_length=64, json_schema_extra=_LABELS_SCHEMA)  # type: ignore[arg-type]
    annotations: dict[Text, Text] = Field(default={}, max_length=64)
    startsAt: EventDateTime
    endsAt: JsonDateTime | None = None
    """Alertmanager sends ``0001-01-01T00:00:00Z`` while an alert fires: any time with a UTC equivalent."""
    generatorURL: Text | None = None
    fingerprint: str = Field(pattern=r"^[0-9a-f]{1,64}$")


class AlertmanagerPayload(_OpenIn):
    """Alertmanager webhook payload (version 4). Every string must be valid Unicode."""

    version: Literal["4"]
    groupKey: Text
    truncatedAlerts: JsonInt = Field(default=0, ge=0)
    status: Literal["firing", "resolved"]
    receiver: Text
    groupLabels: dict[Text, Text] = {}
    commonLabels: dict[Text, Text] = {}
    commonAnnotations: dict[Text, Text] = {}
    externalURL: Text = ""
    alerts: list[AlertIn] = Field(min_length=1, max_length=5000)


class AlertIntakeOut(_Out):
    received: int
    stored: int = Field(description="Alerts not seen before (same fingerprint and start are de-duplicated).")
    event_ids: list[int]
    ignored: int = Field(default=0, description="Alerts not recorded (they open no incident).")
    ignored_reasons: dict[str, int] = Field(
        default={},
        description="Ignored alerts counted by reason, e.g. unknown_service: the service label names "
        "a service that is not in the fleet.",
    )


# --- GitLab webhooks (only the fields SWEN reads; GitLab sends many more) ------------------------
class _GitlabPart(BaseModel):
    model_config = ConfigDict(strict=True, extra="allow")


class GitlabUser(_GitlabPart):
    username: Text = Field(default="gitlab", max_length=255)


class GitlabMergeRequestAttributes(_GitlabPart):
    iid: JsonInt = Field(ge=0)
    source_branch: Text = Field(min_length=1, max_length=255)
    target_branch: Text = Field(default="main", max_length=255)
    state: Text = Field(max_length=32)
    action: Text | None = Field(default=None, max_length=32)
    url: Text | None = Field(default=None, max_length=2048)


class GitlabMergeRequestRef(_GitlabPart):
    iid: JsonInt = Field(ge=0)
    source_branch: Text = Field(min_length=1, max_length=255)


class GitlabPipelineAttributes(_GitlabPart):
    id: JsonInt = Field(ge=0)
    ref: Text = Field(min_length=1, max_length=255)
    status: Text = Field(max_length=32)
    duration: float | None = Field(default=None, ge=0)


class MergeRequestHook(_GitlabPart):
    """GitLab "Merge Request Hook" payload."""

    object_kind: Literal["merge_request"]
    user: GitlabUser | None = None
    object_attributes: GitlabMergeRequestAttributes


class PipelineHook(_GitlabPart):
    """GitLab "Pipeline Hook" payload."""

    object_kind: Literal["pipeline"]
    user: GitlabUser | None = None
    object_attributes: GitlabPipelineAttributes
    merge_request: GitlabMergeRequestRef | None = None


GitlabHook = Annotated[MergeRequestHook | PipelineHook, Field(discriminator="object_kind")]


# --- scenarios -----------------------------------------------------------------------------------
class ScenarioIn(_StrictIn):
    """A simulator scenario to inject (see swen.telemetry.scenarios for the effects)."""

    kind: Literal["outage", "latency_spike", "cost_spike", "credit_expiry", "gpu_stockout"]
    provider: str = Field(pattern=r"^[a-z][a-z0-9-]{0,62}$")
    region: str | None = Field(default=None, pattern=r"^[a-z][a-z0-9-]{0,62}$")
    service: str | None = Field(default=None, pattern=r"^[a-z][a-z0-9-]{0,62}$")
    magnitude: float | None = Field(default=None, gt=0, le=1000)
    start_offset_s: float = Field(default=0.0, ge=0, le=365 * 86400)
    duration_s: float = Field(default=900.0, gt=0, le=365 * 86400)
    name: Text | None = Field(default=None, max_length=120)


class ScenarioOut(_Out):
    event_id: int
    description: str
    scenario: dict[str, Any]
