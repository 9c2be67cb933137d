"""Self-healing end to end with the real Prometheus and Alertmanager, real git and real Terraform.

The simulator runs in real time (one sample per second), the API serves ``/metrics`` and ``POST /alerts``
on a loopback port (uvicorn), Prometheus scrapes it with the fast profile and Alertmanager posts to it
with the bearer token from a credentials file. The engine's own detector and its automatic emergency
are off, so the move can only come from the alert: an outage of service-3's provider fires
ProviderOutage, the incident opens from Alertmanager, the engine quarantines the region and moves the
service on an ``emergency/...`` branch through the pipeline, verifies it from the new placement's
telemetry and resolves the incident with its time to recovery; the report is served by the API and
the CLI. The harness is the one bench/self_heal.py uses.

Binaries: Debian packages prometheus and prometheus-alertmanager (skipped locally without them, a
failure on CI), and terraform on PATH.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import httpx
import pytest
from typer.testing import CliRunner

from support.builders import decision
from support.platform import make_platform
from swen.cli import app as cli_app
from swen.domain.decision import DecisionStatus
from swen.domain.incidents import IncidentStatus
from swen.domain.keys import Role
from swen.healing.quarantine import Quarantine
from swen.moves import automation
from swen.store.keys import ApiKeyRepository
from swen.store.mrs import MergeRequestRepository, PipelineRepository

ROOT = Path(__file__).resolve().parents[2]


def _need(*names: str) -> None:
    missing = [n for n in names if shutil.which(n) is None]
    if missing:
        if os.environ.get("CI"):
            pytest.fail(
                f"CI requires {', '.join(missing)} (apt-get install prometheus prometheus-alertmanager)"
            )
        pytest.skip(f"not installed: {', '.join(missing)}")


def _bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("swen_bench_self_heal", ROOT / "bench" / "self_heal.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True).stdout


@pytest.mark.slow
def test_prometheus_alert_migrates_verifies_and_reports(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _need("prometheus", "prometheus-alertmanager", "terraform")
    bench = _bench()
    service, provider = bench.OUTAGE_SERVICE, bench.OUTAGE_PROVIDER
    with bench.Harness(tmp_path / "home", prometheus=True, engine_detector=False) as h:
        assert h.pump(h.quiet, timeout_s=120), f"platform did not settle: {h.errors}"
        before = h.store.get_placements()[service]
        assert before.key == f"{provider}/{bench.OUTAGE_REGION}"
        t0 = h.inject_outage()
        assert h.pump(lambda: h.incident() is not None, timeout_s=60), "no incident within 60 s of the outage"
        assert h.pump(h.resolved, timeout_s=60), f"not resolved within 60 s: {h.incident()}, {h.errors}"
        timings = h.timings("prometheus", t0)
        print(f"prometheus path: detected {timings.detected_s:.1f} s, applied {timings.applied_s:.1f} s, "
              f"verified {timings.verified_s:.1f} s after the outage")  # fmt: skip
        store, settings = h.store, h.settings

        incident = h.incident()
        assert incident.source == "alertmanager" and incident.kind == "outage"
        assert incident.status is IncidentStatus.RESOLVED
        assert incident.time_to_recovery_s is not None and incident.time_to_recovery_s > 0
        decision = store.get_decision(str(incident.decision_id))
        assert decision.decision.emergency and decision.status is DecisionStatus.VERIFIED
        # moved off the failed provider/region, which stays quarantined for everybody
        after = store.get_placements()[service]
        assert after == decision.decision.target and after != before
        assert any(q.placement == before.key and q.service == "*" for q in Quarantine(store).entries())
        # the change went through an emergency branch of the bare origin and the policy gate
        (mr,) = MergeRequestRepository(store).list(decision_id=decision.decision.id)
        assert mr.branch.startswith(f"emergency/{service}-{after.provider}-")
        assert (
            mr.branch in _git(Path(settings.infra_remote_url), "branch", "--format=%(refname:short)").split()
        )
        run = PipelineRepository(store).latest_run(mr.id)
        assert run is not None and run.policy_result is not None
        assert run.policy_result["outcome"] == "auto_approve"
        assert run.policy_result["input"]["decision"]["emergency"] is True
        assert any(
            r.startswith(("emergency_override", "cost_delta_ok")) for r in run.policy_result["reasons"]
        )
        assert not h.errors, h.errors

        # the post-incident report through the API (viewer key) and the CLI
        key = ApiKeyRepository(store).create("viewer", Role.VIEWER)[1]
        report = httpx.get(
            f"{h.api_url}/incidents/{incident.id}", headers={"Authorization": f"Bearer {key}"}, timeout=10
        )
        assert report.status_code == 200, report.text
        body = report.json()
        assert body["first_detector"]["source"] == "alertmanager"
        assert (
            body["decision"]["to"] == after.key and body["time_to_recovery_s"] == incident.time_to_recovery_s
        )
        assert body["policy"]["branch"] == mr.branch
        assert [a["alertname"] for a in body["alerts"]][:1] == ["ProviderOutage"]
        assert all(body["milestones"][m] for m in ("fault", "detected", "mr_opened", "applied", "verified"))
        monkeypatch.setenv("SWEN_HOME", str(settings.home))
        shown = CliRunner().invoke(cli_app, ["incident", "show", str(incident.id), "--json"])
        assert shown.exit_code == 0, shown.output
        assert json.loads(shown.output)["incident"]["status"] == "resolved"


def test_paused_automation_turns_an_auto_approval_into_a_wait_for_a_person(tmp_path: Path) -> None:
    _need("terraform")
    env = make_platform(tmp_path / "home")
    automation.set_paused(env.store, True, by="oncall", reason="change freeze")
    mr = env.committer.propose(decision("d-paused"))
    run = env.driver.run(mr.id).run
    assert run.status.value == "awaiting_approval"
    stored = env.store.get_decision("d-paused")
    assert stored.status is DecisionStatus.AWAITING_APPROVAL
    waiting = [
        e for e in env.store.decision_history("d-paused") if e.payload.get("to") == "awaiting_approval"
    ]
    reasons = waiting[-1].payload["detail"]["reasons"]
    assert reasons and reasons[0].startswith("automation_paused")
    # a person's approval still applies while paused
    env.approve_and_apply(mr.id, "alice")
    assert env.store.get_decision("d-paused").status is DecisionStatus.APPLIED
