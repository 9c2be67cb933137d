"""Merge requests and pipeline runs in the store, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from swen.domain.errors import ConflictError, InvalidInputError, NotFoundError
from swen.domain.events import EventType
from swen.domain.merge_requests import MRKind, MRState, RunStatus, StageName, StageStatus
from swen.store.mrs import MergeRequestRepository, PipelineRepository
from swen.store.repository import Store

BRANCH = "ai-rec/service-2-alibaba-20261126T101503Z"


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    with Store.from_url(database_url) as opened:
        yield opened


def _create(mrs: MergeRequestRepository, branch: str = BRANCH, service: str = "service-2") -> int:
    mr = mrs.create(
        decision_id="d-1",
        service=service,
        branch=branch,
        host="local",
        title="swen: move service-2",
        description="why",
        kind=MRKind.MIGRATION,
    )
    return mr.id


def test_merge_request_lifecycle_and_events(store: Store) -> None:
    mrs = MergeRequestRepository(store)
    mr_id = _create(mrs)
    mr = mrs.get(mr_id)
    assert mr.state is MRState.OPENED and mr.created_at.tzinfo is not None
    assert mrs.get_by_branch(BRANCH) == mr and mrs.get_by_branch("ai-rec/x-aws-20261126T101503Z") is None
    with pytest.raises(ConflictError):
        _create(mrs)
    approved = mrs.update(mr_id, action="approved", approved_by="alice", review="manual_review")
    assert approved.approved_by == "alice" and approved.review == "manual_review"
    merged = mrs.update(mr_id, action="merged", state=MRState.MERGED, detail={"sha": "abc"})
    assert merged.state is MRState.MERGED
    actions = [e.payload["action"] for e in store.events_after(0, types=[EventType.MR])]
    assert actions == ["opened", "approved", "merged"]
    assert store.verify_audit().ok
    with pytest.raises(NotFoundError):
        mrs.get(9999)


def test_list_filters_newest_first(store: Store) -> None:
    mrs = MergeRequestRepository(store)
    a = _create(mrs)
    b = _create(mrs, branch="ai-rec/service-3-aws-20261126T101503Z", service="service-3")
    mrs.update(a, action="closed", state=MRState.CLOSED)
    assert [m.id for m in mrs.list()] == [b, a]
    assert [m.id for m in mrs.list(state=MRState.OPENED)] == [b]
    assert [m.id for m in mrs.list(service="service-2")] == [a]
    with pytest.raises(InvalidInputError):
        mrs.list(limit=0)


def test_pipeline_runs_and_stages(store: Store) -> None:
    mrs, runs = MergeRequestRepository(store), PipelineRepository(store)
    mr_id = _create(mrs)
    t0 = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
    run = runs.start_run(mr_id, at=t0)
    assert run.status is RunStatus.RUNNING and run.stages == ()
    runs.record_stage(run.id, StageName.POLICY, StageStatus.RUNNING, started_at=t0 + timedelta(seconds=2))
    runs.record_stage(run.id, "validate", "success", started_at=t0, duration_s=1.5, log="ok")
    done = runs.record_stage(
        run.id, StageName.POLICY, StageStatus.WAITING, duration_s=0.2, log="manual review"
    )
    assert done.started_at == t0 + timedelta(seconds=2)  # kept from the first record
    waiting = runs.set_status(run.id, RunStatus.AWAITING_APPROVAL)
    assert waiting.status is RunStatus.AWAITING_APPROVAL
    finished = runs.finish_run(
        run.id,
        RunStatus.SUCCESS,
        plan_summary={"change": 1},
        policy_result={"allow": True},
        at=t0 + timedelta(1),
    )
    assert [s.name for s in finished.stages] == [StageName.VALIDATE, StageName.POLICY]
    assert finished.stages[1].status is StageStatus.WAITING and finished.stages[1].log == "manual review"
    assert finished.plan_summary == {"change": 1} and finished.finished_at == t0 + timedelta(1)
    assert runs.latest_run(mr_id) == finished and [r.id for r in runs.list_runs(mr_id=mr_id)] == [run.id]
    pipeline_events = store.events_after(0, types=[EventType.PIPELINE])
    assert pipeline_events[0].payload["action"] == "run_started"
    assert pipeline_events[-1].payload == {
        "action": "run_finished",
        "run_id": run.id,
        "status": "success",
        "mr_id": mr_id,
        "branch": BRANCH,
    }
    with pytest.raises(InvalidInputError, match="unknown pipeline stage"):
        runs.record_stage(run.id, "deploy", "success")
    with pytest.raises(NotFoundError):
        runs.start_run(424242)


def test_the_last_comment_is_kept_per_merge_request(store: Store) -> None:
    mrs = MergeRequestRepository(store)
    first, second = _create(mrs), _create(mrs, "ai-rec/service-3-aws-20261126T101503Z", "service-3")
    assert mrs.last_comment_sha256(first) is None
    mrs.record_comment(first, sha256="a" * 64, chars=10)
    mrs.record_comment(first, sha256="b" * 64, chars=12)  # replaces, one row per MR
    mrs.record_comment(second, sha256="c" * 64, chars=5, posted=False)
    assert (mrs.last_comment_sha256(first), mrs.last_comment_sha256(second)) == ("b" * 64, "c" * 64)
    actions = [
        (e.payload["action"], e.payload["detail"]["sha256"][0])
        for e in store.events_after(0, types=[EventType.MR])
        if e.payload["action"] in {"commented", "comment_found"}
    ]
    assert actions == [("commented", "a"), ("commented", "b"), ("comment_found", "c")]
    with pytest.raises(NotFoundError):
        mrs.record_comment(999, sha256="d" * 64, chars=1)
    assert store.verify_audit().ok
