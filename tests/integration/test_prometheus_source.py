"""Telemetry from a real Prometheus: the same data through the simulator path and through PromQL
gives the same samples and the same decisions.

A week would do as well as a minute; a dozen engine ticks are what one decision window needs. The
simulator's samples are written as the series a team's Prometheus holds (a latency histogram, request
counters, gauges; labels named app/cloud/location/machine), turned into TSDB blocks with
``promtool tsdb create-blocks-from openmetrics`` and served by a real ``prometheus``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from support.openmetrics import LABELS, bucket_increments, openmetrics
from support.prometheus import need_prometheus, prometheus_with
from swen.config import PrometheusLabels, PrometheusSettings, Settings
from swen.domain.decision import DecisionAction
from swen.domain.errors import TelemetryError
from swen.loop import EngineLoop
from swen.store.repository import Store
from swen.telemetry.fleet import load_fleet
from swen.telemetry.prometheus import PrometheusSource, Queries
from swen.telemetry.runner import run_simulator
from swen.telemetry.source import collect_cycle

pytestmark = pytest.mark.slow
FIELDS = ("hourly_cost_usd", "latency_ms", "credits_usd", "gpu_availability", "availability", "error_rate")


def test_buckets_interpolate_to_the_latency() -> None:
    # histogram_quantile's rule: lower + (upper - lower) * (rank - below) / (in the bucket)
    bounds = (0.0, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 120, 600, 3600)
    for latency in (0.001, 0.0049, 0.03, 0.0999, 0.24, 7.5, 500.0):
        counts = bucket_increments(latency)
        assert counts == sorted(counts) and counts[-1] == 1000
        i = next(k for k, c in enumerate(counts) if c >= 950)
        assert i > 0  # never in the le="0" bucket
        share = (950 - counts[i - 1]) / (counts[i] - counts[i - 1])
        assert bounds[i - 1] + (bounds[i] - bounds[i - 1]) * share == pytest.approx(latency, rel=1e-12)


def test_queries_use_the_configured_labels_and_metrics() -> None:
    config = PrometheusSettings(url="http://p:9090", window="2m", labels=PrometheusLabels(service="app"))
    q = Queries.from_settings(config)
    assert q.latency_ms == (
        "histogram_quantile(0.95, sum by (le, app, provider, region) "
        "(rate(http_request_duration_seconds_bucket[2m]))) * 1000"
    )
    assert 'http_requests_total{code=~"5.."}[2m]' in q.error_rate
    assert q.credits_usd == "max by (provider) (last_over_time(swen_credits_usd[2m]))"


def test_the_engine_decides_the_same_from_prometheus_as_from_the_simulator(tmp_path: Path) -> None:
    need_prometheus()
    # the simulator path
    start = (datetime.now(UTC) - timedelta(hours=3)).replace(second=0, microsecond=0)
    sim_settings = Settings(home=tmp_path / "sim")
    sim_settings.home.mkdir()
    interval = sim_settings.sim_interval_s
    steps = sim_settings.window_size + 2
    with Store.open(sim_settings) as sim_store:
        run_simulator(sim_settings, sim_store, start=start, max_steps=steps, seed=11)
        recorded = sim_store.samples_between(start=start, end=start + timedelta(seconds=interval * steps))
        sim_report = EngineLoop(sim_settings, sim_store, anomaly_detection=False).cycle()
        sim_decisions = {d.decision.service: d.decision for d in sim_store.list_decisions()}
    assert len(recorded) > 100 and sim_report.ticks == steps

    # the same data in a real Prometheus, read back through PromQL
    prometheus = PrometheusSettings(
        url="http://placeholder", window=f"{int(interval * 1.5)}s", labels=PrometheusLabels(**LABELS)
    )
    with prometheus_with(openmetrics(recorded, interval), tmp_path / "prometheus") as url:
        prom_settings = Settings(
            home=tmp_path / "prom",
            telemetry_source="prometheus",
            prometheus=prometheus.model_copy(update={"url": url}),
        )
        prom_settings.home.mkdir()
        services = load_fleet(prom_settings.fleet_file)
        source = PrometheusSource(prom_settings.prometheus, services)
        with Store.open(prom_settings) as store:
            store.upsert_services(services)
            times = sorted({s.ts for s in recorded})
            for at in times:
                collect_cycle(prom_settings, store, source, at)
                assert source.incomplete == 0 and source.skipped == []
            read = store.samples_between(start=start, end=times[-1] + timedelta(seconds=1))
            report = EngineLoop(prom_settings, store, anomaly_detection=False).cycle()
            decisions = {d.decision.service: d.decision for d in store.list_decisions()}

        # a query Prometheus refuses is one TelemetryError naming the query
        bad = PrometheusSource(prom_settings.prometheus.model_copy(update={"window": "0s"}), services)
        with pytest.raises(TelemetryError, match="Prometheus refused the query"):
            bad.collect(times[-1], {})
    with pytest.raises(TelemetryError, match="cannot reach Prometheus"):
        PrometheusSource(prom_settings.prometheus, services, client=httpx.Client(timeout=1)).collect(
            times[-1], {}
        )

    # the same samples ...
    key = lambda s: (s.ts, s.service, s.provider, s.region)  # noqa: E731
    assert [key(s) for s in sorted(read, key=key)] == [key(s) for s in sorted(recorded, key=key)]
    for got, want in zip(sorted(read, key=key), sorted(recorded, key=key), strict=True):
        assert got.instance_type == want.instance_type and got.simulated_price == want.simulated_price
        for name in FIELDS:
            assert getattr(got, name) == pytest.approx(getattr(want, name), rel=1e-9, abs=1e-9), (
                name,
                key(got),
            )
    # ... and the same decisions
    assert report.ticks == steps and set(decisions) == set(sim_decisions)
    for service, want in sim_decisions.items():
        got = decisions[service]
        assert (got.action, got.current, got.target) == (want.action, want.current, want.target), service
        assert got.confidence.value == pytest.approx(want.confidence.value, abs=1e-9)
        assert got.savings.net_monthly_usd == pytest.approx(want.savings.net_monthly_usd, abs=1e-6)
    assert any(d.action is DecisionAction.MIGRATE for d in decisions.values())
    assert sorted(report.recommendations) == sorted(sim_report.recommendations)


def test_swen_simulate_collects_from_prometheus_when_the_settings_say_so(tmp_path: Path) -> None:
    need_prometheus()
    now = datetime.now(UTC).replace(microsecond=0)
    sim_settings = Settings(home=tmp_path / "sim")
    sim_settings.home.mkdir()
    with Store.open(sim_settings) as sim_store:
        start = now - timedelta(seconds=sim_settings.sim_interval_s * 3)
        run_simulator(sim_settings, sim_store, start=start, max_steps=4, seed=3)
        recorded = sim_store.samples_between(start=start, end=now + timedelta(seconds=1))
    with prometheus_with(openmetrics(recorded, sim_settings.sim_interval_s), tmp_path / "prometheus") as url:
        settings = Settings(
            home=tmp_path / "prom",
            telemetry_source="prometheus",
            prometheus=PrometheusSettings(url=url, window="10m", labels=PrometheusLabels(**LABELS)),
        )
        settings.home.mkdir()
        with Store.open(settings) as store:
            run = run_simulator(settings, store, once=True)
            latest = store.latest_samples()
    assert run.steps == 1 and run.samples == len(latest) > 0
    newest = max(r.ts for r in recorded)
    for sample in latest:  # read at wall time: gauges give their last point, rates span the window
        series = [
            r
            for r in recorded
            if (r.service, r.provider, r.region) == (sample.service, sample.provider, sample.region)
        ]
        last = next(r for r in series if r.ts == newest)
        assert (sample.hourly_cost_usd, sample.availability) == (last.hourly_cost_usd, last.availability)
        latencies = [r.latency_ms for r in series]
        assert min(latencies) - 1e-6 <= sample.latency_ms <= max(latencies) + 1e-6
