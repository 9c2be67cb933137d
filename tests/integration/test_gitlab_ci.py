""".gitlab-ci.yml: valid for GitLab (its published schema), the five stages calling `swen pipeline
stage ...`, and the apply child pipeline the policy job renders for each gate outcome."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
CI_FILE = REPO / ".gitlab-ci.yml"
STAGES = ["validate", "policy", "plan", "apply", "notify"]


def check_jsonschema(path: Path) -> subprocess.CompletedProcess[str]:
    binary = REPO / ".venv" / "bin" / "check-jsonschema"
    exe = str(binary) if binary.exists() else shutil.which("check-jsonschema")
    assert exe, "check-jsonschema is a dev dependency (pip install -e '.[dev]')"
    return subprocess.run(
        [exe, "--builtin-schema", "vendor.gitlab-ci", str(path)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


@pytest.fixture(scope="module")
def ci() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(CI_FILE.read_text())
    return loaded


def test_gitlab_ci_file_is_valid_for_gitlab() -> None:
    proc = check_jsonschema(CI_FILE)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_schema_check_rejects_a_broken_file(tmp_path: Path) -> None:
    broken = tmp_path / ".gitlab-ci.yml"
    broken.write_text("stages: [validate]\nvalidate:\n  stage: validate\n  script: 42\n  when: sometimes\n")
    assert check_jsonschema(broken).returncode != 0


def test_stages_run_in_order_and_call_the_swen_runner(ci: dict[str, Any]) -> None:
    assert ci["stages"] == STAGES
    jobs = {name: job for name, job in ci.items() if isinstance(job, dict) and "stage" in job}
    for stage in ("validate", "policy", "plan", "notify"):
        scripts = "\n".join(jobs[stage]["script"])
        assert f'swen pipeline stage {stage} --mr "$SWEN_MR_IID"' in scripts
    assert jobs["apply"]["trigger"]["include"] == [{"artifact": "apply.gitlab-ci.yml", "job": "policy"}]
    assert jobs["apply"]["trigger"]["strategy"] == "depend"


def test_mr_jobs_only_run_in_merge_request_pipelines(ci: dict[str, Any]) -> None:
    assert ci[".mr_only"]["rules"] == [{"if": '$CI_PIPELINE_SOURCE == "merge_request_event"'}]
    for name in ("validate", "policy", "plan", "apply"):
        assert ci[name]["extends"] == ".mr_only", name
    assert ci["notify"]["rules"][0]["when"] == "always"
    assert ci["validate:main"]["rules"] == [{"if": "$CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH"}]


def render_child(
    ci: dict[str, Any], workdir: Path, result: dict[str, Any]
) -> subprocess.CompletedProcess[str]:
    """Run the policy job's renderer (the heredoc'd Python in its script) on a policy.json."""
    script = next(step for step in ci["policy"]["script"] if "python3 - <<'PY'" in step)
    body = re.search(r"<<'PY'\n(.*)\nPY", script, re.DOTALL)
    assert body
    (workdir / "policy.json").write_text(json.dumps(result))
    return subprocess.run(
        [sys.executable, "-c", body.group(1)],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(("outcome", "when"), [("auto_approve", "on_success"), ("manual_review", "manual")])
def test_policy_outcome_decides_whether_apply_waits_for_a_person(
    ci: dict[str, Any], tmp_path: Path, outcome: str, when: str
) -> None:
    proc = render_child(ci, tmp_path, {"outcome": outcome, "reasons": ["x: because"], "override": False})
    assert proc.returncode == 0, proc.stderr
    assert f"policy: {outcome}" in proc.stdout
    child_file = tmp_path / "apply.gitlab-ci.yml"
    child = yaml.safe_load(child_file.read_text())
    assert child["apply"]["when"] == when
    assert child["apply"]["allow_failure"] is False
    assert child["apply"]["script"] == ['swen pipeline stage apply --mr "$SWEN_MR_IID"']
    schema = check_jsonschema(child_file)
    assert schema.returncode == 0, schema.stdout + schema.stderr


def test_deny_renders_no_apply(ci: dict[str, Any], tmp_path: Path) -> None:
    proc = render_child(
        ci, tmp_path, {"outcome": "deny", "reasons": ["stateful_delete: ..."], "override": False}
    )
    assert proc.returncode != 0
    assert not (tmp_path / "apply.gitlab-ci.yml").exists()


def test_conftest_job_uses_the_repository_policy(ci: dict[str, Any]) -> None:
    (command,) = ci["policy:conftest"]["script"]
    assert "--policy policies" in command and "--namespace swen.gate" in command
    assert (REPO / "policies" / "gate.rego").is_file()


def test_checkov_scans_the_terraform_and_the_rendered_manifests(ci: dict[str, Any]) -> None:
    render = "\n".join(ci["manifests:render"]["script"])
    assert "kubectl kustomize" in render and "for overlay in dev production" in render
    assert ci["manifests:render"]["artifacts"]["paths"] == ["rendered/"]
    scans = ci["checkov"]["script"]
    assert any("--framework terraform --directory infra" in line for line in scans)
    assert any("--framework kubernetes --directory rendered" in line for line in scans)
    assert ci["checkov"]["needs"] == [{"job": "manifests:render", "artifacts": True}]
    for job in ("manifests:render", "checkov"):
        assert ci[job]["rules"] == [
            {"if": '$CI_PIPELINE_SOURCE == "merge_request_event"'},
            {"if": "$CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH"},
        ], job
