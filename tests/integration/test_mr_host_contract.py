"""One contract for the remote merge-request hosts: GitLab (python-gitlab) and GitHub (PyGithub).

Each runs against its own loopback fake server replaying the payload shapes the service documents
(tests/fixtures/gitlab, tests/fixtures/github); the library under test talks real HTTP to it.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import fake_github
import fake_gitlab
import pytest

from support.builders import ORDERS_API, decision
from support.platform import FAST
from swen.config import Settings
from swen.domain.errors import ConflictError, GitOpsError, InvalidInputError, SwenError
from swen.domain.merge_requests import MRKind, MRState, RunStatus
from swen.gitops.committer import Committer, mr_description
from swen.gitops.github_host import GitHubMergeRequestHost
from swen.gitops.mr_hosts import (
    COMMENT_MARKER,
    GitLabMergeRequestHost,
    LocalMergeRequestHost,
    MergeRequestHost,
    marked,
    unmarked,
)
from swen.gitops.repo import InfraRepo, init_infra_repo
from swen.gitops.template import TFVARS_PATH
from swen.moves.driver import MoveDriver
from swen.moves.lifecycle import Lifecycle
from swen.moves.review_brief import fleet_monthly_costs
from swen.pipeline.notify import Notifier
from swen.pipeline.plan_summary import summarise_plan
from swen.pipeline.review_comment import GateVerdict, post_review_comment
from swen.store.repository import Store
from swen.telemetry.runner import run_simulator

BRANCH = "ai-rec/service-2-alibaba-20261126T101503Z"
OTHER = "ai-rec/service-2-aws-20261126T101503Z"


@dataclass
class Remote:
    """A host and what the test needs to know about its fake server, the same for every host."""

    name: str
    host: MergeRequestHost
    fake: Any
    build: Callable[..., MergeRequestHost]  # another host on the same server: build(token=, project=)
    state: Callable[[str], str]  # external id -> opened | merged | closed (the host's words mapped)
    set_state: Callable[[str, str], None]  # a person merges or closes it on the host
    comments: Callable[[str], list[str]]
    description: Callable[[str], str]  # the description (GitLab) or body (GitHub) the host holds
    person_comments: Callable[[str, str], None]
    created: Callable[[], int]  # create calls so far
    preexisting: Callable[[str], None]  # a merge request a crash left on the host
    url_prefix: str


def _gitlab(store: Store) -> Iterator[Remote]:
    with fake_gitlab.FakeGitLab() as fake:

        def build(token: str = fake_gitlab.TOKEN, project: str = fake_gitlab.PROJECT) -> MergeRequestHost:
            return GitLabMergeRequestHost(store, url=fake.url, token=token, project=project)

        def set_state(iid: str, state: str) -> None:
            fake.mrs[int(iid)]["state"] = state

        def person(iid: str, body: str) -> None:
            fake.notes[int(iid)].append({"id": 999, "body": body, "system": False})

        yield Remote(
            name="gitlab",
            host=build(),
            fake=fake,
            build=build,
            state=lambda iid: fake.mrs[int(iid)]["state"],
            set_state=set_state,
            comments=lambda iid: [n["body"] for n in fake.notes[int(iid)]],
            description=lambda iid: str(fake.mrs[int(iid)]["description"]),
            person_comments=person,
            created=lambda: len(fake.calls("POST", "/merge_requests")),
            preexisting=lambda branch: fake.create_mr(
                {"source_branch": branch, "target_branch": "main", "title": "swen: move service-2"}
            ),
            url_prefix=f"https://gitlab.example.com/{fake_gitlab.PROJECT}/-/merge_requests/",
        )


def _github(store: Store) -> Iterator[Remote]:
    with fake_github.FakeGitHub() as fake:

        def build(token: str = fake_github.TOKEN, project: str = fake_github.REPOSITORY) -> MergeRequestHost:
            return GitHubMergeRequestHost(
                store, repository=project, token=token, api_url=fake.url, **fake_github.NO_PAUSES
            )

        def state(number: str) -> str:
            pr = fake.pulls[int(number)]
            return "merged" if pr["merged"] else "opened" if pr["state"] == "open" else "closed"

        def set_state(number: str, state: str) -> None:
            pr = fake.pulls[int(number)]
            pr["state"] = "open" if state == "opened" else "closed"
            pr["merged"] = state == "merged"

        def person(number: str, body: str) -> None:
            comment = fake_github._fixture("issue_comment.json")
            comment.update(body=body)
            fake.comments[int(number)].append(comment)

        yield Remote(
            name="github",
            host=build(),
            fake=fake,
            build=build,
            state=state,
            set_state=set_state,
            comments=lambda number: [c["body"] for c in fake.comments[int(number)]],
            description=lambda number: str(fake.pulls[int(number)]["body"]),
            person_comments=person,
            created=lambda: len(fake.calls("POST", "/pulls")),
            preexisting=lambda branch: fake.create_pull(
                {"head": branch, "base": "main", "title": "swen: move service-2"}
            ),
            url_prefix=f"https://github.example.com/{fake_github.REPOSITORY}/pull/",
        )


@pytest.fixture
def store(settings: Settings) -> Iterator[Store]:
    with Store.open(settings) as opened:
        yield opened


@pytest.fixture(params=["gitlab", "github"])
def remote(request: pytest.FixtureRequest, store: Store) -> Iterator[Remote]:
    yield from {"gitlab": _gitlab, "github": _github}[request.param](store)


def _open(host: MergeRequestHost, branch: str = BRANCH) -> int:
    return host.open(
        branch, "swen: move service-2", "## SWEN placement change", "d-1", "service-2", MRKind.MIGRATION
    ).id


def test_open_creates_the_remote_mr_and_finds_it_by_branch(remote: Remote) -> None:
    mr = remote.host.get(_open(remote.host))
    assert (mr.host, mr.external_id, mr.state, mr.branch) == (remote.name, "1", MRState.OPENED, BRANCH)
    assert mr.web_url == f"{remote.url_prefix}1"
    assert remote.state("1") == "opened" and remote.created() == 1
    assert remote.host.find_by_branch(BRANCH) == mr
    assert remote.host.find_by_branch(OTHER) is None


def test_reopen_after_a_crash_reuses_the_remote_mr(remote: Remote) -> None:
    remote.preexisting(BRANCH)  # created on the host, but the store row was never written
    mr = remote.host.get(_open(remote.host))
    assert mr.external_id == "1" and remote.created() == 0
    assert [m.id for m in remote.host.list()] == [mr.id]


def test_opening_the_same_branch_again_makes_no_second_remote_mr(remote: Remote) -> None:
    mr_id = _open(remote.host)
    with pytest.raises(ConflictError, match=f"a merge request for branch '{BRANCH}' already exists"):
        _open(remote.host)
    assert remote.created() == 1 and [m.id for m in remote.host.list()] == [mr_id]
    assert remote.host.find_by_branch(BRANCH).id == mr_id  # type: ignore[union-attr]


def test_approve_then_merge_and_merge_again_changes_nothing(remote: Remote) -> None:
    mr_id = _open(remote.host)
    assert remote.host.approve(mr_id, "alice").approved_by == "alice"
    assert remote.host.approve(mr_id, "bob").approved_by == "alice"  # once only
    assert remote.host.merge(mr_id).state is MRState.MERGED and remote.state("1") == "merged"
    requests_before = len(remote.fake.requests)
    assert remote.host.merge(mr_id).state is MRState.MERGED
    assert len(remote.fake.requests) == requests_before
    with pytest.raises(ConflictError, match="is merged; cannot approve"):
        remote.host.approve(mr_id, "carol")


def test_reject_and_close_leave_a_note_and_close_remotely(remote: Remote) -> None:
    rejected = remote.host.reject(_open(remote.host), "alice", "too risky before the launch")
    assert rejected.state is MRState.CLOSED and remote.state("1") == "closed"
    assert remote.comments("1") == ["Rejected by alice: too risky before the launch"]
    other = _open(remote.host, OTHER)
    assert remote.host.close(other, "superseded").state is MRState.CLOSED
    assert remote.host.close(other, "superseded").state is MRState.CLOSED  # idempotent
    assert remote.comments("2") == ["Closed by SWEN: superseded"] and remote.state("2") == "closed"


def test_get_follows_a_state_a_person_changed_on_the_host(remote: Remote) -> None:
    mr_id = _open(remote.host)
    remote.set_state("1", "merged")
    assert remote.host.get(mr_id).state is MRState.MERGED
    assert [m.id for m in remote.host.list(state=MRState.MERGED)] == [mr_id]
    other = _open(remote.host, OTHER)
    remote.set_state("2", "closed")
    assert remote.host.get(other).state is MRState.CLOSED


def test_a_comment_is_posted_only_on_a_real_change(remote: Remote) -> None:
    mr_id = _open(remote.host)
    plan = "Plan: 1 to add, 0 to change, 1 to destroy.\n\n| service | before | after |"
    assert remote.host.comment(mr_id, plan) is True
    assert remote.host.comment(mr_id, plan) is False  # same as SWEN's last comment: skipped
    assert remote.host.comment(mr_id, f"  {plan}\n") is False  # surrounding whitespace is no change
    remote.person_comments("1", "looks good to me")  # a person's comment is not SWEN's last one
    assert remote.host.comment(mr_id, plan) is False
    changed = plan.replace("1 to destroy", "0 to destroy")
    assert remote.host.comment(mr_id, changed) is True
    assert remote.host.comment(mr_id, plan) is True  # differs from the last one again
    swen = [c for c in remote.comments("1") if c.endswith(COMMENT_MARKER)]
    assert [c.removesuffix(COMMENT_MARKER).strip() for c in swen] == [plan, changed, plan]


def test_an_unchanged_comment_costs_no_request_to_the_host(remote: Remote) -> None:
    mr_id = _open(remote.host)
    assert remote.host.comment(mr_id, "Plan: 1 to add, 0 to change, 1 to destroy.") is True
    before = len(remote.fake.requests)
    assert remote.host.comment(mr_id, "Plan: 1 to add, 0 to change, 1 to destroy.") is False
    assert len(remote.fake.requests) == before  # the store's record of the last comment answers


def test_a_comment_posted_before_a_crash_is_not_posted_twice(remote: Remote) -> None:
    mr_id = _open(remote.host)
    body = "Plan: 0 to add, 1 to change, 0 to destroy."
    remote.person_comments("1", marked(body))  # SWEN posted it, then crashed before recording it
    assert remote.host.comment(mr_id, body) is False
    assert remote.comments("1") == [marked(body)]
    before = len(remote.fake.requests)
    assert remote.host.comment(mr_id, body) is False and len(remote.fake.requests) == before


def test_comment_input_is_checked_before_the_host_is_called(remote: Remote) -> None:
    mr_id = _open(remote.host)
    before = len(remote.fake.requests)
    for bad in ("", "   ", "x" * 60_001):
        with pytest.raises(InvalidInputError, match="a comment needs"):
            remote.host.comment(mr_id, bad)
    assert len(remote.fake.requests) == before


def test_a_bad_token_is_a_clear_error_and_nothing_is_stored(remote: Remote) -> None:
    host = remote.build(token="wrong-token")
    with pytest.raises(GitOpsError) as info:
        _open(host)
    error = info.value
    assert isinstance(error, SwenError) and not error.transient
    assert "HTTP 401" in error.message and error.hint and f"SWEN_{remote.name.upper()}_TOKEN" in error.hint
    assert "wrong-token" not in f"{error.message} {error.hint}"
    assert host.list() == [] and remote.created() == 0


def test_an_unknown_repository_is_a_clear_error(remote: Remote) -> None:
    host = remote.build(project="platform/nope")
    with pytest.raises(GitOpsError) as info:
        _open(host)
    assert "HTTP 404" in info.value.message and info.value.hint
    assert f"SWEN_{remote.name.upper()}_" in info.value.hint and not info.value.transient
    assert host.list() == []


def test_a_transient_server_error_is_retried_without_duplicates(remote: Remote) -> None:
    remote.fake.fail_next = [503]
    _open(remote.host)
    assert remote.created() == 1 and len(remote.host.list()) == 1


def test_an_unreachable_host_is_a_quick_transient_error(remote: Remote, store: Store) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    host: MergeRequestHost
    if remote.name == "gitlab":
        host = GitLabMergeRequestHost(store, url=f"http://127.0.0.1:{port}", token="t", project="a/b")
    else:
        host = GitHubMergeRequestHost(
            store, repository="a/b", token="t", api_url=f"http://127.0.0.1:{port}", **fake_github.NO_PAUSES
        )
    with pytest.raises(GitOpsError) as info:
        _open(host)
    assert info.value.transient and info.value.message.startswith(
        f"{remote.name.replace('gitlab', 'GitLab').replace('github', 'GitHub')} listing"
    )
    assert host.list() == []


def test_the_local_host_also_comments_only_on_a_change(store: Store) -> None:
    host = LocalMergeRequestHost(store)
    mr_id = _open(host)
    assert host.comment(mr_id, "plan A") is True
    assert host.comment(mr_id, "plan A") is False
    assert host.comment(mr_id, "plan B") is True
    assert host.comment(mr_id, "plan A") is True


# --- the pipeline's comment and the description, on each host ------------------------------------
T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


def _swen_comments(remote: Remote, external_id: str) -> list[str]:
    return [unmarked(c) or "" for c in remote.comments(external_id) if unmarked(c) is not None]


def _edit_branch(settings: Settings, branch: str, old: str, new: str) -> None:
    """A person pushes a commit to the MR's branch (``old`` -> ``new`` in the tfvars, once)."""
    repo = InfraRepo.open(settings)
    repo.fetch()
    head = repo.rev_parse(f"origin/{branch}")
    text = repo.read_file(head)
    assert old in text
    repo.commit_file(
        branch=branch, base=head, path=TFVARS_PATH, content=text.replace(old, new, 1), message="more replicas"
    )
    repo.push_branch(branch, replacing=head)


