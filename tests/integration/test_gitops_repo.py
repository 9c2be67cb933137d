"""The infra repository against real git in temporary directories."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from swen.config import Settings
from swen.domain.errors import GitOpsError, NotFoundError
from swen.gitops.repo import InfraRepo, RetryPolicy, init_infra_repo, is_transient
from swen.gitops.template import TFVARS_PATH, locate_template
from swen.gitops.tfvars import edit_placement, read_placements

TEMPLATE = Path(__file__).parents[1] / "fixtures" / "infra_template"
BRANCH = "ai-rec/service-2-alibaba-20261126T101503Z"


def git(*args: str, cwd: Path) -> str:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True).stdout


@pytest.fixture
def repo(settings: Settings) -> InfraRepo:
    init_infra_repo(settings, template_root=TEMPLATE)
    return InfraRepo.open(settings, retry=RetryPolicy(sleep=lambda _s: None))


def _propose(repo: InfraRepo, branch: str, service: str, provider: str, region: str) -> str:
    text = repo.read_file("origin/main")
    edited = edit_placement(text, service, provider, region)
    sha = repo.commit_file(
        branch=branch, base="origin/main", path=TFVARS_PATH, content=edited, message=f"move {service}"
    )
    repo.push_branch(branch)
    return sha


def test_init_creates_repo_and_bare_origin(settings: Settings) -> None:
    report = init_infra_repo(settings, template_root=TEMPLATE)
    origin = Path(settings.infra_remote_url)
    assert report.created_remote and report.created_repo and report.pushed_main
    assert origin.is_absolute() and git("rev-parse", "--is-bare-repository", cwd=origin).strip() == "true"
    assert "infra/terraform.tfvars" in git("ls-tree", "-r", "--name-only", "main", cwd=origin)
    assert git("status", "--porcelain", cwd=settings.infra_repo_path) == ""
    assert set(report.template_items) == {"infra", ".gitlab-ci.yml"}
    again = init_infra_repo(settings, template_root=TEMPLATE)
    assert not (again.created_remote or again.created_repo or again.cloned)
    assert len(git("log", "--oneline", "main", cwd=origin).splitlines()) == 1


def test_init_force_recreates_only_defaults(settings: Settings) -> None:
    init_infra_repo(settings, template_root=TEMPLATE)
    (settings.infra_repo_path / "junk").write_text("x")
    report = init_infra_repo(settings, force=True, template_root=TEMPLATE)
    assert report.created_repo and not (settings.infra_repo_path / "junk").exists()


def test_init_clones_an_existing_remote(settings: Settings, tmp_path: Path) -> None:
    # a remote of the team's own is checked against the layout: the real template has a root to plan
    init_infra_repo(settings)
    other = Settings(home=tmp_path / "other-home", infra_remote=settings.infra_remote_url)
    report = init_infra_repo(other)
    assert report.cloned and not report.created_remote
    assert InfraRepo.open(other).read_file("origin/main") == locate_template().tfvars.read_text()


def test_init_with_a_rejecting_remote_leaves_nothing_half_made(settings: Settings, tmp_path: Path) -> None:
    remote = tmp_path / "shared.git"
    git("init", "--quiet", "--bare", "--initial-branch=main", str(remote), cwd=tmp_path)
    hook = remote / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'read-only mirror' >&2\nexit 1\n")
    hook.chmod(0o755)
    custom = Settings(home=settings.home, infra_remote=str(remote))
    with pytest.raises(GitOpsError, match="read-only mirror"):
        init_infra_repo(custom, template_root=TEMPLATE)
    assert not custom.infra_repo_path.exists()
    assert [p.name for p in custom.infra_repo_path.parent.iterdir() if p.name.startswith(".infra")] == []
    hook.unlink()
    assert init_infra_repo(custom, template_root=TEMPLATE).created_repo


def test_init_adopts_an_existing_clone_and_its_origin(settings: Settings, tmp_path: Path) -> None:
    init_infra_repo(settings)
    clone = tmp_path / "my-clone"
    git("clone", "--quiet", settings.infra_remote_url, str(clone), cwd=tmp_path)
    other = Settings(home=tmp_path / "home-2", infra_repo=clone)
    report = init_infra_repo(other)
    assert report.remote_url == settings.infra_remote_url and not report.created_remote
    assert not (other.home / "origin.git").exists()
    mismatch = Settings(
        home=tmp_path / "home-2", infra_repo=clone, infra_remote=str(tmp_path / "elsewhere.git")
    )
    with pytest.raises(GitOpsError, match="has origin"):
        init_infra_repo(mismatch)


def test_init_refuses_a_non_git_folder(settings: Settings) -> None:
    settings.infra_repo_path.mkdir(parents=True)
    (settings.infra_repo_path / "notes.txt").write_text("mine")
    with pytest.raises(GitOpsError, match="not a git repository"):
        init_infra_repo(settings, template_root=TEMPLATE)


def test_open_without_init_is_not_found(settings: Settings) -> None:
    with pytest.raises(NotFoundError, match="swen init"):
        InfraRepo.open(settings)


def test_commit_and_push_touch_only_one_entry_and_not_the_worktree(
    repo: InfraRepo, settings: Settings
) -> None:
    _propose(repo, BRANCH, "service-2", "alibaba", "ap-southeast-1")
    origin = Path(settings.infra_remote_url)
    assert BRANCH in repo.remote_branches()
    assert git("diff", "--name-only", f"main..{BRANCH}", cwd=origin).split() == [TFVARS_PATH]
    diff = git("diff", "-U0", f"main..{BRANCH}", cwd=origin)
    removed = [line for line in diff.splitlines() if line.startswith("-") and not line.startswith("---")]
    assert removed == ['-    provider      = "aws"', '-    region        = "us-east-1"']
    assert git("status", "--porcelain", cwd=repo.path) == ""
    assert git("rev-parse", "--abbrev-ref", "HEAD", cwd=repo.path).strip() == "main"
    assert repo.commit_message(f"origin/{BRANCH}") == "move service-2"


def test_push_rejected_by_hook_fails_with_gits_message_without_retry(
    repo: InfraRepo, settings: Settings
) -> None:
    hook = Path(settings.infra_remote_url) / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'policy: pushes are frozen' >&2\nexit 1\n")
    hook.chmod(0o755)
    sleeps: list[float] = []
    repo.retry = RetryPolicy(sleep=sleeps.append)
    with pytest.raises(GitOpsError) as info:
        _propose(repo, BRANCH, "service-2", "alibaba", "ap-southeast-1")
    assert "pushes are frozen" in info.value.message and "pre-receive hook declined" in info.value.message
    assert not info.value.transient and sleeps == []
    assert BRANCH not in repo.remote_branches()


def test_retry_only_transient_with_backoff() -> None:
    sleeps: list[float] = []
    calls = {"n": 0}

    def flaky() -> str:
        calls["n"] += 1
        if calls["n"] < 3:
            raise GitOpsError("fatal: the remote end hung up unexpectedly", transient=True)
        return "ok"

    assert RetryPolicy(sleep=sleeps.append, base_delay_s=0.5).run("push", flaky) == "ok"
    assert sleeps == [0.5, 1.0]

    def permanent() -> str:
        raise GitOpsError("rejected", transient=False)

    with pytest.raises(GitOpsError):
        RetryPolicy(sleep=sleeps.append).run("push", permanent)
    assert sleeps == [0.5, 1.0]


@pytest.mark.parametrize(
    ("message", "transient"),
    [
        ("fatal: unable to access 'https://x/': Could not resolve host: x", True),
        ("fatal: the remote end hung up unexpectedly", True),
        ("error: RPC failed; HTTP 503 curl 22", True),
        (" ! [remote rejected] b -> b (pre-receive hook declined)", False),
        (" ! [rejected] main -> main (non-fast-forward)", False),
        ("fatal: Authentication failed for 'https://x/'", False),
        ("something unexpected", False),
    ],
)
def test_is_transient(message: str, transient: bool) -> None:
    assert is_transient(message) is transient


def test_merge_fast_forward_then_merge_commit_then_conflict(repo: InfraRepo, settings: Settings) -> None:
    origin = Path(settings.infra_remote_url)
    _propose(repo, BRANCH, "service-2", "alibaba", "ap-southeast-1")
    other = "ai-rec/service-3-aws-20261126T101503Z"
    _propose(repo, other, "service-3", "aws", "us-east-1")
    clash = "emergency/service-2-aws-20261126T101503Z"
    _propose(repo, clash, "service-2", "aws", "us-west-2")

    first = repo.merge_to_main(BRANCH)
    assert first == git("rev-parse", BRANCH, cwd=origin).strip()  # fast-forward
    second = repo.merge_to_main(other, message="Merge !2")
    parents = git("rev-list", "--parents", "-n1", second, cwd=origin).split()
    assert len(parents) == 3  # a merge commit
    placements = read_placements(git("show", f"main:{TFVARS_PATH}", cwd=origin))
    assert placements["service-2"].provider == "alibaba" and placements["service-3"].provider == "aws"
    assert repo.merge_to_main(BRANCH) == second  # already merged: nothing to do

    with pytest.raises(GitOpsError, match="cannot merge"):
        repo.merge_to_main(clash)
    assert git("rev-parse", "main", cwd=origin).strip() == second
    assert git("rev-parse", "main", cwd=repo.path).strip() == second  # local main synced
    assert git("status", "--porcelain", cwd=repo.path) == ""


def test_worktree_and_branch_deletion(repo: InfraRepo, tmp_path: Path) -> None:
    _propose(repo, BRANCH, "service-2", "alibaba", "ap-southeast-1")
    repo.fetch()
    with repo.worktree(f"origin/{BRANCH}") as tree:
        assert read_placements((tree / TFVARS_PATH).read_text())["service-2"].provider == "alibaba"
    assert not tree.exists()
    repo.delete_remote_branch(BRANCH)
    assert BRANCH not in repo.remote_branches()
    repo.delete_remote_branch(BRANCH)  # idempotent
