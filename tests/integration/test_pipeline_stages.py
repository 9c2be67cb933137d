"""Stage building blocks against real terraform and git: state location guard, revert of main."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from support.platform import git
from swen.config import Settings
from swen.domain.errors import GitOpsError, PipelineError
from swen.gitops.repo import InfraRepo, RetryPolicy, init_infra_repo
from swen.gitops.template import TFVARS_PATH
from swen.pipeline.retry import Backoff
from swen.pipeline.stages import SIM_ROOT, StageLog, plan_tree, revert_main_to, state_path

CHECKOUT = Path(__file__).parents[2]


def _tree_without_backend(tmp_path: Path) -> Path:
    tree = tmp_path / "tree"
    shutil.copytree(
        CHECKOUT / "infra", tree / "infra", ignore=shutil.ignore_patterns(".terraform*", "*.tfstate*")
    )
    main_tf = tree / SIM_ROOT / "main.tf"
    text = main_tf.read_text()
    assert 'backend "local" {}' in text
    main_tf.write_text(text.replace('backend "local" {}', ""))
    return tree


def test_a_root_that_would_keep_state_in_the_worktree_is_refused(tmp_path: Path, settings: Settings) -> None:
    tree = _tree_without_backend(tmp_path)
    with pytest.raises(PipelineError, match="keeps its state inside the worktree") as info:
        plan_tree(tree, settings, StageLog(), name="t")
    assert info.value.hint is not None and 'backend "local"' in info.value.hint


def test_plan_reads_the_state_outside_the_tree(tmp_path: Path, settings: Settings) -> None:
    tree = tmp_path / "tree"
    shutil.copytree(
        CHECKOUT / "infra", tree / "infra", ignore=shutil.ignore_patterns(".terraform*", "*.tfstate*")
    )
    log = StageLog()
    result = plan_tree(tree, settings, log, name="t")
    assert result.summary.counts.create >= 3  # empty state: every service is created
    assert state_path(settings).parent.is_dir()
    assert "terraform plan" in log.text
    assert not list((tree / SIM_ROOT).glob("*.tfstate"))


def test_revert_restores_mains_tree_and_refuses_when_main_moved(settings: Settings) -> None:
    init_infra_repo(settings)
    repo = InfraRepo.open(settings, retry=RetryPolicy(sleep=lambda _s: None))
    origin = Path(settings.infra_remote_url)
    good = repo.rev_parse("origin/main")
    text = repo.read_file("origin/main")
    repo.commit_file(
        branch="ai-rec/service-1-aws-20261126T100000Z",
        base="origin/main",
        path=TFVARS_PATH,
        content=text + "\n# changed\n",
        message="change",
    )
    bad = repo.rev_parse("ai-rec/service-1-aws-20261126T100000Z")
    git("push", str(origin), f"{bad}:refs/heads/main", cwd=repo.path)  # the "merge"

    with pytest.raises(GitOpsError, match="main moved"):
        revert_main_to(repo, good=good, bad=good, message="wrong base", backoff=Backoff(tries=1))
    commit = revert_main_to(
        repo, good=good, bad=bad, message="Revert: apply failed", backoff=Backoff(tries=1)
    )

    assert git("rev-parse", "main", cwd=origin).strip() == commit
    assert git("rev-parse", "main^{tree}", cwd=origin) == git("rev-parse", f"{good}^{{tree}}", cwd=origin)
    assert git("log", "-1", "--format=%an %s", "main", cwd=origin).strip() == "SWEN Revert: apply failed"
