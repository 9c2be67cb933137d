"""A person's choice of placement (``swen place``): what is refused and why, the decision it builds,
and how the engine's review policy treats it. Telemetry from one cycle of the real simulator over the
packaged fleet; no git (the move itself: tests/integration/test_place_cli.py)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from support.builders import decision, placement
from swen.config import Settings
from swen.domain.decision import DecisionAction, ExcludedCandidate
from swen.domain.errors import ConflictError, InvalidInputError, NotFoundError
from swen.moves.choice import choose, parse_target
from swen.moves.review_policy import OpenMove, ReviewAction, ReviewPolicy
from swen.store.repository import Store
from swen.telemetry.catalog import Catalog, load_catalog
from swen.telemetry.runner import run_simulator


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


@pytest.fixture
def setup(tmp_path: Path, catalog: Catalog) -> tuple[Settings, Store]:
    settings = Settings(home=tmp_path)
    store = Store.open(settings)
    run_simulator(settings, store, once=True, catalog=catalog)
    return settings, store


def chosen(setup: tuple[Settings, Store], catalog: Catalog, service: str, target: str, **kw: Any) -> Any:
    settings, store = setup
    return choose(settings, store, catalog, service, parse_target(target), by="alice", **kw)


@pytest.mark.parametrize(
    ("service", "target", "error", "message"),
    [
        ("nope", "aws/us-east-1", NotFoundError,
         "unknown service 'nope': known services are analytics-api, batch-t4, embeddings-t4, inference-a10g, "
         "orders-api and 5 more"),
        ("service-1", "gcp/us-central1", InvalidInputError,
         "cannot place service-1 on gcp/us-central1: no GCP Terraform module ships in this release"),
        ("service-1", "aws/mars-1", InvalidInputError, "unknown region 'mars-1' for provider 'aws'"),
        ("service-1", "aws/us-east-1", ConflictError, "service-1 already runs on aws/us-east-1"),
        ("embeddings-t4", "aws/eu-west-1", ConflictError,
         "embeddings-t4 may not run on aws/eu-west-1: its residency allows only providers aws, alibaba; "
         "regions ap-northeast-1, ap-southeast-1"),
    ],
)  # fmt: skip
def test_a_choice_that_cannot_be_carried_out_is_refused_with_what_would_work(
    setup: tuple[Settings, Store], catalog: Catalog, service: str, target: str, error: type, message: str
) -> None:
    with pytest.raises(error) as raised:
        chosen(setup, catalog, service, target)
    assert message in raised.value.message, raised.value.message
    assert setup[1].list_decisions() == []  # nothing written


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("AWS/us-east-1", "unknown provider 'AWS': use one of aws, alibaba, gcp"),
        ("useast", "placement 'useast' is not PROVIDER/REGION"),
        ("aws/us/east", "is not PROVIDER/REGION"),
        ("aws/US_EAST", "region 'US_EAST' is not a region name"),
    ],
)
def test_a_placement_that_is_not_provider_slash_region_is_refused(text: str, message: str) -> None:
    with pytest.raises(InvalidInputError) as raised:
        parse_target(text)
    assert message in raised.value.message


def test_a_service_without_a_fitting_offer_there_is_refused(
    setup: tuple[Settings, Store], catalog: Catalog
) -> None:
    a100 = setup[1].get_service("training-a100")
    where = next(
        p for p in catalog.placements()
        if p.provider != "gcp" and a100.allows(p) and catalog.best_offer(a100.shape, p) is None
    )  # fmt: skip
    with pytest.raises(ConflictError, match=f"cannot place training-a100 on {where.key}: "):
        chosen(setup, catalog, "training-a100", where.key)


def test_a_choice_is_a_priced_migrate_decision_by_that_person_that_waits_for_a_person(
    setup: tuple[Settings, Store], catalog: Catalog
) -> None:
    d = chosen(setup, catalog, "service-1", "alibaba/us-west-1", reason="cheaper")
    assert d.id.startswith("op-") and d.chosen_by == "alice" and d.action is DecisionAction.MIGRATE
    assert (d.current.key, d.target.key, d.emergency) == ("aws/us-east-1", "alibaba/us-west-1", False)
    assert d.reasons[0] == "chosen by alice: cheaper"
    assert d.savings.current_monthly_usd > 0 and d.savings.target_monthly_usd > 0
    assert d.savings.migration_cost_usd > 0  # egress at real prices, paid once
    # the engine has not scored it: confidence 0, so the gate asks a person (see moves.choice)
    assert d.confidence.value == 0.0 and "the engine has not scored this service yet" in d.explanation


def test_a_choice_the_engine_ranks_first_carries_the_engines_confidence(
    setup: tuple[Settings, Store], catalog: Catalog
) -> None:
    store = setup[1]
    engine = decision("d-svc1", service="service-1", current="aws/us-east-1", target="alibaba/us-west-1",
                      confidence=0.93)  # fmt: skip
    store.save_decision(engine)
    agreed = chosen(setup, catalog, "service-1", "alibaba/us-west-1")
    assert agreed.confidence == engine.confidence and "the engine ranks it first too" in agreed.explanation
    other = chosen(setup, catalog, "service-1", "aws/us-west-2")
    assert other.confidence.value == 0.0 and "the engine excludes it" in other.explanation


def test_a_target_the_engine_excludes_for_a_soft_reason_is_allowed_with_a_warning(
    setup: tuple[Settings, Store], catalog: Catalog
) -> None:
    store = setup[1]
    base = decision("d-svc1", service="service-1", current="aws/us-east-1", target="alibaba/us-west-1")
    store.save_decision(base.model_copy(update={"excluded": (
        ExcludedCandidate(placement=placement("aws/us-west-2"), reasons=("quarantined by self-healing",)),
    )}))  # fmt: skip
    d = chosen(setup, catalog, "service-1", "aws/us-west-2")
    assert "warning: the engine excludes aws/us-west-2: quarantined by self-healing" in d.reasons


# --- the review policy and a person's choice ---------------------------------------------------------
def _open(chosen_by_person: bool, target: str = "alibaba/us-west-1") -> OpenMove:
    d = decision("op-1", service="web", target=target)
    return OpenMove(d.id, d.target, True, False, d.confidence, chosen_by_person=chosen_by_person)


def test_the_engine_neither_supersedes_nor_withdraws_a_persons_choice() -> None:
    policy = ReviewPolicy(window=3)
    elsewhere = decision("d-2", service="web", target="aws/us-west-2", confidence=0.99)
    assert policy.on_recommendation(_open(True), elsewhere) is ReviewAction.KEEP
    assert policy.on_recommendation(_open(False), elsewhere) is ReviewAction.PROPOSE
    emergency = decision("d-3", service="web", target="aws/us-west-2", emergency=True)
    assert policy.on_recommendation(_open(True), emergency) is ReviewAction.PROPOSE
    no_cycle: Any = SimpleNamespace(cycle=None)  # nothing else is waiting: the cycle is not read
    for _ in range(10):
        assert policy.withdrawals({"web": _open(True)}, no_cycle) == []
    assert policy.pending({"web": _open(True)}) == {"web": placement("alibaba/us-west-1")}
    assert policy.pending({"web": _open(False)}) == {}


def test_a_choice_is_refused_before_anything_is_written_while_an_approved_move_is_open(
    setup: tuple[Settings, Store], catalog: Catalog
) -> None:
    from swen.domain.decision import DecisionStatus as S
    from swen.domain.merge_requests import MRKind
    from swen.store.mrs import MergeRequestRepository

    store = setup[1]
    approved = decision("d-svc1", service="service-1", current="aws/us-east-1", target="alibaba/us-west-1")
    store.save_decision(approved)
    for step in (S.MR_OPENED, S.PIPELINE_RUNNING, S.APPROVED):
        store.transition(approved.id, step)
    MergeRequestRepository(store).create(
        decision_id=approved.id, service="service-1", branch="ai-rec/service-1-alibaba-20261101T000000Z",
        host="local", title="t", description="d", kind=MRKind.MIGRATION,
    )  # fmt: skip
    with pytest.raises(ConflictError, match="MR 1 of service-1 is approved and cannot be superseded"):
        chosen(setup, catalog, "service-1", "aws/us-west-2")
