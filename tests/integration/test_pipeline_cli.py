"""`swen pipeline ...`, `swen rollback` and `swen mr approve` as a person runs them (real processes)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from support.builders import decision
from swen.config import Settings
from swen.domain.decision import DecisionStatus
from swen.gitops.committer import Committer
from swen.gitops.mr_hosts import LocalMergeRequestHost
from swen.gitops.repo import InfraRepo
from swen.moves.lifecycle import Lifecycle
from swen.store.repository import Store

pytestmark = pytest.mark.slow


def swen(home: Path, *args: str, extra_env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SWEN_")}
    env.update(SWEN_HOME=str(home), COLUMNS="200", **(extra_env or {}))
    return subprocess.run(
        [sys.executable, "-m", "swen", *args], env=env, capture_output=True, text=True, timeout=300
    )


def _propose(home: Path, decision_id: str, **kwargs: object) -> int:
    settings = Settings(home=home)
    with Store.open(settings) as store:
        repo = InfraRepo.open(settings)
        mr = Committer(store, repo, LocalMergeRequestHost(store, repo), events=Lifecycle(store)).propose(
            decision(decision_id, **kwargs)  # type: ignore[arg-type]
        )
    return mr.id


def _status(home: Path, decision_id: str) -> DecisionStatus:
    with Store.open(Settings(home=home)) as store:
        return store.get_decision(decision_id).status


@pytest.fixture
def home(swen_home: Path) -> Path:
    assert swen(swen_home, "init").returncode == 0
    sync = swen(swen_home, "pipeline", "sync")
    assert sync.returncode == 0, sync.stderr
    assert "service-1" in sync.stdout and "aws/us-east-1" in sync.stdout
    return swen_home


def test_run_show_rollback_and_approve_from_the_command_line(home: Path) -> None:
    mr_id = _propose(home, "d-cli")

    run = swen(home, "pipeline", "run", str(mr_id))
    assert run.returncode == 0, run.stdout + run.stderr
    assert "success" in run.stdout and "policy: auto_approve" in run.stdout
    assert _status(home, "d-cli") is DecisionStatus.APPLIED

    show = swen(home, "pipeline", "show", str(mr_id), "--lines", "2")
    assert show.returncode == 0
    for stage in ("validate", "policy", "plan", "apply", "notify"):
        assert stage in show.stdout

    rollback = swen(home, "rollback", "d-cli")
    assert rollback.returncode == 0, rollback.stderr
    assert "waiting for a person" in rollback.stdout and "cost_delta_too_high" in rollback.stdout
    rollback_mr = int(rollback.stdout.split("rollback MR ", 1)[1].split()[0])

    approve = swen(home, "mr", "approve", str(rollback_mr), "--by", "oncall")  # the review hook applies
    assert approve.returncode == 0, approve.stderr
    assert _status(home, "d-cli") is DecisionStatus.ROLLED_BACK
    with Store.open(Settings(home=home)) as store:
        assert store.get_placements()["service-1"].key == "aws/us-east-1"

    lock = swen(home, "pipeline", "lock")
    assert lock.returncode == 0 and "apply:infra: free" in lock.stdout


def test_stage_by_stage_like_gitlab_ci_and_a_failing_run(home: Path, tmp_path: Path) -> None:
    mr_id = _propose(home, "d-ci")
    assert swen(home, "pipeline", "stage", "validate", "--mr", str(mr_id)).returncode == 0
    result_file, input_file = tmp_path / "policy.json", tmp_path / "policy-input.json"
    policy = swen(
        home,
        "pipeline",
        "stage",
        "policy",
        "--mr",
        str(mr_id),
        "--result-file",
        str(result_file),
        "--input-file",
        str(input_file),
    )
    assert policy.returncode == 0, policy.stderr
    assert json.loads(result_file.read_text())["outcome"] == "auto_approve"
    gate_input = json.loads(input_file.read_text())
    assert (
        gate_input["decision"]["service"] == "service-1"
        and gate_input["decision"]["from"]["provider"] == "aws"
    )
    for stage in ("plan", "apply", "notify"):
        step = swen(home, "pipeline", "stage", stage, "--mr", str(mr_id))
        assert step.returncode == 0, stage + step.stdout + step.stderr
    assert _status(home, "d-ci") is DecisionStatus.APPLIED
    bad = swen(home, "pipeline", "stage", "deploy", "--mr", str(mr_id))
    assert bad.returncode == 2

    failing = _propose(home, "d-cli-bad", service="service-2", target="aws/sa-east-1", target_type="m5.large")
    run = swen(home, "pipeline", "run", str(failing))
    assert run.returncode == 1
    assert "stage policy failed" in run.stderr and "terraform plan failed" in run.stderr
    assert _status(home, "d-cli-bad") is DecisionStatus.FAILED


def test_stage_mr_is_the_gitlab_iid_under_the_gitlab_host(swen_home: Path) -> None:
    from fake_gitlab import PROJECT, TOKEN, FakeGitLab

    from swen.gitops.mr_hosts import GitLabMergeRequestHost
    from swen.gitops.repo import init_infra_repo

    with FakeGitLab() as gitlab:
        for n in (1, 2):  # MRs people opened by hand: SWEN's MR gets IID 3 on GitLab, id 1 in SWEN
            gitlab.create_mr({"source_branch": f"feature/{n}", "target_branch": "main", "title": "manual"})
        env = {
            "SWEN_MR_HOST": "gitlab",
            "SWEN_GITLAB_URL": gitlab.url,
            "SWEN_GITLAB_TOKEN": TOKEN,
            "SWEN_GITLAB_PROJECT": PROJECT,
        }
        settings = Settings(
            home=swen_home,
            mr_host="gitlab",
            gitlab_url=gitlab.url,
            gitlab_token=TOKEN,
            gitlab_project=PROJECT,
        )  # type: ignore[arg-type]
        init_infra_repo(settings)
        with Store.open(settings) as store:
            repo = InfraRepo.open(settings)
            host = GitLabMergeRequestHost(store, url=gitlab.url, token=TOKEN, project=PROJECT)
            mr = Committer(store, repo, host, events=Lifecycle(store)).propose(decision("d-gl"))
        assert (mr.id, mr.external_id) == (1, "3")

        validate = swen(swen_home, "pipeline", "stage", "validate", "--mr", "3", extra_env=env)
        assert validate.returncode == 0, validate.stdout + validate.stderr
        assert "MR 1 - pipeline run 1" in validate.stdout and "success" in validate.stdout
        unknown = swen(swen_home, "pipeline", "stage", "validate", "--mr", "1", extra_env=env)
        assert unknown.returncode == 3 and "no merge request with GitLab IID 1" in unknown.stderr
