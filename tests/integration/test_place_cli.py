"""`swen place SERVICE PROVIDER/REGION` as a person runs it (real processes, git, Terraform, regopy):
the choice goes through the normal move (branch, tfvars edit, MR, pipeline, gate), waits for a
person's approval, and `swen mr approve` applies it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from swen.config import Settings
from swen.domain.decision import DecisionStatus
from swen.store.mrs import MergeRequestRepository
from swen.store.repository import Store

pytestmark = pytest.mark.slow


def swen(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SWEN_")}
    env.update(SWEN_HOME=str(home), COLUMNS="200")
    return subprocess.run(
        [sys.executable, "-m", "swen", *args], env=env, capture_output=True, text=True, timeout=300
    )


@pytest.fixture
def home(swen_home: Path) -> Path:
    for command in (["init"], ["pipeline", "sync"], ["simulate", "--once"]):
        done = swen(swen_home, *command)
        assert done.returncode == 0, done.stderr
    return swen_home


def test_place_opens_a_merge_request_that_waits_for_a_person_then_applies(home: Path) -> None:
    placed = swen(home, "place", "service-1", "alibaba/us-west-1", "--by", "alice", "--reason", "cheaper")
    assert placed.returncode == 0, placed.stderr
    out = placed.stdout
    assert "chosen by alice: cheaper" in out and "MR 1 (ai-rec/service-1-alibaba-" in out
    assert "confidence_too_low" in out and "waiting for a person: `swen mr approve 1`" in out
    with Store.open(Settings(home=home)) as store:
        (stored,) = store.list_decisions(service="service-1")
        assert stored.status is DecisionStatus.AWAITING_APPROVAL and stored.decision.chosen_by == "alice"
        (mr,) = MergeRequestRepository(store).list(decision_id=stored.decision.id)
        assert mr.branch.startswith("ai-rec/service-1-alibaba-")
    approved = swen(home, "mr", "approve", "1", "--by", "bob")
    assert approved.returncode == 0, approved.stderr
    with Store.open(Settings(home=home)) as store:
        assert store.get_decision(stored.decision.id).status is DecisionStatus.APPLIED
        assert store.get_placements()["service-1"].key == "alibaba/us-west-1"


def test_place_refuses_what_cannot_be_applied_in_one_line_and_writes_nothing(home: Path) -> None:
    refused = swen(home, "place", "service-1", "gcp/us-central1")
    assert refused.returncode == 2
    assert (
        refused.stderr.strip()
        .splitlines()[-1]
        .startswith(
            "error: cannot place service-1 on gcp/us-central1: no GCP Terraform module ships in this release"
        )
    )
    with Store.open(Settings(home=home)) as store:
        assert store.list_decisions() == [] and MergeRequestRepository(store).list() == []


def test_while_paused_a_choice_still_opens_its_merge_request_and_waits(home: Path) -> None:
    assert swen(home, "automation", "pause", "--reason", "incident").returncode == 0
    placed = swen(home, "place", "service-1", "alibaba/us-west-1")
    assert placed.returncode == 0, placed.stderr
    assert "automation is paused" in placed.stdout and "waiting for a person" in placed.stdout
