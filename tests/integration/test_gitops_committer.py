"""Committer against real git (bare origin in a temp dir) and a real SQLite store."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from support.builders import decision
from support.platform import TEST_TEMPLATE, git
from swen.config import Settings
from swen.domain.decision import Decision, DecisionStatus
from swen.domain.errors import ConflictError, GitOpsError, InvalidInputError
from swen.domain.events import EventType
from swen.domain.merge_requests import MergeRequest, MRKind, MRState
from swen.domain.models import Placement
from swen.gitops.committer import Committer
from swen.gitops.mr_hosts import LocalMergeRequestHost
from swen.gitops.repo import InfraRepo, RetryPolicy, init_infra_repo
from swen.gitops.template import TFVARS_PATH
from swen.gitops.tfvars import read_placements
from swen.moves.lifecycle import Lifecycle
from swen.store.repository import Store

S = DecisionStatus
T0 = datetime(2026, 11, 26, 10, 15, 3, tzinfo=UTC)
"""When the decisions whose branch names the tests spell out were made."""


@pytest.fixture
def store(settings: Settings) -> Iterator[Store]:
    with Store.open(settings) as opened:
        yield opened


@pytest.fixture
def repo(settings: Settings) -> InfraRepo:
    init_infra_repo(settings, template_root=TEST_TEMPLATE)
    return InfraRepo.open(settings, retry=RetryPolicy(sleep=lambda _s: None))


@pytest.fixture
def host(store: Store, repo: InfraRepo) -> LocalMergeRequestHost:
    return LocalMergeRequestHost(store, repo)


@pytest.fixture
def committer(store: Store, repo: InfraRepo, host: LocalMergeRequestHost) -> Committer:
    return Committer(store, repo, host, events=Lifecycle(store))


def origin(settings: Settings) -> Path:
    return Path(settings.infra_remote_url)


def branches(settings: Settings) -> list[str]:
    out = git("for-each-ref", "--format=%(refname:short)", "refs/heads", cwd=origin(settings))
    return sorted(out.split())


def test_propose_pushes_one_entry_and_opens_an_mr(
    committer: Committer, store: Store, settings: Settings
) -> None:
    mr = committer.propose(
        decision(
            "d-1",
            service="service-2",
            target_type="ecs.g7.xlarge",
            current_cost=280.32,
            target_cost=200.0,
            confidence=0.91,
            created_at=T0,
        )
    )

    branch = "ai-rec/service-2-alibaba-20261126T101503Z"
    assert mr.branch == branch and mr.state is MRState.OPENED and mr.kind is MRKind.MIGRATION
    assert branches(settings) == [branch, "main"]
    assert git("diff", "--name-only", f"main..{branch}", cwd=origin(settings)).split() == [TFVARS_PATH]
    diff = git("diff", "-U0", f"main..{branch}", cwd=origin(settings))
    changed = [line for line in diff.splitlines() if line[:1] in "+-" and line[:3] not in ("+++", "---")]
    assert changed == [
        '-    provider      = "aws"',
        '-    region        = "us-east-1"',
        '-    instance_type = "m5.xlarge"',
        '+    provider      = "alibaba"',
        '+    region        = "ap-southeast-1"',
        '+    instance_type = "ecs.g7.xlarge"',
    ]
    message = git("log", "-1", "--format=%B", branch, cwd=origin(settings))
    assert message.startswith("swen: move service-2 aws/us-east-1 -> alibaba/ap-southeast-1\n\n")
    assert "28.7% cheaper" in message
    trailers = _trailers(message)
    assert trailers["Decision-Id"] == "d-1"
    assert trailers["From"] == "aws/us-east-1" and trailers["To"] == "alibaba/ap-southeast-1"
    assert trailers["Savings-Monthly-USD"] == "79.57" and trailers["Confidence"] == "0.910"

    assert store.get_decision("d-1").status is S.MR_OPENED
    assert [m.id for m in store_mrs(committer)] == [mr.id]
    mr_events = [e for e in store.decision_history("d-1") if e.type == EventType.MR]
    assert mr_events and mr_events[0].payload["action"] == "opened"
    assert "| From -> to | `aws/us-east-1` -> `alibaba/ap-southeast-1` |" in mr.description


def _trailers(message: str) -> dict[str, str]:
    import subprocess

    out = subprocess.run(
        ["git", "interpret-trailers", "--parse"], input=message, capture_output=True, text=True, check=True
    ).stdout
    return dict(line.split(": ", 1) for line in out.splitlines())


def store_mrs(committer: Committer) -> list[MergeRequest]:
    return committer.host.list()


def test_propose_twice_is_idempotent(committer: Committer, settings: Settings) -> None:
    first = committer.propose(decision("d-1", service="service-2"))
    sha = git("rev-parse", first.branch, cwd=origin(settings))
    again = committer.propose(decision("d-1", service="service-2"))
    assert again.id == first.id
    assert len(store_mrs(committer)) == 1
    assert git("rev-parse", first.branch, cwd=origin(settings)) == sha


def test_newer_decision_supersedes_the_open_mr(
    committer: Committer, store: Store, settings: Settings
) -> None:
    old = committer.propose(decision("d-old", service="service-2"))
    new = committer.propose(
        decision(
            "d-new",
            service="service-2",
            target="aws/us-west-2",
            target_type="m5.large",
            created_at=T0 + timedelta(minutes=5),
        )
    )
    assert new.branch == "ai-rec/service-2-aws-20261126T102003Z"
    assert committer.host.get(old.id).state is MRState.CLOSED
    assert store.get_decision("d-old").status is S.SUPERSEDED
    assert store.get_decision("d-new").status is S.MR_OPENED
    open_mrs = committer.host.list(state=MRState.OPENED, service="service-2")
    assert [m.id for m in open_mrs] == [new.id]
    # the new branch is cut from main, not from the superseded branch
    diff = git("diff", "--name-only", f"main..{new.branch}", cwd=origin(settings)).split()
    assert diff == [TFVARS_PATH]
    text = git("show", f"{new.branch}:{TFVARS_PATH}", cwd=origin(settings))
    assert read_placements(text)["service-2"].region == "us-west-2"


def test_other_services_are_not_superseded(committer: Committer, store: Store) -> None:
    committer.propose(decision("d-2", service="service-2"))
    committer.propose(
        decision("d-3", service="service-3", current="alibaba/ap-southeast-1", target="aws/us-east-1")
    )
    assert store.get_decision("d-2").status is S.MR_OPENED
    assert len(committer.host.list(state=MRState.OPENED)) == 2


class CrashingHost(LocalMergeRequestHost):
    """Dies once between push and MR creation, as a process killed at that point would."""

    crashes = 1

    def open(self, *args: object, **kwargs: object) -> MergeRequest:
        if self.crashes:
            self.crashes -= 1
            raise RuntimeError("simulated crash after push")
        return super().open(*args, **kwargs)  # type: ignore[arg-type]


def test_crash_between_push_and_mr_recovers_without_duplicates(
    store: Store, repo: InfraRepo, settings: Settings
) -> None:
    committer = Committer(store, repo, CrashingHost(store, repo), events=Lifecycle(store))
    with pytest.raises(RuntimeError, match="simulated crash"):
        committer.propose(decision("d-1", service="service-2", created_at=T0))
    branch = "ai-rec/service-2-alibaba-20261126T101503Z"
    assert branch in branches(settings) and committer.host.list() == []
    pushed = git("rev-parse", branch, cwd=origin(settings))

    restarted = Committer(
        store, InfraRepo.open(settings), LocalMergeRequestHost(store, repo), events=Lifecycle(store)
    )
    mr = restarted.propose(decision("d-1", service="service-2", created_at=T0))
    assert mr.branch == branch
    assert branches(settings) == [branch, "main"]
    assert git("rev-parse", branch, cwd=origin(settings)) == pushed
    assert len(restarted.host.list()) == 1
    assert store.get_decision("d-1").status is S.MR_OPENED


def test_crash_after_mr_before_transition_is_finished(committer: Committer, store: Store) -> None:
    move = decision("d-1", service="service-2", created_at=T0)
    store.save_decision(move)
    mr = committer.host.open(
        "ai-rec/service-2-alibaba-20261126T101503Z", "t", "d", "d-1", "service-2", MRKind.MIGRATION
    )
    assert store.get_decision("d-1").status is S.PROPOSED
    assert committer.propose(move).id == mr.id
    assert store.get_decision("d-1").status is S.MR_OPENED


def test_push_rejected_by_remote_fails_and_opens_nothing(
    committer: Committer, store: Store, settings: Settings
) -> None:
    hook = origin(settings) / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'branch protection: no ai-rec today' >&2\nexit 1\n")
    hook.chmod(0o755)
    with pytest.raises(GitOpsError) as info:
        committer.propose(decision("d-1", service="service-2"))
    assert "no ai-rec today" in str(info.value) and "pre-receive hook declined" in str(info.value)
    assert committer.host.list() == []
    assert branches(settings) == ["main"]
    assert store.get_decision("d-1").status is S.FAILED


@pytest.mark.parametrize(
    ("service", "target"),
    [
        ('service-2"\nevil', Placement.model_construct(provider="alibaba", region="ap-southeast-1")),
        ("service-2", Placement.model_construct(provider="..", region="ap-southeast-1")),
        ("service-2", Placement.model_construct(provider="alibaba", region="../../x")),
        ("--upload-pack=x", Placement.model_construct(provider="alibaba", region="ap-southeast-1")),
        ("service-2", Placement.model_construct(provider="--force", region="ap-southeast-1")),
    ],
)
def test_bad_names_are_rejected_and_change_nothing(
    committer: Committer, store: Store, settings: Settings, service: str, target: Placement
) -> None:
    good = decision("d-bad", service="service-2")
    bad = Decision.model_construct(**{**dict(good), "service": service, "target": target})
    head = git("rev-parse", "main", cwd=origin(settings))
    with pytest.raises(InvalidInputError):
        committer.propose(bad)
    assert branches(settings) == ["main"] and git("rev-parse", "main", cwd=origin(settings)) == head
    assert committer.host.list() == [] and store.list_decisions() == []
    assert git("status", "--porcelain", cwd=settings.infra_repo_path) == ""


def test_emergency_uses_emergency_branch(committer: Committer) -> None:
    mr = committer.propose(decision("d-e", service="service-2", emergency=True))
    assert mr.branch.startswith("emergency/service-2-alibaba-") and mr.kind is MRKind.EMERGENCY


def test_unknown_service_in_tfvars_changes_nothing(
    committer: Committer, store: Store, settings: Settings
) -> None:
    from swen.domain.errors import NotFoundError

    with pytest.raises(NotFoundError):
        committer.propose(decision("d-x", service="service-9"))
    assert branches(settings) == ["main"]
    assert store.get_decision("d-x").status is S.FAILED


def test_target_already_on_main_fails_the_decision(
    committer: Committer, store: Store, settings: Settings
) -> None:
    with pytest.raises(ConflictError, match="already places"):
        committer.propose(
            decision(
                "d-y",
                service="service-2",
                current="aws/us-west-2",
                target="aws/us-east-1",
                target_type="m5.xlarge",
            )
        )
    assert branches(settings) == ["main"] and store.get_decision("d-y").status is S.FAILED


def _apply(store: Store, decision_id: str) -> None:
    for status in (S.PIPELINE_RUNNING, S.APPROVED, S.APPLIED):
        store.transition(decision_id, status)


def test_rollback_puts_the_previous_placement_back(
    committer: Committer, store: Store, settings: Settings
) -> None:
    mr = committer.propose(decision("d-1", service="service-2", current_type="m5.xlarge", created_at=T0))
    with pytest.raises(ConflictError):
        committer.propose_rollback("d-1")  # not applied yet
    committer.host.merge(mr.id)
    _apply(store, "d-1")
    rollback = committer.propose_rollback("d-1")
    assert rollback.kind is MRKind.ROLLBACK and rollback.branch == "rollback/service-2-aws-20261126T101503Z"
    assert rollback.decision_id == "d-1"
    text = git("show", f"{rollback.branch}:{TFVARS_PATH}", cwd=origin(settings))
    entry = read_placements(text)["service-2"]
    assert (entry.provider, entry.region, entry.instance_type) == ("aws", "us-east-1", "m5.xlarge")
    assert git("show", f"main:{TFVARS_PATH}", cwd=origin(settings)) != text
    assert git("diff", "--name-only", f"main..{rollback.branch}", cwd=origin(settings)).split() == [
        TFVARS_PATH
    ]
    message = git("log", "-1", "--format=%s", rollback.branch, cwd=origin(settings)).strip()
    assert message == "swen: roll back service-2 alibaba/ap-southeast-1 -> aws/us-east-1"
    assert committer.propose_rollback("d-1").id == rollback.id  # idempotent
    assert store.get_decision("d-1").status is S.APPLIED  # the pipeline marks it rolled back


def test_open_rollback_blocks_a_new_proposal(committer: Committer, store: Store) -> None:
    mr = committer.propose(decision("d-1", service="service-2"))
    committer.host.merge(mr.id)
    _apply(store, "d-1")
    committer.propose_rollback("d-1")
    with pytest.raises(ConflictError, match="rollback"):
        committer.propose(
            decision("d-2", service="service-2", target="aws/us-west-2", created_at=T0 + timedelta(hours=2))
        )
    assert store.get_decision("d-2").status is S.PROPOSED


def test_approved_mr_cannot_be_superseded(committer: Committer, store: Store, settings: Settings) -> None:
    committer.propose(decision("d-1", service="service-2"))
    store.transition("d-1", S.PIPELINE_RUNNING)
    store.transition("d-1", S.APPROVED)
    with pytest.raises(ConflictError, match="cannot be superseded"):
        committer.propose(
            decision("d-2", service="service-2", target="aws/us-west-2", created_at=T0 + timedelta(minutes=1))
        )
    assert len(branches(settings)) == 2  # nothing pushed for d-2
