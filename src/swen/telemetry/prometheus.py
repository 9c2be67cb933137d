"""Telemetry from the team's own Prometheus (``telemetry_source: prometheus``).

One instant query per quantity, evaluated at the cycle's time through the HTTP API
(``GET /api/v1/query?query=...&time=...``), grouped by the labels the settings name
(``prometheus.labels``: which label is the service, the provider, the region)::

    latency_ms        histogram_quantile(0.95, sum by (le, S, P, R) (rate(H_bucket[W]))) * 1000
    error_rate        (sum by (S, P, R) (rate(REQ{ERR}[W])) or 0 * sum by (S, P, R) (rate(REQ[W])))
                        / sum by (S, P, R) (rate(REQ[W]))
    availability      max by (S, P, R) (last_over_time(AVAIL[W]))
    hourly_cost_usd   max by (S, P, R, I) (last_over_time(COST[W]))      (I: the instance type label)
    gpu_availability  max by (S, P, R) (last_over_time(GPU[W]))
    credits_usd       max by (P) (last_over_time(CREDITS[W]))           (a balance per provider)

(``H``, ``REQ``, ``ERR``, ``AVAIL``, ``COST``, ``GPU``, ``CREDITS``: ``prometheus.metrics``; ``W``:
``prometheus.window``.) A (service, provider, region) becomes a sample only when every quantity has a
value; the others are counted in ``PrometheusSource.incomplete`` and left out, never filled with a
guess. Every label value is validated as a name (``swen.domain.names``) before it becomes a sample,
and only services of the fleet are kept. HTTP, JSON and API errors become a ``TelemetryError``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx

from swen.config import PrometheusSettings
from swen.domain.errors import InvalidInputError, TelemetryError
from swen.domain.models import Placement, Service, TelemetrySample
from swen.domain.names import validate_location_name, validate_service_name
from swen.domain.providers import PROVIDERS

QUANTILE = 0.95
_Key = tuple[str, str, str]


@dataclass(frozen=True)
class Queries:
    """The PromQL of each quantity, built from the settings (metric and label names are validated
    there, so they can be put into PromQL as they are)."""

    latency_ms: str
    error_rate: str
    availability: str
    hourly_cost_usd: str
    gpu_availability: str
    credits_usd: str

    @classmethod
    def from_settings(cls, config: PrometheusSettings) -> Queries:
        m, lb, w = config.metrics, config.labels, config.window
        by = f"{lb.service}, {lb.provider}, {lb.region}"
        requests = f"sum by ({by}) (rate({m.requests_total}[{w}]))"
        errors = f"sum by ({by}) (rate({m.requests_total}{{{m.error_matcher}}}[{w}]))"
        return cls(
            latency_ms=f"histogram_quantile({QUANTILE}, sum by (le, {by}) "
            f"(rate({m.latency_histogram}_bucket[{w}]))) * 1000",
            error_rate=f"({errors} or 0 * {requests}) / {requests}",
            availability=f"max by ({by}) (last_over_time({m.availability}[{w}]))",
            hourly_cost_usd=f"max by ({by}, {lb.instance_type}) (last_over_time({m.hourly_cost}[{w}]))",
            gpu_availability=f"max by ({by}) (last_over_time({m.gpu_availability}[{w}]))",
            credits_usd=f"max by ({lb.provider}) (last_over_time({m.credits}[{w}]))",
        )


@dataclass
class PrometheusSource:
    """The team's Prometheus as a telemetry source (see the module docstring)."""

    config: PrometheusSettings
    services: Iterable[Service]
    client: httpx.Client | None = None
    name: str = "prometheus"
    incomplete: int = 0
    """(service, provider, region) groups left out of the last cycle for a missing quantity."""
    skipped: list[str] = field(default_factory=list)
    """Why series were ignored in the last cycle (a bad label value, a service not in the fleet)."""

    def __post_init__(self) -> None:
        if not self.config.url:
            raise TelemetryError("no Prometheus URL", hint="set prometheus.url in swen.yaml")
        self.queries = Queries.from_settings(self.config)
        self._fleet = {s.name for s in self.services}
        self._client = self.client or httpx.Client(timeout=self.config.timeout_s)

    def close(self) -> None:
        if self.client is None:
            self._client.close()

    def collect(self, at: datetime, placements: Mapping[str, Placement]) -> list[TelemetrySample]:
        """Every complete (service, provider, region) at ``at`` (``placements`` is not needed: the
        series say where each measurement comes from)."""
        self.skipped = []
        q = self.queries
        latency = self._by_group(self.query(q.latency_ms, at))
        errors = self._by_group(self.query(q.error_rate, at))
        availability = self._by_group(self.query(q.availability, at))
        gpu = self._by_group(self.query(q.gpu_availability, at))
        cost = self._cost(self.query(q.hourly_cost_usd, at))
        credits = self._credits(self.query(q.credits_usd, at))
        samples: list[TelemetrySample] = []
        keys = set(latency) | set(errors) | set(availability) | set(gpu) | set(cost)
        self.incomplete = 0
        for key in sorted(keys):
            service, provider, region = key
            lat, err, avail, gpu_avail = (
                latency.get(key),
                errors.get(key),
                availability.get(key),
                gpu.get(key),
            )
            priced = cost.get(key)
            if lat is None or err is None or avail is None or gpu_avail is None or priced is None:
                self.incomplete += 1
                continue
            if provider not in credits:
                self.incomplete += 1
                continue
            instance_type, hourly = priced
            samples.append(
                TelemetrySample(
                    service=service,
                    provider=provider,
                    region=region,
                    ts=at,
                    instance_type=instance_type,
                    hourly_cost_usd=hourly,
                    latency_ms=lat,
                    credits_usd=credits[provider],
                    gpu_availability=_ratio(gpu_avail),
                    availability=_ratio(avail),
                    error_rate=_ratio(err),
                    simulated_price=_simulated(provider),
                )
            )
        return samples

    # --- the HTTP API ---------------------------------------------------------------------------
    def query(self, promql: str, at: datetime) -> list[dict[str, Any]]:
        """The instant vector of ``promql`` at ``at``: a list of ``{"metric": {...}, "value": [t, "v"]}``."""
        url = f"{str(self.config.url).rstrip('/')}/api/v1/query"
        try:
            response = self._client.get(url, params={"query": promql, "time": f"{at.timestamp():.3f}"})
        except httpx.HTTPError as exc:
            raise TelemetryError(
                f"cannot reach Prometheus at {self.config.url}: {exc}",
                hint="check prometheus.url and that Prometheus is up",
            ) from None
        try:
            body = response.json()
        except ValueError:
            raise TelemetryError(
                f"Prometheus answered HTTP {response.status_code} without JSON",
                hint="check prometheus.url: it must be the server's base URL",
            ) from None
        if response.status_code != 200 or body.get("status") != "success":
            raise TelemetryError(
                f"Prometheus refused the query ({body.get('errorType', response.status_code)}: "
                f"{body.get('error', '')}): {promql}",
                hint="check the metric and label names under prometheus in swen.yaml",
            )
        data = body.get("data") or {}
        if data.get("resultType") != "vector" or not isinstance(data.get("result"), list):
            raise TelemetryError(f"Prometheus returned {data.get('resultType')!r}, not a vector: {promql}")
        return list(data["result"])

    # --- reading the vectors --------------------------------------------------------------------
    def _key(self, metric: Mapping[str, str]) -> _Key | None:
        labels = self.config.labels
        raw = (metric.get(labels.service), metric.get(labels.provider), metric.get(labels.region))
        if any(v is None for v in raw):
            self.skipped.append(
                f"series without {labels.service}/{labels.provider}/{labels.region}: {metric}"
            )
            return None
        service, provider, region = (str(v) for v in raw)
        try:
            validate_service_name(service)
            validate_location_name(provider, "provider")
            validate_location_name(region, "region")
            PROVIDERS.get(provider)
        except (InvalidInputError, KeyError) as exc:
            self.skipped.append(str(exc))
            return None
        if service not in self._fleet:
            self.skipped.append(f"service {service!r} is not in the fleet")
            return None
        return service, provider, region

    def _by_group(self, vector: list[dict[str, Any]]) -> dict[_Key, float]:
        out: dict[_Key, float] = {}
        for item in vector:
            key = self._key(item.get("metric") or {})
            value = _value(item)
            if key is not None and value is not None:
                out[key] = value
        return out

    def _cost(self, vector: list[dict[str, Any]]) -> dict[_Key, tuple[str, float]]:
        out: dict[_Key, tuple[str, float]] = {}
        label = self.config.labels.instance_type
        for item in vector:
            metric = item.get("metric") or {}
            key, value, instance_type = self._key(metric), _value(item), metric.get(label)
            if key is None or value is None or not instance_type or len(instance_type) > 64:
                continue
            out[key] = (str(instance_type), value)
        return out

    def _credits(self, vector: list[dict[str, Any]]) -> dict[str, float]:
        out: dict[str, float] = {}
        for item in vector:
            provider, value = (item.get("metric") or {}).get(self.config.labels.provider), _value(item)
            if provider is not None and value is not None and provider in PROVIDERS.names():
                out[str(provider)] = max(value, 0.0)
        return out


def _value(item: Mapping[str, Any]) -> float | None:
    """The sample value of one vector element; None for NaN/Inf (e.g. histogram_quantile on no data)."""
    try:
        value = float(item["value"][1])
    except (KeyError, IndexError, TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def _ratio(value: float) -> float:
    return min(max(value, 0.0), 1.0)


def _simulated(provider: str) -> bool:
    return PROVIDERS.get(provider).simulated_prices
