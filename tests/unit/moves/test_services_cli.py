"""`swen services`: where each service runs and its monthly cost, as running_services says."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from swen.cli import app, core_cmds
from swen.config import Settings
from swen.domain.models import Placement, Service, ServiceShape, TelemetrySample
from swen.store.repository import Store

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
AWS = Placement(provider="aws", region="us-east-1")
GCP = Placement(provider="gcp", region="us-central1")


def _service(name: str, replicas: int) -> Service:
    return Service(
        name=name, shape=ServiceShape(vcpus=2, memory_gib=8), latency_slo_ms=100.0, users_region=AWS,
        current=AWS, replicas=replicas,
    )  # fmt: skip


def _sample(service: str, where: Placement, hourly: float) -> TelemetrySample:
    return TelemetrySample(
        service=service, provider=where.provider, region=where.region, ts=T0, instance_type="n2.large",
        hourly_cost_usd=hourly, latency_ms=30.0, credits_usd=0.0, gpu_availability=1.0,
        availability=0.999, error_rate=0.001,
    )  # fmt: skip


def test_services_lists_placement_replicas_and_the_whole_service_cost(
    swen_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SWEN_HOME", str(swen_home))
    monkeypatch.setattr(core_cmds.console, "width", 200)
    with Store.open(Settings(home=swen_home)) as store:
        store.upsert_services([_service("web", 3), _service("db", 1)])
        store.record_placement("web", GCP, decision_id="d-1", at=T0)
        store.insert_samples([_sample("web", GCP, 2.0), _sample("web", AWS, 9.0)])

    result = CliRunner().invoke(app, ["services"])

    assert result.exit_code == 0, result.output
    rows = {line.split()[1]: line for line in result.stdout.splitlines() if line.startswith("│ ")}
    assert "gcp/us-central1" in rows["web"] and " 3 " in rows["web"] and "4,380" in rows["web"]  # 2 x 730 x 3
    assert "aws/us-east-1 (fleet file)" in rows["db"] and " - " in rows["db"]  # no sample there yet
