"""The whole pipeline with real git, real terraform (sim root) and a real SQLite store."""

from __future__ import annotations

from pathlib import Path

import pytest

from support.builders import ORDERS_API, decision
from support.platform import Platform, make_platform
from swen.domain.decision import DecisionStatus
from swen.domain.events import EventType
from swen.domain.merge_requests import MRState, RunStatus, StageName, StageStatus
from swen.domain.models import Placement
from swen.gitops.tfvars import read_placements

S = DecisionStatus
pytestmark = pytest.mark.slow


@pytest.fixture
def env(swen_home: Path) -> Platform:
    return make_platform(swen_home)


def _statuses(env: Platform, decision_id: str) -> list[str]:
    return [
        e.payload["to"]
        for e in env.store.decision_history(decision_id)
        if e.type == EventType.DECISION_STATUS.value
    ]


def test_sync_records_the_applied_placements(env: Platform) -> None:
    placements = env.store.get_placements()
    assert placements["service-1"] == Placement(provider="aws", region="us-east-1")
    assert env.state_outputs()["service-1"] == {"provider": "aws", "region": "us-east-1"}


def test_first_run_bootstraps_the_state_from_main(swen_home: Path) -> None:
    env = make_platform(swen_home, sync=False)
    assert env.store.get_placements() == {}
    mr = env.committer.propose(decision("d-first"))
    run = env.driver.run(mr.id).run
    # without the bootstrap the plan would create every service and the gate would stop it
    assert run.status is RunStatus.SUCCESS and run.policy_result is not None
    assert run.policy_result["outcome"] == "auto_approve"
    placements = env.store.get_placements()
    assert placements["service-1"] == Placement(provider="alibaba", region="ap-southeast-1")
    assert placements["service-2"] == Placement(provider="aws", region="us-east-1")


def test_confident_cheaper_stateless_move_is_applied_end_to_end(env: Platform) -> None:
    mr = env.committer.propose(decision("d-auto"))

    run = env.driver.run(mr.id).run

    assert run.status is RunStatus.SUCCESS, [(s.name, s.status, s.log[-300:]) for s in run.stages]
    assert [(s.name, s.status) for s in run.stages] == [(n, StageStatus.SUCCESS) for n in StageName]
    assert all(s.duration_s is not None and s.duration_s >= 0 for s in run.stages)
    assert run.policy_result is not None and run.policy_result["outcome"] == "auto_approve"
    assert run.plan_summary is not None and run.plan_summary["counts"]["replace"] == 1
    # main carries the change, the state and the store agree on the new placement
    entry = read_placements(env.main_tfvars())["service-1"]
    assert (entry.provider, entry.region, entry.instance_type) == (
        "alibaba",
        "ap-southeast-1",
        "ecs.g7.large",
    )
    assert env.state_outputs()["service-1"] == {"provider": "alibaba", "region": "ap-southeast-1"}
    assert env.store.get_placements()["service-1"] == Placement(provider="alibaba", region="ap-southeast-1")
    assert env.store.get_decision("d-auto").status is S.APPLIED
    assert _statuses(env, "d-auto") == ["mr_opened", "pipeline_running", "approved", "applied"]
    assert env.host.get(mr.id).state is MRState.MERGED
    assert env.host.get(mr.id).review == "auto_approve"
    # the stage log shows the tools' output
    validate = run.stages[0]
    assert "terraform validate" in validate.log and "Success" in validate.log
    # pipeline events for every stage transition, one notification
    stage_events = [
        (e.payload["stage"], e.payload["status"])
        for e in env.store.events_after(0, types=[EventType.PIPELINE])
        if e.payload.get("action") == "stage"
    ]
    assert ("apply", "running") in stage_events and ("apply", "success") in stage_events
    assert len(env.store.events_after(0, types=[EventType.NOTIFICATION])) == 1
    assert env.store.verify_audit().ok


def test_stateful_service_waits_for_a_person_then_applies(env: Platform) -> None:
    mr = env.committer.propose(decision("d-stateful", **ORDERS_API))
    before_main = env.main_tfvars()

    run = env.driver.run(mr.id).run

    assert run.status is RunStatus.AWAITING_APPROVAL
    stages = {s.name: s.status for s in run.stages}
    assert stages[StageName.PLAN] is StageStatus.SUCCESS
    assert stages[StageName.APPLY] is StageStatus.WAITING
    assert StageName.NOTIFY not in stages
    assert run.policy_result is not None and run.policy_result["outcome"] == "manual_review"
    assert any(r.startswith("stateful_service") for r in run.policy_result["reasons"])
    assert env.store.get_decision("d-stateful").status is S.AWAITING_APPROVAL
    assert env.main_tfvars() == before_main
    assert env.store.get_placements()["orders-api"] == Placement(provider="aws", region="us-east-1")

    run = env.approve_and_apply(mr.id, "alice")

    assert run.status is RunStatus.SUCCESS
    assert env.host.get(mr.id).approved_by == "alice"
    assert env.store.get_placements()["orders-api"] == Placement(provider="alibaba", region="ap-southeast-1")
    assert _statuses(env, "d-stateful") == [
        "mr_opened",
        "pipeline_running",
        "awaiting_approval",
        "approved",
        "applied",
    ]
    assert read_placements(env.main_tfvars())["orders-api"].provider == "alibaba"


