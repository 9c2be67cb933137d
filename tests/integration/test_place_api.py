"""POST /services/{name}/placement (operator): the API records a person's choice, the engine's
``resume`` carries it through the normal move (real git, Terraform and the gate), and the problems
say what is wrong."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from support.http import bearer
from support.platform import Platform, make_platform
from swen.api.app import create_app
from swen.domain.decision import DecisionStatus
from swen.domain.keys import Role
from swen.moves import automation
from swen.store.keys import ApiKeyRepository
from swen.store.mrs import MergeRequestRepository
from swen.telemetry.runner import run_simulator

pytestmark = pytest.mark.slow


@pytest.fixture
def platform(tmp_path: Path) -> Platform:
    p = make_platform(tmp_path / "home")
    run_simulator(p.settings, p.store, once=True)
    return p


def post(platform: Platform, service: str, body: dict[str, str]) -> httpx.Response:
    key = ApiKeyRepository(platform.store).create("alice", Role.OPERATOR)[1]
    with TestClient(create_app(platform.settings, store=platform.store)) as client:
        return client.post(f"/services/{service}/placement", json=body, headers=bearer(key))


def test_a_choice_posted_to_the_api_is_carried_on_by_the_engine_and_waits_for_a_person(
    platform: Platform,
) -> None:
    automation.set_paused(platform.store, True, by="ops", reason="incident")  # respected: it still waits
    r = post(platform, "service-1", {"provider": "alibaba", "region": "us-west-1", "reason": "cheaper"})
    assert r.status_code == 202, r.text
    body = r.json()
    assert body["status"] == "proposed" and body["chosen_by"].startswith("alice (api key ")
    assert body["target"] == {"provider": "alibaba", "region": "us-west-1"} and body["confidence"] == 0.0
    report = platform.driver.resume(acting=False)  # what the engine process does, paused
    assert report.errors == [] and report.outcomes[body["decision_id"]] == "waiting"
    stored = platform.store.get_decision(body["decision_id"])
    assert stored.status is DecisionStatus.AWAITING_APPROVAL
    (mr,) = MergeRequestRepository(platform.store).list(decision_id=body["decision_id"])
    run = platform.approve_and_apply(mr.id, "bob")
    assert run.status.value == "success"
    assert platform.store.get_placements()["service-1"].key == "alibaba/us-west-1"


@pytest.mark.parametrize(
    ("service", "body", "status", "detail"),
    [
        ("nope", {"provider": "aws", "region": "us-west-2"}, 404, "unknown service 'nope'"),
        ("service-1", {"provider": "gcp", "region": "us-central1"}, 422, "no GCP Terraform module"),
        ("service-1", {"provider": "aws", "region": "mars-1"}, 422, "unknown region 'mars-1'"),
        ("embeddings-t4", {"provider": "aws", "region": "eu-west-1"}, 409, "its residency allows only"),
        ("service-1", {"provider": "aws", "region": "us-east-1"}, 409, "already runs on aws/us-east-1"),
    ],
)
def test_a_choice_that_cannot_be_carried_out_is_a_problem_and_writes_nothing(
    platform: Platform, service: str, body: dict[str, str], status: int, detail: str
) -> None:
    r = post(platform, service, body)
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert detail in r.json()["detail"]
    assert platform.store.list_decisions() == []


def test_the_engine_leaves_a_choice_to_the_process_carrying_it(platform: Platform) -> None:
    """`swen place` holds the choice's lock while it proposes and runs it: an engine resuming at the
    same moment reports it busy and does nothing to it."""
    r = post(platform, "service-1", {"provider": "alibaba", "region": "us-west-1"})
    decision_id = r.json()["decision_id"]
    with platform.driver._choice_lock(decision_id):  # what a `swen place` process holds
        report = platform.driver.resume()
    assert report.outcomes[decision_id].startswith("busy: lock 'choice:")
    assert platform.store.get_decision(decision_id).status is DecisionStatus.PROPOSED
    assert platform.driver.resume().outcomes[decision_id] == "waiting"  # once it is free
