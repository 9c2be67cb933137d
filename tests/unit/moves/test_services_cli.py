"""`swen services`: where each service runs and its monthly cost, as running_services says."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from support.builders import service, telemetry_sample
from swen.cli import app, core_cmds
from swen.config import Settings
from swen.domain.models import Placement
from swen.store.repository import Store

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
AWS = Placement(provider="aws", region="us-east-1")
GCP = Placement(provider="gcp", region="us-central1")


def test_services_lists_placement_replicas_and_the_whole_service_cost(
    swen_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SWEN_HOME", str(swen_home))
    monkeypatch.setattr(core_cmds.console, "width", 200)
    with Store.open(Settings(home=swen_home)) as store:
        store.upsert_services([service("web", replicas=3), service("db", replicas=1)])
        store.record_placement("web", GCP, decision_id="d-1", at=T0)
        store.insert_samples(
            [telemetry_sample("web", GCP, ts=T0, hourly=2.0), telemetry_sample("web", AWS, ts=T0, hourly=9.0)]
        )

    result = CliRunner().invoke(app, ["services"])

    assert result.exit_code == 0, result.output
    rows = {line.split()[1]: line for line in result.stdout.splitlines() if line.startswith("│ ")}
    assert "gcp/us-central1" in rows["web"] and " 3 " in rows["web"] and "4,380" in rows["web"]  # 2 x 730 x 3
    assert "aws/us-east-1 (fleet file)" in rows["db"] and " - " in rows["db"]  # no sample there yet
