"""A team's own infra repository, laid out unlike the template, adopted and driven end to end.

The repository has its Terraform root in ``envs/prod`` (a ``terraform_data`` stand-in for the real
providers: no provider download), the placement map in ``config/prod/placement.tfvars`` under the
variable ``placements`` with entries of three keys, and its own remote. ``swen.yaml``-style settings
describe it; ``swen init --adopt`` checks it without changing it; the engine's recommendation then goes
through a merge request on a prefixed branch, the pipeline (validate, policy, plan, apply) with real
git and real terraform, and verification from the new placement's telemetry.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from support.cli import make_swen
from support.platform import Platform, make_platform
from swen.config import Settings
from swen.domain.decision import DecisionAction, DecisionStatus
from swen.domain.errors import GitOpsError
from swen.gitops.adopt import check_repository
from swen.gitops.repo import init_infra_repo
from swen.gitops.template import locate_template
from swen.gitops.tfvars import read_placements, render_entry, terraform_fmt
from swen.store.mrs import MergeRequestRepository, PipelineRepository
from swen.store.repository import Store
from swen.telemetry.fleet import load_fleet
from swen.telemetry.runner import run_simulator

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("terraform") is None, reason="needs terraform on PATH"),
]

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
ROOT = "envs/prod"
DR_ROOT = "envs/dr"
TFVARS = "config/prod/placement.tfvars"
VARIABLE = "placements"

STAND_IN = """\
# Stand-in for the production root: one terraform_data per service instead of real compute.
terraform {
  backend "local" {}
}

variable "placements" {
  type = map(object({
    provider      = string
    region        = string
    instance_type = optional(string, "")
  }))
}

resource "terraform_data" "placement" {
  for_each = var.placements

  input = {
    provider      = each.value.provider
    region        = each.value.region
    instance_type = each.value.instance_type
  }

  triggers_replace = [each.value.provider, each.value.region]
}

