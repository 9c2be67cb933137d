"""Prometheus metrics, declared once.

Everything about the fleet is read from the store at scrape time by ``StoreCollector`` (latest samples,
placements, decisions, pipeline stages, incidents, the engine heartbeat), so several API processes
against one database expose the same values. Only ``swen_http_request_duration_seconds`` is
per-process (it measures this process's requests).

Build a registry with ``build_registry(store)``; tests get a fresh ``CollectorRegistry`` each time, so
nothing is registered globally at import time.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from swen.domain.decision import DecisionStatus
from swen.domain.errors import StateError
from swen.domain.models import Service
from swen.moves.queue import ChangeBudget
from swen.moves.running import RunningService, running_services, service_monthly_cost
from swen.store.actions import ActionQueue
from swen.store.metric_reads import (
    BucketCounts,
    confidence_buckets,
    decision_status_entries,
    incidents_per_service,
    services_with_unresolved,
    stage_duration_buckets,
)
from swen.store.reads import savings_totals
from swen.store.repository import Store
from swen.store.state import EngineHeartbeat, parse_state

# --- names (the alert rules in deploy/ are written against exactly these) --------------------------
COST_MONTHLY = "swen_cost_monthly_usd"
LATENCY_P95 = "swen_latency_p95_ms"
AVAILABILITY = "swen_availability_ratio"
CREDITS = "swen_credits_usd"
GPU_AVAILABILITY = "swen_gpu_availability_ratio"
ERROR_RATE = "swen_error_rate_ratio"
PLACEMENT_INFO = "swen_placement_info"
SERVICE_BUDGET = "swen_service_budget_monthly_usd"
SERVICE_LATENCY_SLO = "swen_service_latency_slo_ms"
DECISIONS_TOTAL = "swen_decisions_total"
DECISION_CONFIDENCE = "swen_decision_confidence"
PIPELINE_STAGE_DURATION = "swen_pipeline_stage_duration_seconds"
SAVINGS_REALISED = "swen_savings_realised_monthly_usd"
OPEN_INCIDENTS = "swen_open_incidents"
REMEDIATION_ESCALATED = "swen_remediation_escalated"
ENGINE_HEARTBEAT = "swen_engine_heartbeat_timestamp_seconds"
HTTP_REQUEST_DURATION = "swen_http_request_duration_seconds"
ACTION_QUEUE_DEPTH = "swen_action_queue_depth"
CHANGE_BUDGET_IN_USE = "swen_change_budget_in_use"
CHANGE_BUDGET_LIMIT = "swen_change_budget_limit"

METRIC_NAMES: frozenset[str] = frozenset(
    {
        COST_MONTHLY, LATENCY_P95, AVAILABILITY, CREDITS, GPU_AVAILABILITY, ERROR_RATE, PLACEMENT_INFO,
        SERVICE_BUDGET, SERVICE_LATENCY_SLO, DECISIONS_TOTAL, DECISION_CONFIDENCE, PIPELINE_STAGE_DURATION,
        SAVINGS_REALISED, OPEN_INCIDENTS, REMEDIATION_ESCALATED, ENGINE_HEARTBEAT, HTTP_REQUEST_DURATION,
        ACTION_QUEUE_DEPTH, CHANGE_BUDGET_IN_USE, CHANGE_BUDGET_LIMIT,
    }
)  # fmt: skip
"""Every metric family SWEN exposes (names as they appear in the exposition, histograms without suffix)."""

CONFIDENCE_BUCKETS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
STAGE_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0)
HTTP_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)

ENGINE_HEARTBEAT_FLAG = EngineHeartbeat.key
"""Key of the state the engine loop saves every cycle (``swen.store.state.EngineHeartbeat``)."""
OPEN_INCIDENT_STATUSES = ("open", "remediating")
ESCALATED_STATUS = "escalated"

_SAMPLE_LABELS = ("service", "provider", "region")
_log = logging.getLogger(__name__)


def read_heartbeat(store: Store) -> datetime | None:
    """When the engine last beat (None if it never did, or the stored beat is unreadable)."""
    try:
        beat = store.load_state(EngineHeartbeat)
    except StateError as exc:
        _log.warning("ignoring the stored engine heartbeat: %s", exc)
        return None
    return None if beat is None else beat.ts


def parse_heartbeat(value: Any) -> datetime | None:
    """The time in a stored heartbeat value (every form ``EngineHeartbeat`` reads), else None."""
    if value is None:
        return None
    try:
        return parse_state(EngineHeartbeat, value).ts
    except StateError:
        return None


@dataclass(frozen=True, slots=True)
class _Gauge:
    name: str
    doc: str
    field: str


_SAMPLE_GAUGES = (
    _Gauge(COST_MONTHLY, "Monthly cost (hourly x 730 x replicas) of the service on the candidate.", "m"),
    _Gauge(LATENCY_P95, "p95 latency seen by the service's users on the candidate.", "latency_ms"),
    _Gauge(AVAILABILITY, "Availability (0-1) of the service on the candidate.", "availability"),
    _Gauge(CREDITS, "Unused credit balance usable on the provider, latest sample.", "credits_usd"),
    _Gauge(GPU_AVAILABILITY, "Chance (0-1) that the needed GPU capacity can be had now.", "gpu_availability"),
    _Gauge(ERROR_RATE, "Error rate (0-1) of the service on the candidate, latest sample.", "error_rate"),
)  # fmt: skip


def _histogram(
    family: HistogramMetricFamily, labels: list[str], counts: BucketCounts, bounds: Sequence[float]
) -> None:
    buckets = [(repr(float(b)), float(n)) for b, n in zip(bounds, counts.cumulative, strict=True)]
    buckets.append(("+Inf", float(counts.count)))
    family.add_metric(labels, buckets, counts.total)


class StoreCollector(Collector):
    """Reads the fleet's state from the store on every scrape."""

    def __init__(self, store: Store, *, budget: ChangeBudget | None = None) -> None:
        self._store = store
        self._budget = budget or ChangeBudget()

    def describe(self) -> Iterable[Metric]:
        return []  # no eager scrape at registration time

    def collect(self) -> Iterator[Metric]:
        fleet = self._store.list_services()
        running = running_services(self._store, services=fleet)
        yield from self._sample_metrics({name: r.replicas for name, r in running.items()})
        yield from self._service_metrics(fleet, running)
        yield from self._decision_metrics()
        yield from self._pipeline_metrics()
        yield from self._incident_metrics([s.name for s in fleet])
        yield from self._queue_metrics()
        heartbeat = GaugeMetricFamily(
            ENGINE_HEARTBEAT, "Unix time of the engine loop's last heartbeat (0: never beat)."
        )
        beat = read_heartbeat(self._store)
        heartbeat.add_metric([], beat.timestamp() if beat is not None else 0.0)
        yield heartbeat

    def _sample_metrics(self, replicas: dict[str, int]) -> Iterator[Metric]:
        """Per candidate, from its latest sample; the cost is the whole service's (x replicas)."""
        families = {g.name: GaugeMetricFamily(g.name, g.doc, labels=_SAMPLE_LABELS) for g in _SAMPLE_GAUGES}
        for s in self._store.latest_samples():
            labels = [s.service, s.provider, s.region]
            for g in _SAMPLE_GAUGES:
                if g.field == "m":
                    value = service_monthly_cost(s.instance_monthly_cost_usd, replicas.get(s.service, 1))
                else:
                    value = float(getattr(s, g.field))
                families[g.name].add_metric(labels, value)
        yield from families.values()

    def _service_metrics(
        self, fleet: Sequence[Service], running: Mapping[str, RunningService]
    ) -> Iterator[Metric]:
        placement = GaugeMetricFamily(
            PLACEMENT_INFO, "1 for the provider/region where the service runs now.", labels=_SAMPLE_LABELS
        )
        budget = GaugeMetricFamily(SERVICE_BUDGET, "Monthly budget of the service.", labels=["service"])
        slo = GaugeMetricFamily(
            SERVICE_LATENCY_SLO, "Latency SLO (p95, ms) of the service.", labels=["service"]
        )
        for svc in fleet:
            where = running[svc.name].placement
            placement.add_metric([svc.name, where.provider, where.region], 1.0)
            slo.add_metric([svc.name], svc.latency_slo_ms)
            if svc.monthly_budget_usd is not None:
                budget.add_metric([svc.name], svc.monthly_budget_usd)
        yield from (placement, budget, slo)

    def _decision_metrics(self) -> Iterator[Metric]:
        by_outcome = CounterMetricFamily(
            DECISIONS_TOTAL,
            "Decisions that reached each lifecycle status (from the audit log, so it never decreases).",
            labels=["outcome"],
        )
        confidence = HistogramMetricFamily(DECISION_CONFIDENCE, "Confidence of the decisions stored.")
        savings = GaugeMetricFamily(SAVINGS_REALISED, "Sum of net monthly savings of verified decisions.")
        for status, count in decision_status_entries(self._store).items():
            by_outcome.add_metric([status.value], float(count))
        _histogram(confidence, [], confidence_buckets(self._store, CONFIDENCE_BUCKETS), CONFIDENCE_BUCKETS)
        realised, _verified = savings_totals(self._store, [DecisionStatus.VERIFIED], migrations_only=False)
        savings.add_metric([], realised)
        yield from (by_outcome, confidence, savings)

    def _pipeline_metrics(self) -> Iterator[Metric]:
        family = HistogramMetricFamily(
            PIPELINE_STAGE_DURATION, "Duration of finished pipeline stages.", labels=["stage"]
        )
        for stage, counts in stage_duration_buckets(self._store, STAGE_BUCKETS).items():
            _histogram(family, [stage], counts, STAGE_BUCKETS)
        yield family

    def _incident_metrics(self, names: Sequence[str]) -> Iterator[Metric]:
        open_ = GaugeMetricFamily(OPEN_INCIDENTS, "Open incidents per service.", labels=["service"])
        escalated = GaugeMetricFamily(
            REMEDIATION_ESCALATED, "1 when self-healing gave up and asked a person.", labels=["service"]
        )
        open_counts = incidents_per_service(self._store, OPEN_INCIDENT_STATUSES)
        escalated_names = services_with_unresolved(self._store, ESCALATED_STATUS)
        for name in sorted(set(names) | set(open_counts) | escalated_names):
            open_.add_metric([name], float(open_counts.get(name, 0)))
            escalated.add_metric([name], 1.0 if name in escalated_names else 0.0)
        yield from (open_, escalated)

    def _queue_metrics(self) -> Iterator[Metric]:
        """The action queue (``store.actions``) and the change budget: in use and its limits."""
        queue = ActionQueue(self._store)
        depth = GaugeMetricFamily(ACTION_QUEUE_DEPTH, "Actions in the queue per state.", labels=["state"])
        for state, count in queue.counts().items():
            depth.add_metric([state], float(count))
        in_use = GaugeMetricFamily(
            CHANGE_BUDGET_IN_USE,
            "Change budget in use: open move MRs and applies in flight, per target provider ('all': fleet).",
            labels=["resource", "provider"],
        )
        use = queue.budget_use()
        in_use.add_metric(["open_mrs", "all"], float(use.open_mrs))
        in_use.add_metric(["applies", "all"], float(use.in_flight))
        for provider, count in sorted(use.open_mrs_by_provider.items()):
            in_use.add_metric(["open_mrs", provider], float(count))
        for provider, count in sorted(use.in_flight_by_provider.items()):
            in_use.add_metric(["applies", provider], float(count))
        limit = GaugeMetricFamily(
            CHANGE_BUDGET_LIMIT,
            "Change budget limits (fleet, and per provider).",
            labels=["resource", "scope"],
        )
        b = self._budget
        limit.add_metric(["open_mrs", "fleet"], float(b.fleet_mrs))
        limit.add_metric(["applies", "fleet"], float(b.fleet_applies))
        limit.add_metric(["open_mrs", "provider"], float(b.provider_mrs))
        limit.add_metric(["applies", "provider"], float(b.provider_applies))
        yield from (depth, in_use, limit)


@dataclass(frozen=True)
class ApiMetrics:
    """One registry per app: the store collector and this process's request histogram."""

    registry: CollectorRegistry
    http_request_duration: Histogram


def build_registry(store: Store | None, *, registry: CollectorRegistry | None = None) -> ApiMetrics:
    """A fresh registry (or ``registry``) holding every SWEN metric; the store part only if ``store``."""
    registry = registry if registry is not None else CollectorRegistry(auto_describe=False)
    http = Histogram(
        HTTP_REQUEST_DURATION,
        "API request duration by route template, method and status.",
        labelnames=("route", "method", "status"),
        buckets=HTTP_BUCKETS,
        registry=registry,
    )
    if store is not None:
        registry.register(StoreCollector(store))
    return ApiMetrics(registry=registry, http_request_duration=http)
