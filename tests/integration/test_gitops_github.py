"""GitHub pull-request host (PyGithub) against a loopback fake GitHub replaying documented REST shapes.

What every remote host does is in test_mr_host_contract.py; here: what is GitHub's own (the requests
it sends, labels, GitHub Enterprise's base URL, the self-approval refusal, settings).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fake_github import NO_PAUSES, PREFIX, REPOSITORY, TOKEN, FakeGitHub

from swen.config import Settings
from swen.domain.errors import GitOpsError
from swen.domain.merge_requests import MRKind, MRState
from swen.gitops.github_host import GitHubMergeRequestHost
from swen.gitops.mr_hosts import make_host
from swen.store.repository import Store

BRANCH = "ai-rec/service-2-alibaba-20261126T101503Z"
PULLS = f"{PREFIX}/repos/{REPOSITORY}/pulls"


@pytest.fixture
def github() -> Iterator[FakeGitHub]:
    with FakeGitHub() as fake:
        yield fake


@pytest.fixture
def store(settings: Settings) -> Iterator[Store]:
    with Store.open(settings) as opened:
        yield opened


@pytest.fixture
def host(store: Store, github: FakeGitHub) -> GitHubMergeRequestHost:
    return GitHubMergeRequestHost(store, repository=REPOSITORY, token=TOKEN, api_url=github.url, **NO_PAUSES)


def _open(host: GitHubMergeRequestHost) -> int:
    return host.open(BRANCH, "swen: move service-2", "why", "d-1", "service-2", MRKind.MIGRATION).id


def test_open_looks_up_by_head_then_creates_and_labels(
    host: GitHubMergeRequestHost, github: FakeGitHub
) -> None:
    mr = host.get(_open(host))
    assert (mr.host, mr.external_id) == ("github", "1")
    [lookup] = github.calls("GET", "/pulls")
    assert lookup["path"] == PULLS
    assert lookup["query"]["head"] == [f"platform:{BRANCH}"] and lookup["query"]["state"] == ["open"]
    assert lookup["query"]["base"] == ["main"]
    [create] = github.calls("POST", "/pulls")
    assert create["body"]["head"] == BRANCH and create["body"]["base"] == "main"
    assert create["body"]["title"] == "swen: move service-2" and create["body"]["body"] == "why"
    assert create["auth"] == f"token {TOKEN}"
    assert [label["name"] for label in github.pulls[1]["labels"]] == ["swen", "migration"]


def test_reading_a_pull_is_one_request_inside_the_error_handling(
    host: GitHubMergeRequestHost, github: FakeGitHub
) -> None:
    mr_id = _open(host)
    before = len(github.requests)
    host.get(mr_id)
    assert [r["path"] for r in github.requests[before:]] == [f"{PULLS}/1"]
    del github.pulls[1]  # deleted on GitHub meanwhile: a clear error, not a PyGithub exception
    with pytest.raises(GitOpsError, match=r"GitHub reading a pull request failed \(HTTP 404\): Not Found"):
        host.get(mr_id)


def test_approval_is_a_review_and_falls_back_to_a_comment_review_on_own_pull(
    host: GitHubMergeRequestHost, github: FakeGitHub
) -> None:
    mr_id = _open(host)
    github.own_review_refused = True  # GitHub: "Can not approve your own pull request" (422)
    assert host.approve(mr_id, "alice").approved_by == "alice"
    assert [r["body"]["event"] for r in github.calls("POST", "/pulls/1/reviews")] == ["APPROVE", "COMMENT"]
    assert [r["state"] for r in github.reviews[1]] == ["COMMENTED"]


def test_merge_sends_a_merge_commit_title_and_records_the_sha(
    host: GitHubMergeRequestHost, github: FakeGitHub, store: Store
) -> None:
    mr_id = _open(host)
    assert host.merge(mr_id).state is MRState.MERGED
    [merge] = github.calls("PUT", "/pulls/1/merge")
    assert merge["body"]["merge_method"] == "merge"
    assert merge["body"]["commit_title"] == f"Merge branch '{BRANCH}' into main (SWEN MR {mr_id})"


def test_a_pull_that_cannot_merge_is_a_clear_error(host: GitHubMergeRequestHost, github: FakeGitHub) -> None:
    mr_id = _open(host)
    github.pulls[1]["state"] = "closed"  # closed on GitHub, not yet synced into the store
    with pytest.raises(GitOpsError) as info:
        host.merge(mr_id)
    assert "HTTP 405" in info.value.message and "Pull Request is not mergeable" in info.value.message
    assert info.value.hint and "cannot be merged" in info.value.hint


def test_validation_failed_names_githubs_reasons(host: GitHubMergeRequestHost, github: FakeGitHub) -> None:
    github.create_pull({"head": BRANCH, "base": "main", "title": "x"})
    github.pulls[1]["head"]["label"] = "someone-else:" + BRANCH  # not found by SWEN's head lookup
    with pytest.raises(GitOpsError) as info:
        _open(host)
    assert "HTTP 422" in info.value.message and "A pull request already exists" in info.value.message
    assert host.list() == []


def test_the_token_never_shows(store: Store, github: FakeGitHub, swen_home: Path) -> None:
    host = GitHubMergeRequestHost(store, repository=REPOSITORY, token=TOKEN, api_url=github.url, **NO_PAUSES)
    assert TOKEN not in repr(host)
    settings = Settings(home=swen_home, mr_host="github", github_repository=REPOSITORY, github_token=TOKEN)
    assert TOKEN not in repr(settings) and TOKEN not in str(settings.model_dump())


def test_make_host_from_settings_reaches_an_enterprise_base_url(
    store: Store, github: FakeGitHub, swen_home: Path
) -> None:
    settings = Settings(
        home=swen_home,
        mr_host="github",
        github_repository=REPOSITORY,
        github_token=TOKEN,
        github_api_url=github.url + "/",
    )
    assert settings.github_api_url == github.url
    host = make_host(settings, store)
    assert isinstance(host, GitHubMergeRequestHost)
    host.open(BRANCH, "t", "d", "d-1", "service-2", MRKind.MIGRATION)
    assert all(r["path"].startswith(f"{PREFIX}/repos/") for r in github.requests)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({}, "SWEN_MR_HOST=github needs SWEN_GITHUB_REPOSITORY .owner/name. and SWEN_GITHUB_TOKEN"),
        (
            {"github_repository": REPOSITORY},
            "needs SWEN_GITHUB_REPOSITORY .owner/name. and SWEN_GITHUB_TOKEN",
        ),
        ({"github_repository": "infra", "github_token": TOKEN}, "is not a GitHub repository: use owner/name"),
        ({"github_repository": "platform/../x", "github_token": TOKEN}, "is not a GitHub repository"),
        ({"github_repository": "plat form/infra", "github_token": TOKEN}, "is not a GitHub repository"),
        ({"github_repository": "platform/..", "github_token": TOKEN}, "is not a GitHub repository"),
        (
            {"github_repository": REPOSITORY, "github_token": TOKEN, "github_api_url": "api.github.com"},
            "is not an API base URL: use http.s.://host",
        ),
        (
            {"github_repository": REPOSITORY, "github_token": TOKEN, "github_api_url": "file:///etc/passwd"},
            "is not an API base URL",
        ),
    ],
)
def test_github_settings_are_validated_with_clear_errors(
    swen_home: Path, overrides: dict[str, str], message: str
) -> None:
    with pytest.raises(ValueError, match=message) as info:
        Settings(home=swen_home, mr_host="github", **overrides)
    assert TOKEN not in str(info.value)