output "placements" {
  value = {
    for name, r in terraform_data.placement : name => {
      provider = r.output.provider
      region   = r.output.region
    }
  }
}
"""


def git(*args: str, cwd: Path) -> str:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True).stdout


def team_repository(
    tmp_path: Path, *, without: tuple[str, ...] = (), extra: dict[str, str] | None = None
) -> tuple[Path, Path]:
    """A clone and its bare remote, laid out unlike the template (``without``: services not in the map)."""
    remote, clone = tmp_path / "team-infra.git", tmp_path / "team-infra"
    git("init", "--quiet", "--bare", "--initial-branch=main", str(remote), cwd=tmp_path)
    git("clone", "--quiet", str(remote), str(clone), cwd=tmp_path)
    (clone / ROOT).mkdir(parents=True)
    (clone / ROOT / "main.tf").write_text(STAND_IN)
    (clone / DR_ROOT).mkdir(parents=True)
    (clone / DR_ROOT / "main.tf").write_text(STAND_IN)  # a second region, from the same map
    template = read_placements(locate_template().tfvars.read_text())
    entries = [
        render_entry(
            name,
            {"provider": e.provider, "region": e.region, "instance_type": e.instance_type or ""}
            | (extra or {}),
        )
        for name, e in template.items()
        if name not in without
    ]
    text = "# Where each service runs (edited by SWEN).\nplacements = {\n" + "\n\n".join(entries) + "\n}\n"
    (clone / TFVARS).parent.mkdir(parents=True)
    (clone / TFVARS).write_text(terraform_fmt(text))
    (clone / "README.md").write_text("team infra\n")
    git("add", "--all", cwd=clone)
    git(
        "-c",
        "user.name=Team",
        "-c",
        "user.email=team@example.com",
        "commit",
        "--quiet",
        "-m",
        "infra",
        cwd=clone,
    )
    git("push", "--quiet", "origin", "main", cwd=clone)
    return clone, remote


def layout(clone: Path) -> dict[str, Any]:
    return {
        "infra_repo": clone,
        "terraform_root": ROOT,
        "placements_file": TFVARS,
        "placements_variable": VARIABLE,
        "branch_prefix": "swen/",
    }


def _simulate(settings: Settings, store: Store, start: datetime, steps: int) -> datetime:
    run_simulator(settings, store, start=start, max_steps=steps, seed=11)
    return start + timedelta(seconds=settings.sim_interval_s * steps)


def _snapshot(clone: Path) -> tuple[str, str, str]:
    return (
        git("status", "--porcelain", "--ignored", cwd=clone),
        git("for-each-ref", cwd=clone),
        (clone / ".git" / "config").read_text(),
    )


def test_adopt_reports_every_mismatch_and_changes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    clone, _remote = team_repository(tmp_path, without=("search-api",))
    before = _snapshot(clone)
    swen = make_swen(capsys, monkeypatch)
    env = {"SWEN_HOME": str(tmp_path / "home")}

    # the template's defaults do not describe this repository: each difference is named with its fix
    run = swen("init", "--adopt", str(clone), env=env)
    assert run.code == 1
    assert "MISMATCH placement file" in run.out and "config/prod/placement.tfvars" in run.out
    assert "MISMATCH terraform root" in run.out and "infra/envs/sim has no .tf files" in run.out

    # the right layout matches, except the fleet service without an entry
    env |= {
        "SWEN_TERRAFORM_ROOT": ROOT,
        "SWEN_PLACEMENTS_FILE": TFVARS,
        "SWEN_PLACEMENTS_VARIABLE": VARIABLE,
    }
    run = swen("init", "--adopt", str(clone), env=env)
    assert run.code == 1
    mismatches = [line for line in run.out.splitlines() if line.startswith("MISMATCH")]
    assert len(mismatches) == 1 and "search-api" in mismatches[0], run.out
    assert "ok       state backend" in run.out and "ok       placements output" in run.out

    # a wrong variable name lists the variables the file has
    run = swen("init", "--adopt", str(clone), env=env | {"SWEN_PLACEMENTS_VARIABLE": "service_placement"})
    assert "variables in config/prod/placement.tfvars: placements" in run.out
    assert _snapshot(clone) == before  # nothing was written, not even git config
    assert not (tmp_path / "home").exists()


def test_adopt_names_a_missing_remote_and_init_refuses_to_invent_one(tmp_path: Path) -> None:
    clone, _remote = team_repository(tmp_path)
    git("remote", "remove", "origin", cwd=clone)
    settings = Settings(home=tmp_path / "home", **layout(clone))
    report = check_repository(clone, settings, load_fleet())
    assert [c.what for c in report.mismatches] == ["remote"]
    with pytest.raises(GitOpsError, match="has no remote 'origin'"):
        init_infra_repo(settings)
    assert git("remote", cwd=clone) == ""  # no local bare origin was added
    assert not (tmp_path / "home" / "origin.git").exists()


def test_init_refuses_a_repository_that_does_not_match(tmp_path: Path) -> None:
    clone, _remote = team_repository(tmp_path)
    settings = Settings(home=tmp_path / "home", infra_repo=clone)  # the template's layout
    with pytest.raises(GitOpsError, match="does not match the settings") as caught:
        init_infra_repo(settings)
    assert "infra/terraform.tfvars on origin/main is missing" in caught.value.message
    assert "user.name" not in (clone / ".git" / "config").read_text()  # nothing written


@pytest.mark.parametrize("missing_entry", [False, True], ids=["entry-on-main", "entry-added-by-the-move"])
def test_a_decision_goes_through_mr_plan_apply_and_verification(tmp_path: Path, missing_entry: bool) -> None:
    clone, remote = team_repository(tmp_path, without=("service-2",) if missing_entry else ())
    env: Platform = make_platform(
        tmp_path / "home",
        sync=False,
        loop=True,
        sim_speed=1e9,
        verify_samples=3,
        terraform_extra_roots=(DR_ROOT,),
        **layout(clone),
    )
    settings, store, loop = env.settings, env.store, env.loop
    assert loop is not None
    main_before = git("rev-parse", "main", cwd=remote).strip()

    t = _simulate(settings, store, T0, settings.window_size + 2)
    report = loop.cycle()

    assert not report.errors, report.errors
    moved = [store.get_decision(i).decision for i in report.recommendations]
    decision = next(d for d in moved if d.service == "service-2")
    assert decision.action is DecisionAction.MIGRATE

    # the merge request: a prefixed branch of the team's remote changing only the placement file
    mr = next(m for m in MergeRequestRepository(store).list() if m.decision_id == decision.id)
    assert mr.branch.startswith("swen/ai-rec/service-2-")
    assert git("diff", "--name-only", main_before, mr.branch, cwd=remote).split() == [TFVARS]
    assert ("### New entry" in mr.description) is missing_entry

    # validate, policy, plan, apply, notify on envs/prod; main carries the change
    run = PipelineRepository(store).latest_run(mr.id)
    assert run is not None
    assert all(s.status == "success" for s in run.stages), [
        (s.name, s.status, s.log[-400:]) for s in run.stages
    ]
    assert run.plan_summary is not None
    counts = run.plan_summary["counts"]
    # both roots planned and applied: the placement root and the extra one, each with its own state
    assert (counts["create"], counts["replace"]) == ((2, 0) if missing_entry else (0, 2))
    addresses = [c["address"] for c in run.plan_summary["resource_changes"]]
    assert addresses == [
        'terraform_data.placement["service-2"]',
        'envs/dr:terraform_data.placement["service-2"]',
    ]
    dr_state = json.loads((settings.home / "tfstate" / "envs-dr.tfstate").read_text())
    assert dr_state["outputs"]["placements"]["value"]["service-2"] == decision.target.model_dump()
    entry = read_placements(git("show", f"main:{TFVARS}", cwd=remote), variable=VARIABLE)["service-2"]
    assert (entry.provider, entry.region) == (decision.target.provider, decision.target.region)
    assert set(entry.attributes) == {"provider", "region", "instance_type"}  # the map's own keys
    assert (settings.home / "tfstate" / "envs-prod.tfstate").is_file()
    assert store.get_placements()["service-2"] == decision.target

    # the next telemetry comes from the new placement and is healthy: verified
    _simulate(settings, store, t, settings.verify_samples + 1)
    loop.cycle()
    assert store.get_decision(decision.id).status is DecisionStatus.VERIFIED
    assert store.verify_audit().ok


def test_swen_init_then_pipeline_sync_on_the_adopted_repository(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # the report: SWEN_INFRA_REPO=... swen init added a bare origin, then sync looked for infra/
    clone, remote = team_repository(tmp_path)
    swen = make_swen(capsys, monkeypatch)
    home = tmp_path / "home"
    home.mkdir()
    (home / "swen.yaml").write_text(
        f"infra_repo: {clone}\nterraform_root: {ROOT}\n"
        f"placements_file: {TFVARS}\nplacements_variable: {VARIABLE}\n"
    )
    env = {"SWEN_HOME": str(home)}
    run = swen("init", env=env)
    run.assert_ok()
    assert f"origin     exists  {remote}" in run.out
    assert "layout     root envs/prod; placement map placements in config/prod/placement.tfvars" in run.out
    assert git("remote", "-v", cwd=clone).split()[:2] == ["origin", str(remote)]
    assert not (home / "origin.git").exists()

    run = swen("pipeline", "sync", env=env)
    run.assert_ok()
    with Store.open(Settings(home=home)) as store:
        placements = store.get_placements()
    assert placements["service-2"].key == "aws/us-east-1" and len(placements) == 10


def test_adopt_notes_entry_keys_swen_cannot_fill(tmp_path: Path) -> None:
    clone, _remote = team_repository(tmp_path, extra={"tier": "gold"})
    settings = Settings(home=tmp_path / "home", **layout(clone))
    report = check_repository(clone, settings, load_fleet())
    assert [(c.what, c.blocking) for c in report.mismatches] == [("entry keys", False)]
    assert "entries use keys SWEN cannot fill for a new service: tier" in report.mismatches[0].detail
    assert init_infra_repo(settings).notes  # not blocking: init goes on and says so


def test_a_layout_of_ones_own_without_a_repository_creates_nothing(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home", terraform_root=ROOT, placements_file=TFVARS)
    with pytest.raises(GitOpsError, match="describe a repository of your own"):
        init_infra_repo(settings)
    assert not (tmp_path / "home").exists()