@pytest.mark.slow
def test_the_pipeline_comments_once_per_real_change_and_the_description_has_costs_and_route(
    remote: Remote, settings: Settings, store: Store
) -> None:
    init_infra_repo(settings)
    driver = MoveDriver(settings, store, host=remote.host, notifier=Notifier(store, ()), backoff=FAST)
    driver.sync()
    run_simulator(settings, store, start=T0, max_steps=1, seed=11)  # every service priced
    committer = Committer(
        store,
        driver.repo,
        remote.host,
        events=Lifecycle(store),
        fleet_costs=lambda: fleet_monthly_costs(store),
    )
    mr = committer.propose(decision("d-stateful", **ORDERS_API, confidence=0.9))
    ext = mr.external_id or ""

    # at open: the cost table with the fleet total, the explanation, the expected route
    description = remote.description(ext)
    assert description == mr.description
    savings = store.get_decision("d-stateful").decision.savings
    before, after = savings.current_monthly_usd, savings.target_monthly_usd
    assert f"| `orders-api` | ${before:,.2f} | ${after:,.2f} | -${before - after:,.2f}" in description
    costs = fleet_monthly_costs(store)  # the fleet where it runs now, orders-api at the decision's figure
    fleet_before = sum(c or 0.0 for c in costs.values()) - (costs["orders-api"] or 0.0) + before
    assert (
        f"| **total (fleet)** | ${fleet_before:,.2f} | ${fleet_before - before + after:,.2f} |" in description
    )
    assert "### Why" in description and "**Expected: a person approves it**" in description
    assert "- needs a person: `orders-api` is stateful: a person approves every move of it" in description
    assert _swen_comments(remote, ext) == []

    # after plan and policy: one comment with the verdict, its reasons, the plan and the cost
    assert driver.runner.run(mr.id).run.status is RunStatus.AWAITING_APPROVAL
    [first] = _swen_comments(remote, ext)
    lines = first.splitlines()
    assert lines[0] == "### SWEN: plan and policy for `orders-api` (migration)"
    assert "**Needs a person** before it is applied, because:" in lines
    assert any(line.startswith("- `stateful_service`: orders-api is stateful") for line in lines), lines
    assert f"Approve with `swen mr approve {mr.id}` or on the dashboard's review card." in lines
    assert "`Plan: 1 to add, 0 to change, 1 to destroy.`" in lines
    assert '| replace | `terraform_data.placement["orders-api"]` | **yes** |' in lines
    assert "Stateful: **yes**, 1 stateful resource(s) change." in lines

    # the same plan and verdict again: nothing posted
    requests = len(remote.fake.requests)
    assert driver.runner.run(mr.id).run.status is RunStatus.AWAITING_APPROVAL
    assert _swen_comments(remote, ext) == [first]
    assert not remote.fake.calls("POST", "/notes" if remote.name == "gitlab" else "/comments")[requests:]

    # a push that changes the plan (another service's replicas too): posted again, once
    _edit_branch(settings, mr.branch, "replicas      = 2", "replicas      = 3")
    assert driver.runner.run(mr.id).run.status is RunStatus.AWAITING_APPROVAL
    assert driver.runner.run(mr.id).run.status is RunStatus.AWAITING_APPROVAL
    first_again, second = _swen_comments(remote, ext)
    assert first_again == first and second != first
    assert "`Plan: 1 to add, 1 to change, 1 to destroy.`" in second.splitlines()
    assert any(line.startswith("- `changes_beyond_move`: plan would update") for line in second.splitlines())


