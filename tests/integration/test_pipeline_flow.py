"""The whole pipeline with real git, real terraform (sim root) and a real SQLite store."""

from __future__ import annotations

from pathlib import Path

import pytest
from pipeline_env import PipelineEnv, make_decision, make_env

from swen.domain.decision import DecisionStatus
from swen.domain.events import EventType
from swen.domain.models import Placement
from swen.gitops.mr_hosts import MRState
from swen.gitops.tfvars import read_placements
from swen.store.mrs import RunStatus, StageName, StageStatus

S = DecisionStatus
pytestmark = pytest.mark.slow


@pytest.fixture
def env(swen_home: Path) -> PipelineEnv:
    return make_env(swen_home)


def _statuses(env: PipelineEnv, decision_id: str) -> list[str]:
    return [
        e.payload["to"]
        for e in env.store.decision_history(decision_id)
        if e.type == EventType.DECISION_STATUS.value
    ]


def test_sync_records_the_applied_placements(env: PipelineEnv) -> None:
    placements = env.store.get_placements()
    assert placements["service-1"] == Placement(provider="aws", region="us-east-1")
    assert env.state_outputs()["service-1"] == {"provider": "aws", "region": "us-east-1"}


def test_confident_cheaper_stateless_move_is_applied_end_to_end(env: PipelineEnv) -> None:
    decision = make_decision("d-auto")
    mr = env.committer.propose(decision)

    run = env.runner.run(mr.id)

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
