"""Telemetry samples written as the series a team's Prometheus would hold (OpenMetrics text for
``promtool tsdb create-blocks-from openmetrics``), in the shape ``swen.telemetry.prometheus`` reads:

- ``http_request_duration_seconds`` histogram (fixed buckets): per interval 1000 observations spread so
  that ``histogram_quantile(0.95, rate(...))`` is exactly the sample's p95 latency;
- ``http_requests_total{code="200"|"500"}`` counters: 1000 requests per interval, the error share;
- gauges: availability, hourly cost (with the instance type label), GPU availability, credits per
  provider.

Counters start one interval before the first sample, so ``rate()`` has a value at every sample time
when the window holds two points (``window`` > interval, < two intervals). They start at
``COUNTER_START``, as counters of a process that has run for a while: Prometheus limits a rate's
extrapolation at the point where a counter would reach zero, per series, so counters starting at 0
would be scaled unlike their neighbours whenever a bucket's count jumps between two samples (the
interpolated p95 then drifts by a few ms).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime

from swen.domain.models import TelemetrySample

BUCKETS = (0.0, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 120.0, 600.0, 3600.0)
PER_INTERVAL = 1000.0
COUNTER_START = 1e6
LABELS = {"service": "app", "provider": "cloud", "region": "location", "instance_type": "machine"}
"""Label names unlike SWEN's defaults: the mapping must come from the settings."""


def bucket_increments(latency_s: float) -> list[float]:
    """Cumulative counts per bucket (BUCKETS, then +Inf) whose interpolated p95 is ``latency_s``."""
    upper = next(i for i, b in enumerate(BUCKETS) if i > 0 and latency_s <= b)  # le="0" holds "below"
    a, b = BUCKETS[upper - 1], BUCKETS[upper]
    f = (latency_s - a) / (b - a)
    rank = 0.95 * PER_INTERVAL
    if f <= 0.95:  # x observations at or below a, the rest up to b
        below, at_b = (rank - PER_INTERVAL * f) / (1 - f), PER_INTERVAL
    else:  # none below a, rank/f up to b, the rest above
        below, at_b = 0.0, rank / f
    return [below if i < upper else at_b if i == upper else (at_b if i < len(BUCKETS) else PER_INTERVAL)
            for i in range(len(BUCKETS) + 1)]  # fmt: skip


def _labels(pairs: dict[str, str]) -> str:
    return "{" + ",".join(f'{k}="{v}"' for k, v in pairs.items()) + "}"


def openmetrics(samples: Sequence[TelemetrySample], interval_s: float) -> str:
    times = sorted({s.ts for s in samples})
    by_series: dict[tuple[str, str, str], dict[datetime, TelemetrySample]] = defaultdict(dict)
    for s in samples:
        by_series[(s.service, s.provider, s.region)][s.ts] = s
    start = times[0].timestamp() - interval_s

    def base(key: tuple[str, str, str]) -> dict[str, str]:
        return {LABELS["service"]: key[0], LABELS["provider"]: key[1], LABELS["region"]: key[2]}

    out: list[str] = []
    # the latency histogram
    out.append("# TYPE http_request_duration_seconds histogram")
    for key, series in sorted(by_series.items()):
        les = [*(f"{b:g}" for b in BUCKETS), "+Inf"]
        cumulative = [COUNTER_START] * len(les)
        rows: list[list[tuple[float, float]]] = [[(start, COUNTER_START)] for _ in les]
        for ts in times:
            for i, inc in enumerate(bucket_increments(series[ts].latency_ms / 1000)):
                cumulative[i] += inc
                rows[i].append((ts.timestamp(), cumulative[i]))
        for le, points in zip(les, rows, strict=True):
            labels = _labels(base(key) | {"le": le})
            out.extend(f"http_request_duration_seconds_bucket{labels} {v!r} {t:.3f}" for t, v in points)
    # requests and errors
    out.append("# TYPE http_requests counter")
    for key, series in sorted(by_series.items()):
        for code in ("200", "500"):
            total, points = COUNTER_START, [(start, COUNTER_START)]
            for ts in times:
                errors = series[ts].error_rate * PER_INTERVAL
                total += errors if code == "500" else PER_INTERVAL - errors
                points.append((ts.timestamp(), total))
            labels = _labels(base(key) | {"code": code})
            out.extend(f"http_requests_total{labels} {v!r} {t:.3f}" for t, v in points)
    # gauges
    for name, field in (
        ("swen_availability_ratio", "availability"),
        ("swen_gpu_availability_ratio", "gpu_availability"),
        ("swen_hourly_cost_usd", "hourly_cost_usd"),
    ):
        out.append(f"# TYPE {name} gauge")
        for key, series in sorted(by_series.items()):
            for ts in times:
                s = series[ts]
                extra = {LABELS["instance_type"]: s.instance_type} if field == "hourly_cost_usd" else {}
                out.append(f"{name}{_labels(base(key) | extra)} {getattr(s, field)!r} {ts.timestamp():.3f}")
    out.append("# TYPE swen_credits_usd gauge")
    credits: dict[str, dict[datetime, float]] = defaultdict(dict)
    for s in samples:
        assert (
            credits[s.provider].setdefault(s.ts, s.credits_usd) == s.credits_usd
        )  # one balance per provider
    for provider, points in sorted(credits.items()):
        out.extend(
            f"swen_credits_usd{_labels({LABELS['provider']: provider})} {v!r} {ts.timestamp():.3f}"
            for ts, v in sorted(points.items())
        )
    out.append("# EOF")
    return "\n".join(out) + "\n"