def test_both_hosts_hold_the_same_description_and_comments(tmp_path: Path) -> None:
    """One sequence of review comments (posted, unchanged, changed, back) on each host: what each host
    ends up holding, SWEN's comments and the description, is the same text."""
    d = decision("d-1", **ORDERS_API)
    person = GateVerdict(
        "manual_review", ("stateful_service: orders-api is stateful; a person must approve",)
    )
    paused = GateVerdict(
        "manual_review", (*person.reasons, "automation_paused: automatic applies are paused")
    )
    plan = summarise_plan(
        {
            "format_version": "1.2",
            "resource_changes": [
                {
                    "address": 'terraform_data.placement["orders-api"]',
                    "mode": "managed",
                    "type": "terraform_data",
                    "name": "placement",
                    "index": "orders-api",
                    "change": {"actions": ["delete", "create"], "before": {}, "after": {}},
                }
            ],
        }
    )
    held: dict[str, tuple[str, list[str], list[str]]] = {}
    for name, make in (("gitlab", _gitlab), ("github", _github)):
        with Store.open(Settings(home=tmp_path / name)) as store:
            running = make(store)
            remote = next(running)  # the fake serves until the generator is closed
            description = mr_description(d, kind=MRKind.MIGRATION, source=d.current, target=d.target)
            mr = remote.host.open(
                BRANCH, "swen: move orders-api", description, "d-1", "orders-api", MRKind.MIGRATION
            )
            notes = [
                post_review_comment(remote.host, mr, d, plan, verdict)
                for verdict in (person, person, paused, person)
            ]
            held[name] = (remote.description("1"), _swen_comments(remote, "1"), notes)
            running.close()
    assert held["gitlab"] == held["github"]
    description, comments, notes = held["github"]
    assert len(comments) == 3 and comments[0] == comments[2] != comments[1]
    assert notes[1] == "review comment unchanged since SWEN's last one: not posted"
