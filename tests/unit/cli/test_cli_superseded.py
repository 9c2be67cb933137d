"""A merge request whose decision a newer one superseded says so in `swen mr show` and `swen pipeline
show`: "superseded by MR n (decision ...)", and no longer suggests `swen mr approve`."""

from __future__ import annotations

from pathlib import Path

import pytest

from support import builders
from support.cli import Swen, make_swen
from swen.config import Settings
from swen.domain.merge_requests import MergeRequest, MRKind, MRState, RunStatus, StageName
from swen.moves.lifecycle import Lifecycle
from swen.store.mrs import MergeRequestRepository, PipelineRepository
from swen.store.repository import Store

APPROVE_HINT = "manual review required: `swen mr approve 1` continues with apply"


@pytest.fixture
def swen(swen_home: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Swen:
    monkeypatch.setenv("SWEN_HOME", str(swen_home))
    return make_swen(capsys, monkeypatch)


def _open(store: Store, decision_id: str) -> MergeRequest:
    decision = builders.decision(decision_id, service="service-1")
    lifecycle = Lifecycle(store)
    lifecycle.proposed(decision)
    mr = MergeRequestRepository(store).create(
        decision_id=decision_id, service="service-1", branch=f"swen/service-1/{decision_id}", host="local",
        title=f"move service-1 ({decision_id})", description="", kind=MRKind.MIGRATION,
    )  # fmt: skip
    lifecycle.opened(decision_id, mr)
    return mr


@pytest.fixture
def superseded(swen_home: Path) -> MergeRequest:
    """MR 1 waits for a person (its run awaiting approval) when MR 2's decision supersedes it."""
    with Store.open(Settings(home=swen_home)) as store:
        old = _open(store, "d-old")
        runs = PipelineRepository(store)
        run = runs.start_run(old.id)
        Lifecycle(store).pipeline_started("d-old", mr_id=old.id, run_id=run.id)
        for stage in (StageName.VALIDATE, StageName.POLICY):
            log = APPROVE_HINT if stage is StageName.POLICY else "ok"
            runs.record_stage(run.id, stage, "success" if stage is StageName.VALIDATE else "waiting", log=log)
        runs.set_status(run.id, RunStatus.AWAITING_APPROVAL)
        Lifecycle(store).gate_decided("d-old", outcome="manual_review", mr_id=old.id, reasons=["stateful"])
        new = _open(store, "d-new")
        Lifecycle(store).superseded("d-old", by_decision="d-new", mr_id=old.id)
        MergeRequestRepository(store).update(old.id, action="closed", state=MRState.CLOSED)
        assert (old.id, new.id) == (1, 2)
    return old


@pytest.mark.parametrize("command", [["mr", "show", "1"], ["pipeline", "show", "1"]])
def test_a_superseded_mr_says_by_which_mr_and_suggests_no_approval(
    swen: Swen, superseded: MergeRequest, command: list[str]
) -> None:
    run = swen(*command)
    run.assert_ok()
    assert "run 1: superseded by MR 2 (decision d-new)" in run.out  # the run's title
    assert "swen mr approve" not in run.out
    assert "awaiting_approval" not in run.out


def test_a_waiting_mr_still_suggests_approval(swen: Swen, swen_home: Path) -> None:
    with Store.open(Settings(home=swen_home)) as store:
        mr = _open(store, "d-only")
        runs = PipelineRepository(store)
        run = runs.start_run(mr.id)
        runs.record_stage(run.id, StageName.POLICY, "waiting", log=APPROVE_HINT)
        runs.set_status(run.id, RunStatus.AWAITING_APPROVAL)
    shown = swen("pipeline", "show", "1")
    assert "awaiting_approval" in shown.out and "swen mr approve 1" in shown.out
    assert "superseded" not in shown.out
