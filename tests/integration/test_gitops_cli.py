"""`swen init` and `swen mr ...` against a real store, real git and the shipped template."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from support.builders import T0, decision
from support.platform import git
from swen.cli import app
from swen.config import Settings
from swen.domain.decision import DecisionStatus
from swen.domain.errors import ConflictError, InvalidInputError
from swen.domain.merge_requests import MergeRequest, MRState
from swen.gitops.committer import Committer
from swen.gitops.mr_hosts import LocalMergeRequestHost
from swen.gitops.repo import InfraRepo
from swen.moves.lifecycle import Lifecycle
from swen.store.mrs import PipelineRepository
from swen.store.repository import Store

S = DecisionStatus


@pytest.fixture
def cli(swen_home: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("SWEN_HOME", str(swen_home))
    monkeypatch.setenv("COLUMNS", "220")
    return CliRunner()


def test_init_is_idempotent_and_reports(cli: CliRunner, settings: Settings) -> None:
    first = cli.invoke(app, ["init"])
    assert first.exit_code == 0, first.output
    assert "origin     created" in first.output and "infra repo created" in first.output
    second = cli.invoke(app, ["init"])
    assert second.exit_code == 0 and "infra repo exists" in second.output
    origin = Path(settings.infra_remote_url)
    assert len(git("log", "--oneline", "main", cwd=origin).splitlines()) == 1
    assert "infra/terraform.tfvars" in git("ls-tree", "-r", "--name-only", "main", cwd=origin)
    assert (settings.home / "swen.db").exists()


def test_swen_init_shows_the_postgresql_url_without_its_password(
    pg_url: str, swen_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    user_and_password = pg_url.split("//", 1)[1].split("@", 1)[0]
    user, _, password = user_and_password.partition(":")
    assert password, "the test database URL has a password"
    monkeypatch.setenv("SWEN_HOME", str(swen_home))
    monkeypatch.setenv("SWEN_DATABASE_URL", pg_url)
    result = CliRunner().invoke(app, ["init"])
    assert result.exit_code == 0, result.output
    assert f"store      ready   postgresql://{user}:***@" in result.output
    assert user_and_password + "@" not in result.output


def _proposed(settings: Settings) -> tuple[Store, list[MergeRequest]]:
    store = Store.open(settings)
    repo = InfraRepo.open(settings)
    committer = Committer(store, repo, LocalMergeRequestHost(store, repo), events=Lifecycle(store))
    first = committer.propose(decision("d-1", service="service-2"))
    second = committer.propose(
        decision("d-2", service="service-3", current="alibaba/ap-southeast-1", target="aws/us-east-1")
    )
    return store, [first, second]


def test_mr_list_show_approve_reject(cli: CliRunner, settings: Settings) -> None:
    assert cli.invoke(app, ["init"]).exit_code == 0
    store, (first, second) = _proposed(settings)
    try:
        listed = cli.invoke(app, ["mr", "list", "--state", "opened"])
        assert listed.exit_code == 0, listed.output
        assert first.branch in listed.output and second.branch in listed.output

        shown = cli.invoke(app, ["mr", "show", str(first.id)])
        assert shown.exit_code == 0 and "no pipeline run yet" in shown.output and "d-1" in shown.output
        runs = PipelineRepository(store)
        run = runs.start_run(first.id, at=T0 + timedelta(seconds=5))
        runs.record_stage(run.id, "validate", "success", duration_s=0.4, log="fmt ok\nvalidate ok")
        runs.record_stage(run.id, "policy", "waiting", duration_s=0.01, log="manual review: stateful")
        shown = cli.invoke(app, ["mr", "show", str(first.id)])
        assert "validate ok" in shown.output and "manual review: stateful" in shown.output

        store.transition("d-1", S.PIPELINE_RUNNING)
        store.transition("d-1", S.AWAITING_APPROVAL)
        approved = cli.invoke(app, ["mr", "approve", str(first.id), "--by", "alice", "--record-only"])
        assert approved.exit_code == 0, approved.output
        assert store.get_decision("d-1").status is S.APPROVED
        assert LocalMergeRequestHost(store).get(first.id).approved_by == "alice"
        twice = cli.invoke(app, ["mr", "approve", str(first.id), "--by", "carol", "--record-only"])
        assert isinstance(twice.exception, ConflictError) and "already approved by alice" in str(
            twice.exception
        )
        merged = cli.invoke(app, ["mr", "merge", str(first.id)])
        assert merged.exit_code == 0, merged.output
        origin = Path(settings.infra_remote_url)
        assert git("rev-parse", "main", cwd=origin) == git("rev-parse", first.branch, cwd=origin)

        rejected = cli.invoke(app, ["mr", "reject", str(second.id), "--reason", "not before the launch"])
        assert rejected.exit_code == 0, rejected.output
        assert store.get_decision("d-2").status is S.REJECTED
        assert LocalMergeRequestHost(store).get(second.id).state is MRState.CLOSED
        reasons = [e.payload.get("detail", {}).get("reason") for e in store.decision_history("d-2")]
        assert "not before the launch" in reasons

        again = cli.invoke(app, ["mr", "approve", str(second.id), "--by", "bob"])
        assert isinstance(again.exception, ConflictError)
        unapproved = cli.invoke(app, ["mr", "merge", str(second.id)])
        assert isinstance(unapproved.exception, ConflictError)
        bad = cli.invoke(app, ["mr", "list", "--state", "bogus"])
        assert isinstance(bad.exception, InvalidInputError)
        empty_reason = cli.invoke(app, ["mr", "reject", str(first.id), "--reason", "  "])
        assert isinstance(empty_reason.exception, InvalidInputError)
    finally:
        store.close()


def test_early_approval_is_recorded_without_skipping_the_gate(cli: CliRunner, settings: Settings) -> None:
    assert cli.invoke(app, ["init"]).exit_code == 0
    store, (first, _second) = _proposed(settings)
    try:
        assert cli.invoke(app, ["mr", "approve", str(first.id), "--by", "alice"]).exit_code == 0
        assert store.get_decision("d-1").status is S.MR_OPENED
        assert LocalMergeRequestHost(store).get(first.id).approved_by == "alice"
    finally:
        store.close()
