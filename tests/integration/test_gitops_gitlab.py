"""GitLab merge-request host against a local fake GitLab replaying documented API payloads."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fake_gitlab import PROJECT, TOKEN, FakeGitLab

from support.builders import decision
from support.platform import TEST_TEMPLATE
from swen.config import Settings
from swen.domain.decision import DecisionStatus
from swen.domain.errors import ConflictError, GitOpsError
from swen.domain.merge_requests import MRKind, MRState
from swen.gitops.committer import Committer
from swen.gitops.mr_hosts import GitLabMergeRequestHost, make_host
from swen.gitops.repo import InfraRepo, init_infra_repo
from swen.moves.lifecycle import Lifecycle
from swen.store.repository import Store

T0 = datetime(2026, 11, 26, 10, 15, 3, tzinfo=UTC)
BRANCH = "ai-rec/service-2-alibaba-20261126T101503Z"


@pytest.fixture
def gitlab() -> Iterator[FakeGitLab]:
    with FakeGitLab() as fake:
        yield fake


@pytest.fixture
def store(settings: Settings) -> Iterator[Store]:
    with Store.open(settings) as opened:
        yield opened


@pytest.fixture
def host(store: Store, gitlab: FakeGitLab) -> GitLabMergeRequestHost:
    return GitLabMergeRequestHost(store, url=gitlab.url, token=TOKEN, project=PROJECT)


def _open(host: GitLabMergeRequestHost, branch: str = BRANCH) -> int:
    mr = host.open(branch, "swen: move service-2", "why", "d-1", "service-2", MRKind.MIGRATION)
    return mr.id


def test_open_creates_the_mr_on_gitlab_and_mirrors_it(
    host: GitLabMergeRequestHost, gitlab: FakeGitLab
) -> None:
    mr = host.get(_open(host))
    assert (mr.host, mr.external_id, mr.state) == ("gitlab", "1", MRState.OPENED)
    assert mr.web_url == f"https://gitlab.example.com/{PROJECT}/-/merge_requests/1"
    [lookup] = gitlab.calls("GET", "/merge_requests")
    assert lookup["path"] == "/api/v4/projects/platform%2Finfra/merge_requests"
    assert lookup["query"]["source_branch"] == [BRANCH] and lookup["query"]["state"] == ["opened"]
    [create] = gitlab.calls("POST", "/merge_requests")
    assert create["body"]["source_branch"] == BRANCH and create["body"]["target_branch"] == "main"
    assert create["body"]["labels"] == "swen,migration" and create["token"] == TOKEN
    assert host.find_by_branch(BRANCH) == mr


def test_approve_merge(host: GitLabMergeRequestHost, gitlab: FakeGitLab) -> None:
    mr_id = _open(host)
    approved = host.approve(mr_id, "alice")
    assert approved.approved_by == "alice" and len(gitlab.calls("POST", "/merge_requests/1/approve")) == 1
    merged = host.merge(mr_id)
    assert merged.state is MRState.MERGED and gitlab.mrs[1]["state"] == "merged"
    assert len(gitlab.calls("PUT", "/merge_requests/1/merge")) == 1
    assert host.merge(mr_id).state is MRState.MERGED  # idempotent, no second call
    assert len(gitlab.calls("PUT", "/merge")) == 1
    with pytest.raises(ConflictError):
        host.approve(mr_id, "bob")


def test_reject_and_close_comment_then_close(host: GitLabMergeRequestHost, gitlab: FakeGitLab) -> None:
    rejected = host.reject(_open(host), "alice", "too risky before the launch")
    assert rejected.state is MRState.CLOSED and gitlab.mrs[1]["state"] == "closed"
    [note] = gitlab.calls("POST", "/merge_requests/1/notes")
    assert note["body"]["body"] == "Rejected by alice: too risky before the launch"
    [close] = gitlab.calls("PUT", "/merge_requests/1")
    assert close["body"] == {"state_event": "close"}
    other = _open(host, "ai-rec/service-2-aws-20261126T101503Z")
    assert host.close(other, "superseded").state is MRState.CLOSED
    assert host.close(other, "superseded").state is MRState.CLOSED  # idempotent


def test_get_syncs_state_changed_on_gitlab(host: GitLabMergeRequestHost, gitlab: FakeGitLab) -> None:
    mr_id = _open(host)
    gitlab.mrs[1]["state"] = "merged"  # a person merged it in the GitLab UI
    assert host.get(mr_id).state is MRState.MERGED
    assert host.list(state=MRState.MERGED)[0].id == mr_id


def test_bad_token_is_a_clear_error_and_stores_nothing(store: Store, gitlab: FakeGitLab) -> None:
    host = GitLabMergeRequestHost(store, url=gitlab.url, token="wrong", project=PROJECT)
    with pytest.raises(GitOpsError) as info:
        _open(host)
    assert "HTTP 401" in info.value.message and info.value.hint == "check SWEN_GITLAB_TOKEN"
    assert not info.value.transient and host.list() == [] and gitlab.mrs == {}


def test_transient_server_error_is_retried_once_without_duplicates(
    host: GitLabMergeRequestHost, gitlab: FakeGitLab
) -> None:
    gitlab.fail_next = [503]
    _open(host)
    assert len(gitlab.mrs) == 1 and len(host.list()) == 1
    assert len(gitlab.requests) == 3  # 503, lookup retried, create


def test_unreachable_gitlab_gives_up_quickly_as_transient(store: Store) -> None:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    host = GitLabMergeRequestHost(store, url=f"http://127.0.0.1:{port}", token=TOKEN, project=PROJECT)
    with pytest.raises(GitOpsError) as info:
        _open(host)
    assert info.value.transient and "GitLab listing merge requests failed" in info.value.message
    assert host.list() == []


def test_approving_twice_calls_gitlab_once(host: GitLabMergeRequestHost, gitlab: FakeGitLab) -> None:
    mr_id = _open(host)
    host.approve(mr_id, "alice")
    assert host.approve(mr_id, "bob").approved_by == "alice"
    assert len(gitlab.calls("POST", "/approve")) == 1


def test_mr_created_before_a_crash_is_reused(host: GitLabMergeRequestHost, gitlab: FakeGitLab) -> None:
    gitlab.create_mr({"source_branch": BRANCH, "target_branch": "main", "title": "swen: move service-2"})
    mr = host.get(_open(host))
    assert mr.external_id == "1" and len(gitlab.mrs) == 1
    assert gitlab.calls("POST", "/merge_requests") == []


def test_make_host_from_settings(store: Store, gitlab: FakeGitLab, swen_home: object) -> None:
    settings = Settings(
        home=swen_home, mr_host="gitlab", gitlab_url=gitlab.url, gitlab_token=TOKEN, gitlab_project=PROJECT
    )
    assert isinstance(make_host(settings, store), GitLabMergeRequestHost)


def test_committer_with_gitlab_supersedes_on_gitlab(
    settings: Settings, store: Store, host: GitLabMergeRequestHost, gitlab: FakeGitLab
) -> None:
    init_infra_repo(settings, template_root=TEST_TEMPLATE)
    committer = Committer(store, InfraRepo.open(settings), host, events=Lifecycle(store))
    first = committer.propose(decision("d-1", service="service-2"))
    second = committer.propose(
        decision("d-2", service="service-2", target="aws/us-west-2", created_at=T0 + timedelta(minutes=3))
    )
    assert (first.external_id, second.external_id) == ("1", "2")
    assert gitlab.mrs[1]["state"] == "closed" and gitlab.mrs[2]["state"] == "opened"
    assert gitlab.mrs[2]["source_branch"] == "ai-rec/service-2-aws-20261126T101803Z"
    assert store.get_decision("d-1").status is DecisionStatus.SUPERSEDED
    assert committer.propose(
        decision("d-2", service="service-2", target="aws/us-west-2", created_at=T0 + timedelta(minutes=3))
    ).id == (second.id)
    assert len(gitlab.calls("POST", "/merge_requests")) == 2