def test_terraform_error_fails_the_stage_and_changes_nothing(env: Platform) -> None:
    # sa-east-1 has no cluster: the sim root's variable validation refuses it at plan time
    mr = env.committer.propose(decision("d-bad-region", target="aws/sa-east-1", target_type="m5.large"))
    before_main = env.main_tfvars()

    run = env.driver.run(mr.id).run

    assert run.status is RunStatus.FAILED
    stages = {s.name: s for s in run.stages}
    assert stages[StageName.VALIDATE].status is StageStatus.SUCCESS
    policy = stages[StageName.POLICY]
    assert policy.status is StageStatus.FAILED
    assert "Invalid value for variable" in policy.log and "cluster is declared" in policy.log
    assert [stages[n].status for n in (StageName.PLAN, StageName.APPLY, StageName.NOTIFY)] == [
        StageStatus.SKIPPED
    ] * 3
    assert env.store.get_decision("d-bad-region").status is S.FAILED
    assert env.store.get_placements()["service-1"] == Placement(provider="aws", region="us-east-1")
    assert env.state_outputs()["service-1"] == {"provider": "aws", "region": "us-east-1"}
    assert env.main_tfvars() == before_main
    [failed] = [
        e
        for e in env.store.events_after(0, types=[EventType.PIPELINE])
        if e.payload["action"] == "run_failed"
    ]
    assert failed.payload["stage"] == "policy" and "terraform plan failed" in failed.payload["error"]


def test_rollback_puts_the_previous_placement_back(env: Platform) -> None:
    mr = env.committer.propose(decision("d-roll"))
    assert env.driver.run(mr.id).run.status is RunStatus.SUCCESS
    assert env.store.get_placements()["service-1"].provider == "alibaba"

    rollback_mr, outcome = env.driver.rollback("d-roll")
    run = outcome.run

    # moving back costs more (+27 %): the gate wants a person
    assert run.status is RunStatus.AWAITING_APPROVAL
    assert run.policy_result is not None and "cost_delta_too_high" in " ".join(run.policy_result["reasons"])
    assert env.store.get_decision("d-roll").status is S.APPLIED
    run = env.approve_and_apply(rollback_mr.id, "bob")
    assert run.status is RunStatus.SUCCESS
    assert env.store.get_placements()["service-1"] == Placement(provider="aws", region="us-east-1")
    assert env.state_outputs()["service-1"] == {"provider": "aws", "region": "us-east-1"}
    entry = read_placements(env.main_tfvars())["service-1"]
    assert (entry.provider, entry.region, entry.instance_type) == ("aws", "us-east-1", "m5.large")
    assert env.store.get_decision("d-roll").status is S.ROLLED_BACK


@pytest.mark.postgres
def test_the_same_run_on_postgresql(swen_home: Path, pg_url: str) -> None:
    env = make_platform(swen_home, database_url=pg_url)
    mr = env.committer.propose(decision("d-pg"))
    run = env.driver.run(mr.id).run
    assert run.status is RunStatus.SUCCESS, [(s.name, s.status, s.log[-300:]) for s in run.stages]
    assert env.store.get_placements()["service-1"] == Placement(provider="alibaba", region="ap-southeast-1")
    assert env.store.get_decision("d-pg").status is S.APPLIED
    assert env.store.verify_audit().ok


def test_a_swen_home_with_spaces_and_quotes_works(tmp_path: Path) -> None:
    """The Terraform state path reaches terraform through TF_CLI_ARGS_init, which terraform splits
    shell-style: a SWEN_HOME such as "/srv/team's swen/home" must not break every pipeline."""
    env = make_platform(tmp_path / "team's swen" / "home")
    assert env.store.get_placements()["service-1"] == Placement(provider="aws", region="us-east-1")
    mr = env.committer.propose(decision("d-spaced"))
    assert env.driver.run(mr.id).run.status is RunStatus.SUCCESS
    assert env.store.get_placements()["service-1"] == Placement(provider="alibaba", region="ap-southeast-1")
