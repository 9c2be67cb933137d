"""The policy gate (policies/gate.rego through regopy): table-driven at every boundary."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from support.builders import decision
from swen.domain.errors import PolicyError
from swen.pipeline import plan_summary
from swen.pipeline.plan_summary import PlanSummary, summarise_plan
from swen.pipeline.policy import (
    DecisionSummary,
    PolicyGate,
    PolicyInput,
    cost_delta_pct,
    default_policy_text,
)
from swen.pipeline.policy import main as policy_main

REPO = Path(__file__).resolve().parents[3]
SERVICE = "service-2"
OWN_SIM = f'terraform_data.placement["{SERVICE}"]'


@pytest.fixture(scope="module")
def gate() -> PolicyGate:
    return PolicyGate()


def sim_change(
    service: str = SERVICE, actions: tuple[str, ...] = ("delete", "create"), *, stateful: bool = False
):
    """One resource change of the sim root, as `terraform show -json` prints it."""
    values = {"input": {"service": service, "provider": "aws", "region": "us-east-1", "stateful": stateful}}
    return {
        "address": f'terraform_data.placement["{service}"]',
        "mode": "managed",
        "type": "terraform_data",
        "name": "placement",
        "index": service,
        "change": {"actions": list(actions), "before": values, "after": values},
    }


def module_change(module: str, key: str, rtype: str, name: str, actions: tuple[str, ...]) -> dict[str, Any]:
    module_address = f'module.{module}["{key}"]'
    return {
        "address": f"{module_address}.{rtype}.{name}",
        "module_address": module_address,
        "mode": "managed",
        "type": rtype,
        "name": name,
        "change": {"actions": list(actions), "before": {}, "after": {}},
    }


def plan_of(*changes: dict[str, Any]) -> PlanSummary:
    return summarise_plan(
        {"format_version": "1.2", "terraform_version": "1.11.4", "resource_changes": list(changes)}
    )


def make_input(
    *,
    cost: float = -12.0,
    confidence: float = 0.92,
    stateful: bool = False,
    emergency: bool = False,
    plan: PlanSummary | None = None,
) -> PolicyInput:
    return PolicyInput(
        decision=DecisionSummary(
            service=SERVICE,
            stateful=stateful,
            confidence=confidence,
            emergency=emergency,
            **{"from": {"provider": "aws", "region": "us-east-1"}},
            to={"provider": "alibaba", "region": "ap-southeast-1"},
        ),
        cost_delta_pct=cost,
        plan=plan if plan is not None else plan_of(sim_change()),
    )


# --- cost and confidence boundaries -----------------------------------------------------------------
@pytest.mark.parametrize(
    ("cost", "confidence", "outcome", "codes"),
    [
        (4.99, 0.851, "auto_approve", {"cost_delta_ok", "confidence_ok", "stateless"}),
        (5.00, 0.851, "manual_review", {"cost_delta_too_high"}),
        (5.01, 0.851, "manual_review", {"cost_delta_too_high"}),
        (4.99, 0.85, "manual_review", {"confidence_too_low"}),
        (4.99, 0.849, "manual_review", {"confidence_too_low"}),
        (5.00, 0.85, "manual_review", {"cost_delta_too_high", "confidence_too_low"}),
        (-40.0, 1.0, "auto_approve", {"cost_delta_ok", "confidence_ok", "stateless"}),
        (0.0, 0.86, "auto_approve", {"cost_delta_ok", "confidence_ok", "stateless"}),
        (250.0, 0.0, "manual_review", {"cost_delta_too_high", "confidence_too_low"}),
    ],
)
def test_cost_and_confidence_boundaries(
    gate: PolicyGate, cost: float, confidence: float, outcome: str, codes: set[str]
) -> None:
    result = gate.evaluate(make_input(cost=cost, confidence=confidence))
    assert result.outcome == outcome
    assert set(result.codes) == codes
    assert result.override is False


def test_reasons_quote_the_numbers(gate: PolicyGate) -> None:
    result = gate.evaluate(make_input(cost=5.0, confidence=0.85))
    assert "cost_delta_too_high: cost delta +5.00 % is not below 5 %" in result.reasons
    assert "confidence_too_low: confidence 0.850 is not above 0.85" in result.reasons


# --- stateful --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("service_flag", "change", "outcome", "must_have"),
    [
        # The service flag says stateless, but the plan replaces a stateful resource type.
        (
            False,
            module_change("aws_app", SERVICE, "aws_ebs_volume", "data", ("delete", "create")),
            "manual_review",
            {"stateful_resource"},
        ),
        (
            False,
            module_change("aws_app", SERVICE, "aws_db_instance", "db", ("update",)),
            "manual_review",
            {"stateful_resource"},
        ),
        (
            False,
            module_change("alicloud_app_ap_southeast_1", SERVICE, "alicloud_disk", "data", ("create",)),
            "manual_review",
            {"stateful_resource"},
        ),
        (
            False,
            module_change("aws_app", SERVICE, "aws_elasticache_replication_group", "c", ("update",)),
            "manual_review",
            {"stateful_resource"},
        ),
        # The sim's terraform_data carries stateful=true in its input although the decision says stateless.
        (False, sim_change(stateful=True), "manual_review", {"stateful_resource"}),
        # The service flag alone is enough.
        (True, sim_change(), "manual_review", {"stateful_service"}),
        # A stateful resource deleted without replacement is never applied.
        (
            False,
            module_change("aws_app", SERVICE, "aws_rds_cluster", "db", ("delete",)),
            "deny",
            {"stateful_delete"},
        ),
        (True, sim_change(actions=("delete",), stateful=True), "deny", {"stateful_delete"}),
    ],
)
def test_stateful_changes_need_a_person(
    gate: PolicyGate, service_flag: bool, change: dict[str, Any], outcome: str, must_have: set[str]
) -> None:
    plan = plan_of(sim_change(), change) if change["type"] != "terraform_data" else plan_of(change)
    result = gate.evaluate(make_input(stateful=service_flag, plan=plan))
    assert result.outcome == outcome
    assert must_have <= set(result.codes)


def test_unchanged_stateful_resource_does_not_block(gate: PolicyGate) -> None:
    db = module_change("aws_app", "service-1", "aws_db_instance", "db", ("no-op",))
    result = gate.evaluate(make_input(plan=plan_of(sim_change(), db)))
    assert result.outcome == "auto_approve"


# --- emergency override ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("cost", "confidence", "stateful", "outcome", "override", "codes"),
    [
        (30.0, 0.60, False, "auto_approve", True, {"emergency_override", "stateless"}),
        (30.0, 0.95, False, "auto_approve", True, {"emergency_override", "confidence_ok", "stateless"}),
        (-5.0, 0.50, False, "auto_approve", True, {"emergency_override", "cost_delta_ok", "stateless"}),
        # Nothing to waive: an ordinary auto-approval, no override recorded.
        (-5.0, 0.95, False, "auto_approve", False, {"cost_delta_ok", "confidence_ok", "stateless"}),
        # Stateful changes always need a person, even in an emergency.
        (-5.0, 0.95, True, "manual_review", False, {"stateful_service", "emergency_not_overridable"}),
        (
            30.0,
            0.60,
            True,
            "manual_review",
            False,
            {"stateful_service", "emergency_not_overridable", "cost_delta_too_high", "confidence_too_low"},
        ),
    ],
)
def test_emergency_override(
    gate: PolicyGate,
    cost: float,
    confidence: float,
    stateful: bool,
    outcome: str,
    override: bool,
    codes: set[str],
) -> None:
    result = gate.evaluate(make_input(cost=cost, confidence=confidence, stateful=stateful, emergency=True))
    assert (result.outcome, result.override, set(result.codes)) == (outcome, override, codes)


def test_override_reason_names_what_was_waived(gate: PolicyGate) -> None:
    result = gate.evaluate(make_input(cost=30.0, confidence=0.6, emergency=True))
    (reason,) = [r for r in result.reasons if r.startswith("emergency_override")]
    assert reason == (
        f"emergency_override: emergency move of stateless {SERVICE} waives "
        "confidence_too_low; cost_delta_too_high"
    )


def test_emergency_does_not_waive_stateful_resource_in_plan(gate: PolicyGate) -> None:
    plan = plan_of(sim_change(stateful=True))
    result = gate.evaluate(make_input(cost=30.0, confidence=0.6, emergency=True, plan=plan))
    assert result.outcome == "manual_review"
    assert {"stateful_resource", "emergency_not_overridable"} <= set(result.codes)


# --- plan scope ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("extra", "outcome", "code"),
    [
        (sim_change("service-1"), "deny", "deletes_beyond_move"),
        (sim_change("service-1", ("delete",)), "deny", "deletes_beyond_move"),
        (
            module_change("aws_cluster", "aws-us-east-1", "aws_vpc", "this", ("delete",)),
            "deny",
            "deletes_beyond_move",
        ),
        (sim_change("service-1", ("update",)), "manual_review", "changes_beyond_move"),
        (
            module_change("aws_cluster", "aws-us-east-1", "aws_subnet", "a", ("create",)),
            "manual_review",
            "changes_beyond_move",
        ),
    ],
)
def test_plan_touching_other_services(
    gate: PolicyGate, extra: dict[str, Any], outcome: str, code: str
) -> None:
    result = gate.evaluate(make_input(plan=plan_of(sim_change(), extra)))
    assert result.outcome == outcome
    assert code in result.codes


@pytest.mark.parametrize("emergency", [False, True])
def test_plan_that_only_deletes_the_service_is_denied(gate: PolicyGate, emergency: bool) -> None:
    plan = plan_of(sim_change(actions=("delete",)))
    result = gate.evaluate(make_input(emergency=emergency, plan=plan))
    assert (result.outcome, result.codes) == ("deny", ("service_removed",))


def test_move_across_providers_deletes_old_and_creates_new(gate: PolicyGate) -> None:
    plan = plan_of(
        module_change("aws_app", SERVICE, "aws_autoscaling_group", "this", ("delete",)),
        module_change("aws_app", SERVICE, "aws_launch_template", "this", ("delete",)),
        module_change("alicloud_app_us_west_1", SERVICE, "alicloud_ess_scaling_group", "this", ("create",)),
    )
    assert gate.evaluate(make_input(plan=plan)).outcome == "auto_approve"


def test_emergency_cannot_override_scope(gate: PolicyGate) -> None:
    plan = plan_of(sim_change(), sim_change("service-1"))
    assert gate.evaluate(make_input(emergency=True, plan=plan)).outcome == "deny"


def test_empty_plan_goes_to_a_person(gate: PolicyGate) -> None:
    result = gate.evaluate(make_input(plan=plan_of(sim_change(actions=("no-op",)))))
    assert (result.outcome, result.codes) == ("manual_review", ("empty_plan",))


def test_reasons_with_quoted_addresses_survive_the_json_round_trip(gate: PolicyGate) -> None:
    result = gate.evaluate(make_input(plan=plan_of(sim_change(), sim_change("service-1"))))
    assert (
        'deletes_beyond_move: plan would replace terraform_data.placement["service-1"], '
        f"which is not part of {SERVICE}'s placement"
    ) in result.reasons


# --- malformed input and invalid names -------------------------------------------------------------
def good_document() -> dict[str, Any]:
    return make_input().to_rego_input()


def _set(doc: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    doc = copy.deepcopy(doc)
    *parents, last = path.split(".")
    target = doc
    for key in parents:
        target = target[int(key)] if isinstance(target, list) else target[key]
    if value is _DELETE:
        del target[last]
    elif isinstance(target, list):
        target[int(last)] = value
    else:
        target[last] = value
    return doc


_DELETE = object()


@pytest.mark.parametrize(
    ("path", "value", "code"),
    [
        ("cost_delta_pct", "4", "malformed_input"),
        ("cost_delta_pct", _DELETE, "malformed_input"),
        ("cost_delta_pct", None, "malformed_input"),
        ("decision.confidence", "0.99", "malformed_input"),
        ("decision.confidence", 1.5, "malformed_input"),
        ("decision.confidence", -0.1, "malformed_input"),
        ("decision.stateful", "false", "malformed_input"),
        ("decision.emergency", 1, "malformed_input"),
        ("decision.service", 7, "malformed_input"),
        ("decision.from", "aws/us-east-1", "malformed_input"),
        ("decision.to", {"provider": "aws"}, "malformed_input"),
        ("decision", None, "malformed_input"),
        ("plan", {}, "malformed_input"),
        ("plan.resource_changes", "all", "malformed_input"),
        ("plan.resource_changes.0.actions", [], "malformed_input"),
        ("plan.resource_changes.0.actions", "delete", "malformed_input"),
        ("plan.resource_changes.0.address", None, "malformed_input"),
        ("decision.service", "Service_2", "invalid_name"),
        ("decision.service", "svc;rm -rf /", "invalid_name"),
        ("decision.to.region", "../../etc", "invalid_name"),
        ("decision.from.provider", "AWS", "invalid_name"),
        ("plan.resource_changes.0.service", "bad name", "invalid_name"),
    ],
)
def test_malformed_or_invalid_input_is_denied(gate: PolicyGate, path: str, value: Any, code: str) -> None:
    result = gate.evaluate_raw(_set(good_document(), path, value))
    assert result.outcome == "deny"
    assert code in result.codes


@pytest.mark.parametrize("document", [None, [], "auto_approve", 42, {}])
def test_non_object_input_is_denied(gate: PolicyGate, document: Any) -> None:
    result = gate.evaluate_raw(document)
    assert result.outcome == "deny"
    assert set(result.codes) == {"malformed_input"}


def test_good_document_is_approved_raw(gate: PolicyGate) -> None:
    assert gate.evaluate_raw(good_document()).outcome == "auto_approve"


# --- the gate object -------------------------------------------------------------------------------
def test_broken_policy_is_a_policy_error() -> None:
    with pytest.raises(PolicyError) as info:
        PolicyGate("package swen.gate\n\nresult := {\n")
    assert info.value.stage == "policy"


def test_policy_without_result_is_a_policy_error() -> None:
    with pytest.raises(PolicyError, match="undefined"):
        PolicyGate("package swen.gate\n\nsomething_else := 1\n")


def test_policy_with_unknown_outcome_is_a_policy_error() -> None:
    with pytest.raises(PolicyError, match="not"):
        PolicyGate('package swen.gate\n\nresult := {"outcome": "yolo", "reasons": [], "override": false}\n')


def test_missing_policy_file_is_a_policy_error(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="cannot read policy"):
        PolicyGate(policy_path=tmp_path / "nope.rego")


def test_gate_is_reusable_and_results_do_not_leak_between_inputs(gate: PolicyGate) -> None:
    outcomes = [gate.evaluate(make_input(cost=c)).outcome for c in (1.0, 9.0, 1.0, 9.0)]
    assert outcomes == ["auto_approve", "manual_review", "auto_approve", "manual_review"]


def test_repo_policy_is_the_packaged_policy() -> None:
    assert (REPO / "policies" / "gate.rego").read_text() == default_policy_text()
    assert (REPO / "src" / "swen" / "policies" / "gate.rego").read_text() == default_policy_text()


def test_stateful_type_lists_agree(gate: PolicyGate) -> None:
    import regopy

    interpreter = regopy.Interpreter()
    interpreter.add_module("gate", default_policy_text())
    rego_types = set(json.loads(str(interpreter.query("data.swen.gate.stateful_types")))["expressions"][0])
    rego_prefixes = set(
        json.loads(str(interpreter.query("data.swen.gate.stateful_type_prefixes")))["expressions"][0]
    )
    assert rego_types == set(plan_summary.STATEFUL_RESOURCE_TYPES)
    assert rego_prefixes == set(plan_summary.STATEFUL_TYPE_PREFIXES)


# --- inputs from Python ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [(100.0, 104.99, 4.99), (100.0, 105.0, 5.0), (200.0, 100.0, -50.0), (80.0, 80.0, 0.0)],
)
def test_cost_delta_pct(old: float, new: float, expected: float) -> None:
    assert cost_delta_pct(old, new) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("old", "new"), [(0.0, 10.0), (-1.0, 10.0), (float("nan"), 1.0), (1.0, float("inf"))]
)
def test_cost_delta_pct_refuses_meaningless_costs(old: float, new: float) -> None:
    with pytest.raises(PolicyError):
        cost_delta_pct(old, new)


def test_input_uses_from_as_the_json_key() -> None:
    document = make_input().to_rego_input()
    assert document["decision"]["from"] == {"provider": "aws", "region": "us-east-1"}
    assert "from_placement" not in document["decision"]


@pytest.mark.parametrize("value", [float("nan"), float("inf"), object()])
def test_non_json_input_is_denied(gate: PolicyGate, value: Any) -> None:
    result = gate.evaluate_raw(_set(good_document(), "cost_delta_pct", value))
    assert result.outcome == "deny"
    assert result.codes == ("malformed_input",)


# --- from an engine Decision, and the command line -------------------------------------------------
def test_input_from_an_engine_decision(gate: PolicyGate) -> None:
    costlier = decision(  # 9 % dearer, not confident: a person must look
        "d-1",
        service=SERVICE,
        target="alibaba/us-west-1",
        confidence=0.6,
        current_cost=1000.0,
        target_cost=1090.0,
    )
    policy_input = PolicyInput.from_decision(costlier, plan_of(sim_change()))
    document = policy_input.to_rego_input()
    assert document["decision"]["to"] == {"provider": "alibaba", "region": "us-west-1"}
    assert document["decision"]["decision_id"] == "d-1"
    assert document["cost_delta_pct"] == 9.0
    assert gate.evaluate(policy_input).outcome == "manual_review"
    emergency = PolicyInput.from_decision(costlier, plan_of(sim_change()), emergency=True)
    assert gate.evaluate(emergency).override is True


def test_command_line_prints_input_and_result(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    decision_file = tmp_path / "decision.json"
    cheaper = decision(  # 12 % cheaper, confident
        "d-1",
        service=SERVICE,
        target="alibaba/us-west-1",
        confidence=0.9,
        current_cost=1000.0,
        target_cost=880.0,
    )
    decision_file.write_text(cheaper.model_dump_json())
    plan_file = tmp_path / "plan.json"
    plan_file.write_text(json.dumps({"format_version": "1.2", "resource_changes": [sim_change()]}))
    assert policy_main(["--decision", str(decision_file), "--plan", str(plan_file)]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["result"]["outcome"] == "auto_approve"
    assert printed["input"]["plan"]["resource_changes"][0]["service"] == SERVICE

    assert policy_main(["--decision", str(decision_file), "--plan", str(plan_file), "--input-only"]) == 0
    assert json.loads(capsys.readouterr().out)["decision"]["service"] == SERVICE

    plan_file.write_text("not json")
    assert policy_main(["--decision", str(decision_file), "--plan", str(plan_file)]) != 0
    assert "cannot read JSON" in capsys.readouterr().err
    assert policy_main(["--decision", str(plan_file), "--plan", str(plan_file)]) != 0
