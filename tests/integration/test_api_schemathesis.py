"""schemathesis 4 against the app's own OpenAPI schema, in-process (ASGI), with every check enabled.

Every phase: examples, coverage and fuzzing per operation (``test_openapi_contract``) and stateful
sequences along the links schemathesis infers (``test_stateful_sequences``), with positive and negative
data (``generation.mode = "all"``), a fixed seed and deterministic generation (the same cases every run).
The app runs on a seeded SQLite store with an admin key, the GitLab webhook secret and the
Alertmanager token, so every operation is reachable with valid credentials; ``ignored_auth`` then
checks that each one refuses a request without them. No check, operation or case is filtered out;
``max_response_time`` is the one built-in check left off, as it only runs with a time limit and
the suite makes no timed assertions.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import hypothesis
import pytest
import schemathesis
from schemathesis.checks import CHECKS, load_all_checks

from swen.api.app import create_app
from swen.config import Settings
from swen.domain.decision import DecisionStatus
from swen.domain.keys import Role
from swen.domain.merge_requests import MRKind
from swen.observability.metrics import ENGINE_HEARTBEAT_FLAG
from swen.store.keys import ApiKeyRepository
from swen.store.mrs import MergeRequestRepository
from swen.store.repository import Store

GITLAB_SECRET = "schemathesis-gitlab-secret"
ALERT_TOKEN = "schemathesis-alert-token"
STATEFUL_EXAMPLES = 30  # call sequences; with 100 fuzzed cases per operation the file runs in ~2 min

# What a schemathesis.toml would hold; kept here so the test carries its whole configuration.
CONFIG = """
seed = 20261101
suppress-health-check = ["too_slow", "filter_too_much", "data_too_large"]

[generation]
mode = "all"              # positive and negative data
max-examples = 100        # per operation in the fuzzing phase; coverage and examples run in full
deterministic = true
# The test sends real credentials (an admin key, the webhook secret) with every case, and they would
# override generated security headers: a "negative" Authorization header would in fact be sent as the
# valid key. ignored_auth still strips and garbles them to check the 401s.
with-security-parameters = false

[phases.examples]
enabled = true
[phases.coverage]
enabled = true
[phases.fuzzing]
enabled = true
[phases.stateful]
enabled = true

[checks]
enabled = true

# schemathesis' default rejection statuses plus 413: a generated negative body can be larger than the
# API's body limit (e.g. 5001 alerts, over 1 MiB), and the API then answers with the 413 problem that
# every operation documents, before it reads the body.
[checks.negative_data_rejection]
expected-statuses = [
  "400", "401", "403", "404", "405", "406", "409", "413", "415", "422", "428", "429", "5xx",
]
"""


@dataclass
class Api:
    headers: dict[str, str]
    schema: schemathesis.BaseSchema


def _seed(store: Store) -> None:
    from support.builders import T0, decision, placement, service, telemetry_sample

    AWS, ALI = placement("aws/us-east-1"), placement("alibaba/cn-hangzhou")
    store.upsert_services([service("web"), service("db")])
    store.insert_samples(
        [telemetry_sample("web", AWS), telemetry_sample("web", ALI), telemetry_sample("db", AWS, ts=T0)]
    )
    store.save_decision(decision("d-web-0", service="web", created_at=T0))
    for step in (DecisionStatus.MR_OPENED, DecisionStatus.PIPELINE_RUNNING, DecisionStatus.AWAITING_APPROVAL):
        store.transition("d-web-0", step)
    MergeRequestRepository(store).create(
        decision_id="d-web-0", service="web", branch="ai-rec/web-1", host="local", title="move web",
        description="d", kind=MRKind.MIGRATION,
    )  # fmt: skip
    store.set_flag(ENGINE_HEARTBEAT_FLAG, time.time() + 3600)  # the engine is alive: /readyz is 200


@pytest.fixture
def api(tmp_path: Path) -> Api:
    settings = Settings(
        home=tmp_path,
        rate_limit_per_minute=1_000_000,
        gitlab_webhook_secret=GITLAB_SECRET,  # type: ignore[arg-type]
        alert_token=ALERT_TOKEN,  # type: ignore[arg-type]
    )
    store = Store.open(settings)
    _seed(store)
    key = ApiKeyRepository(store).create("schemathesis", Role.ADMIN)[1]
    schema = schemathesis.openapi.from_asgi(
        "/openapi.json", create_app(settings, store=store), config=schemathesis.Config.from_str(CONFIG)
    )
    return Api(headers={"Authorization": f"Bearer {key}", "X-Gitlab-Token": GITLAB_SECRET}, schema=schema)


@pytest.fixture
def api_schema(api: Api) -> schemathesis.BaseSchema:
    return api.schema


def test_the_configuration_runs_every_phase_mode_and_check() -> None:
    """Guards the configuration above: nothing is quietly left out."""
    project = schemathesis.Config.from_str(CONFIG).projects.get_default()
    generation = project.generation_for(phase="fuzzing")
    assert set(generation.modes) == set(schemathesis.GenerationMode)
    phases = project.phases_for(operation=None)
    assert all(p.enabled for p in (phases.examples, phases.coverage, phases.fuzzing, phases.stateful))
    load_all_checks()
    names = {check.__name__ for check in CHECKS.get_all()}
    assert {"ignored_auth", "negative_data_rejection", "positive_data_acceptance"} <= names
    for phase in ("examples", "coverage", "fuzzing", "stateful"):
        checks = project.checks_config_for(phase=phase)
        disabled = {name for name in names if not checks.get_by_name(name=name).enabled}
        assert disabled == set(), (phase, disabled)


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
def test_openapi_contract(case: schemathesis.Case, api: Api) -> None:
    case.call_and_validate(headers=api.headers)


def test_stateful_sequences(api: Api) -> None:
    """The stateful phase: sequences of calls along the links schemathesis infers between operations,
    every check on every response."""
    machine = api.schema.as_state_machine()
    headers = api.headers

    class WithCredentials(machine):  # type: ignore[misc,valid-type]
        def get_call_kwargs(self, case: schemathesis.Case) -> dict[str, object]:
            return {"headers": headers}

    WithCredentials.run(
        settings=hypothesis.settings(
            max_examples=STATEFUL_EXAMPLES,
            deadline=None,
            derandomize=True,
            # the same health checks CONFIG suppresses for the other phases: which sequences need
            # filtering depends on the set of operations (adding GET /credits tripped it)
            suppress_health_check=[
                hypothesis.HealthCheck.too_slow,
                hypothesis.HealthCheck.filter_too_much,
                hypothesis.HealthCheck.data_too_large,
            ],
        )
    )
