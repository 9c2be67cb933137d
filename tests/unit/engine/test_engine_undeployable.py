"""A provider the platform cannot apply is scored for comparison but never chosen."""

from __future__ import annotations

from engine_factories import ALI_SG, US_EAST, Scenario, cell, make_scenario

from support.builders import service
from swen.domain.decision import DecisionAction
from swen.domain.providers import PROVIDERS

REASON = "no Terraform module ships for alibaba in this test"


def _scenario() -> Scenario:
    # alibaba is 40 % cheaper and otherwise equal: a clear move when it can be applied.
    return make_scenario(
        [service("web", fleet_placement=US_EAST)],
        {("web", US_EAST): cell(hourly=1.0), ("web", ALI_SG): cell(hourly=0.6)},
    )


def test_cheaper_deployable_provider_is_chosen() -> None:
    decision = _scenario().run(10).decisions[0]
    assert decision.action is DecisionAction.MIGRATE and decision.target == ALI_SG


def test_undeployable_provider_is_excluded_with_its_reason() -> None:
    decision = _scenario().run(10, undeployable={"alibaba": REASON}).decisions[0]
    assert decision.action is DecisionAction.STAY and decision.target == US_EAST
    excluded = {e.placement: e.reasons for e in decision.excluded}
    assert excluded[ALI_SG] == (f"cannot be applied: {REASON}",)


def test_a_service_already_on_an_undeployable_provider_is_not_evicted() -> None:
    scenario = make_scenario(
        [service("web", fleet_placement=ALI_SG)],
        {("web", US_EAST): cell(hourly=1.0), ("web", ALI_SG): cell(hourly=0.6)},
    )
    decision = scenario.run(10, undeployable={"alibaba": REASON}).decisions[0]
    assert decision.action is DecisionAction.STAY
    assert all(e.placement != ALI_SG for e in decision.excluded)


def test_registry_names_the_providers_without_a_terraform_module() -> None:
    assert set(PROVIDERS.undeployable()) == {"gcp"}
    assert "Terraform module" in PROVIDERS.undeployable()["gcp"]
