"""The OpenAPI schema says what the routes accept: a request the schema allows is accepted, one it
forbids is refused with a problem document (what schemathesis checks, here case by case)."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from jsonschema import Draft202012Validator

from support.builders import service
from support.http import bearer
from swen.domain.keys import Role
from swen.domain.providers import PROVIDERS
from swen.store.repository import Store

ALERT_TOKEN = bearer("alert-token-for-tests")
GITLAB = {"X-Gitlab-Token": "gitlab-secret-for-tests"}
ALERTS = Path(__file__).parents[2] / "fixtures" / "alertmanager"


def validator(app: FastAPI, component: str) -> Draft202012Validator:
    openapi = app.openapi()
    return Draft202012Validator(
        {"$ref": f"#/components/schemas/{component}", "components": openapi["components"]}
    )


def body_errors(app: FastAPI, method: str, path: str) -> set[str]:
    return set(app.openapi()["paths"][path][method]["responses"])


def test_every_operation_with_a_body_documents_the_400_for_an_unparseable_body(app: FastAPI) -> None:
    with_body = [
        (method, path)
        for path, item in app.openapi()["paths"].items()
        for method, op in item.items()
        if "requestBody" in op
    ]
    assert {p for _, p in with_body} >= {"/alerts", "/deployments", "/scenarios"}
    for method, path in with_body:
        entry = app.openapi()["paths"][path][method]["responses"]["400"]
        assert "application/problem+json" in entry["content"], (method, path)


@pytest.mark.parametrize("path", ["/alerts", "/deployments", "/scenarios"])
def test_a_body_that_cannot_be_parsed_is_the_documented_400_problem(
    app: FastAPI, client: TestClient, keys: dict[Role, str], path: str
) -> None:
    headers = {**bearer(keys[Role.ADMIN]), **GITLAB, "Content-Type": "application/json"}
    r = client.post(path, content=b'{"version": "\xff\xfe"}', headers=headers)  # not UTF-8
    assert r.status_code == 400, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert "400" in body_errors(app, "post", path)
    truncated = client.post(path, content=b'{"version": "4",', headers=headers)
    assert truncated.status_code == 422 and "422" in body_errors(app, "post", path)


# --- timestamps ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "value",
    [
        "1969-12-31T23:59:59Z",
        "1970-01-01T00:00:00Z",
        "1970-01-01T00:30:00+01:00",  # 1969 in UTC, but written as 1970: accepted, as the pattern says
        "0373-09-01T17:36:16+13:41",
        "9998-12-31T23:59:59-23:59",
        "9999-01-01T00:00:00Z",
        "2026-11-01T00:00:00.123456Z",
    ],
)
@pytest.mark.parametrize(
    ("path", "param"), [("/telemetry", "start"), ("/decisions", "since"), ("/incidents", "since")]
)
def test_a_query_time_is_accepted_exactly_when_the_schema_pattern_allows_it(
    app: FastAPI, client: TestClient, keys: dict[Role, str], path: str, param: str, value: str
) -> None:
    (schema,) = [p["schema"] for p in app.openapi()["paths"][path]["get"]["parameters"] if p["name"] == param]
    assert schema["format"] == "date-time"
    allowed = re.search(schema["pattern"], value) is not None
    r = client.get(path, params={param: value}, headers=bearer(keys[Role.VIEWER]))
    assert r.status_code == (200 if allowed else 422), r.text


# --- alerts -------------------------------------------------------------------------------------------
def _alert_payload(**labels: str) -> dict[str, Any]:
    payload: dict[str, Any] = json.loads((ALERTS / "firing_outage.json").read_text())
    payload["alerts"] = payload["alerts"][:1]
    payload["alerts"][0]["labels"] = labels
    return payload


@pytest.mark.parametrize(
    "labels",
    [
        {"alertname": "ProviderOutage", "service": "web", "provider": "aws", "region": "us-east-1"},
        {"alertname": "X"},
        {"alertname": "A" * 128},
        {"alertname": "A" * 129},
        {"alertname": ""},
        {"service": "web"},
        {"alertname": "X", "bad-name": "x"},
        {"alertname": "X", "1st": "x"},
        {"alertname": "X", "service": "Web"},
        {"alertname": "X", "provider": "aws;drop"},
        {"alertname": "X", "region": "-east"},
        {"alertname": "X", "team": "any text at all ✓"},
    ],
)
def test_alert_labels_are_accepted_exactly_when_the_schema_allows_them(
    app: FastAPI, client: TestClient, store: Store, labels: dict[str, str]
) -> None:
    store.upsert_services([service("web")])
    payload = _alert_payload(**labels)
    valid = validator(app, "AlertmanagerPayload").is_valid(payload)
    r = client.post("/alerts", json=payload, headers=ALERT_TOKEN)
    assert r.status_code == (202 if valid else 422), r.text
    if not valid:
        assert r.json()["errors"][0]["loc"][:5] == ["body", "alerts", 0, "labels"][:5]


# --- GitLab webhooks ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("iid", "accepted"), [(7, True), (7.0, True), (7.5, False), ("7", False), (True, False)]
)
def test_a_json_integer_may_be_written_with_a_zero_fraction(
    app: FastAPI, client: TestClient, iid: object, accepted: bool
) -> None:
    hook = {
        "object_kind": "merge_request",
        "object_attributes": {"iid": iid, "source_branch": "feature", "state": "opened", "action": "open"},
    }
    assert validator(app, "MergeRequestHook").is_valid(hook) is accepted
    r = client.post("/deployments", json=hook, headers=GITLAB)
    assert (r.status_code != 422) is accepted, r.text


def test_a_pipeline_duration_is_a_non_negative_number(app: FastAPI) -> None:
    duration = app.openapi()["components"]["schemas"]["GitlabPipelineAttributes"]["properties"]["duration"]
    assert duration == {"anyOf": [{"type": "number", "minimum": 0.0}, {"type": "null"}], "title": "Duration"}


# --- scenarios ----------------------------------------------------------------------------------------
def test_the_scenario_schema_names_the_providers_and_their_regions(app: FastAPI) -> None:
    schema = app.openapi()["components"]["schemas"]["ScenarioBody"]
    assert schema["properties"]["provider"]["enum"] == PROVIDERS.names()
    check = validator(app, "ScenarioBody")
    assert check.is_valid({"kind": "outage", "provider": "aws", "region": "us-east-1"})
    assert not check.is_valid({"kind": "outage", "provider": "aws", "region": "us-central1"})  # a gcp region


@pytest.mark.parametrize(
    "body",
    [
        {"kind": "outage", "provider": "aws", "region": "us-east-1"},
        {"kind": "outage", "provider": "gcp", "region": "us-central1"},
        {"kind": "outage", "provider": "gcp", "region": "us-east-1"},
        {"kind": "outage", "provider": "nocloud"},
        {"kind": "outage", "provider": "aws", "region": "mars-1"},
        {"kind": "outage", "provider": "aws", "magnitude": 1.0},
        {"kind": "outage", "provider": "aws", "magnitude": 2.0},
        {"kind": "latency_spike", "provider": "aws", "magnitude": 0.5},
        {"kind": "latency_spike", "provider": "aws", "magnitude": 1.0},
        {"kind": "cost_spike", "provider": "alibaba", "magnitude": 0.5, "region": "eu-central-1"},
        {"kind": "cost_spike", "provider": "alibaba", "magnitude": 1001},
        {"kind": "outage", "provider": "aws", "service": "Web"},
    ],
)
def test_a_scenario_is_accepted_exactly_when_the_schema_allows_it(
    app: FastAPI, client: TestClient, keys: dict[Role, str], body: dict[str, Any]
) -> None:
    valid = validator(app, "ScenarioBody").is_valid(copy.deepcopy(body))
    r = client.post("/scenarios", json=body, headers=bearer(keys[Role.ADMIN]))
    assert r.status_code == (202 if valid else 422), r.text
