"""The whole loop with real git and real Terraform, no mocks of either.

From a fresh `swen init`: telemetry makes another provider clearly better for service-2; the engine
recommends; a merge request appears on a real branch of the bare remote whose diff is one entry of
terraform.tfvars; the pipeline runs all five stages; the policy auto-approves; apply changes the
placement; the next telemetry of the service comes from the new provider and the decision is verified.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from support.platform import Platform, make_platform
from swen.config import Settings
from swen.domain.decision import DecisionAction, DecisionStatus
from swen.domain.models import Placement
from swen.store.mrs import MergeRequestRepository, PipelineRepository
from swen.store.repository import Store
from swen.telemetry.runner import run_simulator

pytestmark = pytest.mark.skipif(shutil.which("terraform") is None, reason="needs terraform on PATH")

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


def _git(repo: Path, *args: str) -> str:
    out = subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True)
    return out.stdout


def _simulate(settings: Settings, store: Store, start: datetime, steps: int) -> datetime:
    run_simulator(settings, store, start=start, max_steps=steps, seed=11)
    return start + timedelta(seconds=settings.sim_interval_s * steps)


@pytest.fixture
def platform(tmp_path: Path) -> Platform:
    return make_platform(tmp_path / "home", sync=False, loop=True, sim_speed=1e9, verify_samples=3)


def test_recommendation_travels_through_git_and_terraform_and_is_verified(platform: Platform) -> None:
    settings, store, loop = platform.settings, platform.store, platform.loop
    origin = Path(settings.infra_remote_url)
    main_before = _git(origin, "rev-parse", "main").strip()

    t = _simulate(settings, store, T0, settings.window_size + 2)
    report = loop.cycle()

    assert not report.errors, report.errors
    moved = [store.get_decision(i).decision for i in report.recommendations]
    service2 = next(d for d in moved if d.service == "service-2")
    assert service2.action is DecisionAction.MIGRATE
    assert service2.current == Placement(provider="aws", region="us-east-1")
    assert service2.confidence.value > 0.85
    # service-2 breaks its 60 ms SLO on aws/us-east-1 (the demo fleet): an SLO repair, cheaper too
    assert service2.slo_repair
    assert service2.explanation.startswith("Move service-2 off aws/us-east-1: p95 "), service2.explanation
    assert "breaks its SLO 60 ms" in service2.explanation
    assert "the gate can auto-approve it" in service2.explanation

    # The MR lives on a real branch of the bare remote; its diff is one entry of terraform.tfvars.
    mr = next(m for m in MergeRequestRepository(store).list() if m.decision_id == service2.id)
    assert mr.branch.startswith("ai-rec/service-2-")
    branches = _git(origin, "branch", "--list", "--format=%(refname:short)").split()
    assert mr.branch in branches
    assert _git(origin, "diff", "--name-only", main_before, mr.branch).split() == ["infra/terraform.tfvars"]
    diff = _git(origin, "diff", "-U0", main_before, mr.branch, "--", "infra/terraform.tfvars")
    changed = [line for line in diff.splitlines() if line[:1] in "+-" and not line.startswith(("+++", "---"))]
    assert changed and all(
        any(key in line for key in ("provider", "region", "instance_type")) for line in changed
    ), diff

    # All five stages ran; the gate auto-approved; main now carries the change.
    run = PipelineRepository(store).latest_run(mr.id)
    assert run is not None
    assert [s.name for s in run.stages] == ["validate", "policy", "plan", "apply", "notify"]
    assert all(s.status == "success" for s in run.stages), [
        (s.name, s.status, s.log[-300:]) for s in run.stages
    ]
    assert run.policy_result is not None and run.policy_result["outcome"] == "auto_approve"
    assert _git(origin, "diff", "--name-only", main_before, "main").split() == ["infra/terraform.tfvars"]

    # Apply changed where the service runs; the decision waits for telemetry to confirm it.
    assert store.get_placements()["service-2"] == service2.target
    assert store.get_decision(service2.id).status is DecisionStatus.APPLIED

    # The next telemetry comes from the new placement and is healthy: the decision is verified.
    _simulate(settings, store, t, settings.verify_samples + 1)
    loop.cycle()
    assert store.get_decision(service2.id).status is DecisionStatus.VERIFIED
    latest = json.loads(settings.latest_telemetry_path.read_text())
    rows = [r for r in latest["samples"] if r["service"] == "service-2" and r.get("current")]
    assert [(r["provider"], r["region"]) for r in rows] == [
        (service2.target.provider, service2.target.region)
    ]
    history = [e.payload["to"] for e in store.decision_history(service2.id) if e.type == "decision_status"]
    assert history == ["mr_opened", "pipeline_running", "approved", "applied", "verified"]
    assert store.verify_audit().ok
