"""What a reviewer sees (GET /mrs/{id}/review, `swen mr show`): the gate's reasons, the cost table, the
tfvars diff from the real infra repository and the plan summary, for every kind of MR that waits for a
person (a stateful move, a rollback), on a platform with real git and Terraform."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from support.builders import ORDERS_API, decision
from support.cli import make_swen
from support.http import bearer
from support.platform import Platform, make_platform
from swen.api.app import create_app
from swen.domain.keys import Role
from swen.domain.merge_requests import RunStatus
from swen.moves.review_brief import review_brief, waiting_mr_ids
from swen.store.keys import ApiKeyRepository
from swen.telemetry.runner import run_simulator

pytestmark = pytest.mark.slow
T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


@pytest.fixture
def env(swen_home: Path) -> Platform:
    return make_platform(swen_home)


@pytest.fixture
def api(env: Platform) -> Iterator[tuple[TestClient, dict[str, str]]]:
    key = ApiKeyRepository(env.store).create("reviewer", Role.VIEWER)[1]
    with TestClient(create_app(env.settings, store=env.store)) as client:
        yield client, bearer(key)


def _stateful_waiting(env: Platform) -> int:
    run_simulator(env.settings, env.store, start=T0, max_steps=1, seed=11)  # every service priced
    mr = env.committer.propose(decision("d-stateful", **ORDERS_API))
    assert env.driver.run(mr.id).run.status is RunStatus.AWAITING_APPROVAL
    return mr.id


def test_a_stateful_move_waiting_for_a_person_has_reasons_costs_diff_and_plan(env: Platform) -> None:
    mr_id = _stateful_waiting(env)

    brief = review_brief(env.settings, env.store, mr_id)

    assert brief.waiting_for_person and brief.gate_outcome == "manual_review"
    assert any(r.startswith("stateful_service") for r in brief.gate_reasons)
    service, fleet = brief.cost
    stored = env.store.get_decision("d-stateful").decision.savings
    assert service.name == "orders-api"
    assert (service.before_monthly_usd, service.after_monthly_usd) == (
        stored.current_monthly_usd,
        stored.target_monthly_usd,
    )
    assert fleet.name == "total (fleet)"
    assert fleet.delta_monthly_usd == pytest.approx(service.delta_monthly_usd)
    assert brief.tfvars_diff is not None and brief.diff_note is None
    assert "infra/terraform.tfvars" in brief.tfvars_diff
    removed = [ln for ln in brief.tfvars_diff.splitlines() if ln.startswith("-") and "r5.2xlarge" in ln]
    added = [ln for ln in brief.tfvars_diff.splitlines() if ln.startswith("+") and "ecs.r7.2xlarge" in ln]
    assert removed and added
    assert brief.plan is not None and brief.plan.stage == "plan"
    counts = (brief.plan.to_add, brief.plan.to_change, brief.plan.to_destroy)
    assert counts == (1, 0, 1), counts  # the sim root replaces the placement: one add, one destroy
    assert [r.action for r in brief.plan.resources] == ["replace"]
    assert any(r.stateful for r in brief.plan.resources)
    assert brief.plan.line.startswith("Plan: ")


def test_a_rollback_waiting_for_a_person_is_in_the_queue_with_its_costs_reversed(env: Platform) -> None:
    mr = env.committer.propose(decision("d-roll"))
    assert env.driver.run(mr.id).run.status is RunStatus.SUCCESS
    rollback_mr, outcome = env.driver.rollback("d-roll")
    assert outcome is not None and outcome.run.status is RunStatus.AWAITING_APPROVAL

    assert waiting_mr_ids(env.store) == [rollback_mr.id]
    brief = review_brief(env.settings, env.store, rollback_mr.id)
    assert brief.kind == "rollback" and brief.waiting_for_person
    assert any("cost_delta_too_high" in r for r in brief.gate_reasons)
    savings = env.store.get_decision("d-roll").decision.savings
    line = brief.cost[0]
    assert (line.before_monthly_usd, line.after_monthly_usd) == (
        savings.target_monthly_usd,
        savings.current_monthly_usd,
    )
    assert line.delta_monthly_usd > 0  # moving back costs more

    env.approve_and_apply(rollback_mr.id, "bob")
    assert waiting_mr_ids(env.store) == []
    assert not review_brief(env.settings, env.store, rollback_mr.id).waiting_for_person


def test_the_review_route_gives_the_same_and_mrs_say_who_waits(
    env: Platform, api: tuple[TestClient, dict[str, str]]
) -> None:
    client, headers = api
    mr_id = _stateful_waiting(env)

    r = client.get(f"/mrs/{mr_id}/review", headers=headers)

    assert r.status_code == 200, r.text
    body = r.json()
    brief = review_brief(env.settings, env.store, mr_id)
    assert body["gate_reasons"] == list(brief.gate_reasons)
    assert body["tfvars_diff"] == brief.tfvars_diff
    assert [c["name"] for c in body["cost"]] == ["orders-api", "total (fleet)"]
    assert body["cost"][0]["delta_monthly_usd"] == pytest.approx(brief.cost[0].delta_monthly_usd)
    assert body["plan"]["summary"] == brief.plan.line if brief.plan else False
    listing = client.get("/mrs", headers=headers).json()["items"]
    assert [m["id"] for m in listing if m["waiting_for_person"]] == [mr_id]
    assert client.get("/mrs/999/review", headers=headers).status_code == 404
    assert client.get(f"/mrs/{mr_id}/review").status_code == 401


def test_a_mr_without_a_run_says_why_there_is_no_plan(env: Platform) -> None:
    mr = env.committer.propose(decision("d-fresh"))

    brief = review_brief(env.settings, env.store, mr.id)

    assert not brief.waiting_for_person and brief.gate_outcome is None and brief.gate_reasons == ()
    assert brief.plan is None and brief.plan_note == "no pipeline run yet"
    assert brief.tfvars_diff is not None and "+" in brief.tfvars_diff  # read from the branch on origin


def test_swen_mr_show_prints_the_reviewers_view(
    env: Platform, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    mr_id = _stateful_waiting(env)
    swen = make_swen(capsys, monkeypatch)

    run = swen("mr", "show", str(mr_id), env={"SWEN_HOME": str(env.settings.home)})

    run.assert_ok()
    brief = review_brief(env.settings, env.store, mr_id)
    assert "waits for a person" in run.out
    assert "policy gate  manual_review" in run.out
    for reason in brief.gate_reasons:
        assert reason.split(":", 1)[0] in run.out
    assert "Monthly cost" in run.out and "total (fleet)" in run.out
    service = brief.cost[0]
    assert f"${service.before_monthly_usd:,.2f}" in run.out
    assert f"${service.after_monthly_usd:,.2f}" in run.out
    assert brief.plan is not None and brief.plan.line in run.out
    assert "+++ b/infra/terraform.tfvars" in run.out
    assert "ecs.r7.2xlarge" in run.out
