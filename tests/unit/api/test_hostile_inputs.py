"""Hostile inputs get a 4xx problem document, never a 5xx, and write nothing."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from starlette.testclient import WebSocketDenialResponse

from support.alertmanager import PROVIDER_ONLY, alert, payload
from support.builders import service
from support.http import bearer
from swen.domain.keys import Role
from swen.store.repository import Store
from swen.store.tables import alerts, events, incidents

ALERT_TOKEN = bearer("alert-token-for-tests")


def count(store: Store, table: Any) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def assert_problem(r: Any, status: int, needle: str) -> None:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert needle in r.json()["detail"], r.json()


@pytest.mark.parametrize("param", ["end", "start"])
def test_a_telemetry_time_at_the_edge_of_the_calendar_is_a_422(
    client: TestClient, keys: dict[Role, str], param: str
) -> None:
    r = client.get(f"/telemetry?{param}=0001-01-01T00:00:00Z", headers=bearer(keys[Role.VIEWER]))
    assert_problem(r, 422, "date-time out of range")
    assert r.json()["errors"][0]["loc"] == ["query", param]


def test_an_alert_start_without_a_utc_equivalent_is_a_422(client: TestClient, store: Store) -> None:
    r = client.post(
        "/alerts",
        json=payload([alert(service="web", starts_at="0001-01-01T00:30:00+01:00", **PROVIDER_ONLY)]),
        headers=ALERT_TOKEN,
    )
    assert_problem(r, 422, "date-time out of range")
    assert r.json()["errors"][0]["loc"] == ["body", "alerts", 0, "startsAt"]
    assert count(store, alerts) == 0


LONE_SURROGATE = "\\ud800"
"""The JSON escape of a lone surrogate: valid JSON, but not valid Unicode text."""


@pytest.mark.parametrize(
    ("where", "mutate"),
    [
        ("alertname", lambda p: p["alerts"][0]["labels"].update(alertname="PLACEHOLDER")),
        ("label name", lambda p: p["alerts"][0]["labels"].update(PLACEHOLDER="x")),
        ("annotation", lambda p: p["alerts"][0]["annotations"].update(summary="PLACEHOLDER")),
        ("generatorURL", lambda p: p["alerts"][0].update(generatorURL="PLACEHOLDER")),
        ("groupKey", lambda p: p.update(groupKey="PLACEHOLDER")),
        ("commonLabels", lambda p: p.update(commonLabels={"alertname": "PLACEHOLDER"})),
        ("undeclared field", lambda p: p.update(extra={"deep": ["PLACEHOLDER"]})),
        ("undeclared alert field", lambda p: p["alerts"][0].update(silenceURL="PLACEHOLDER")),
    ],
)
def test_a_lone_surrogate_anywhere_in_an_alert_payload_is_a_422(
    client: TestClient, store: Store, where: str, mutate: Any
) -> None:
    notification = payload([alert(service="web", **PROVIDER_ONLY)])
    mutate(notification)
    body = json.dumps(notification).replace("PLACEHOLDER", LONE_SURROGATE)
    assert LONE_SURROGATE in body
    before = count(store, events)
    r = client.post("/alerts", content=body, headers={**ALERT_TOKEN, "Content-Type": "application/json"})
    assert_problem(r, 422, "not valid Unicode")
    assert count(store, alerts) == 0 and count(store, events) == before


def test_a_lone_surrogate_in_a_reject_reason_is_a_422(
    client: TestClient, store: Store, keys: dict[Role, str]
) -> None:
    body = '{"reason": "' + LONE_SURROGATE + '"}'
    headers = {**bearer(keys[Role.OPERATOR]), "Content-Type": "application/json"}
    r = client.post("/mrs/1/reject", content=body, headers=headers)
    assert_problem(r, 422, "not valid Unicode")


# --- the live feed ------------------------------------------------------------------------------------
@pytest.mark.parametrize("after", ["99999999999999999999", "9223372036854775808", "abc", "-1", "1e3", ""])
def test_a_malformed_feed_cursor_is_refused_with_a_422_that_says_why(
    client: TestClient, keys: dict[Role, str], after: str
) -> None:
    with (
        pytest.raises(WebSocketDenialResponse) as denied,
        client.websocket_connect(f"/ws?after={after}", headers=bearer(keys[Role.VIEWER])),
    ):
        pass
    assert denied.value.status_code == 422
    assert denied.value.headers["content-type"] == "application/problem+json"
    assert "must be a whole number from 0 to 9223372036854775807" in denied.value.json()["detail"]


def test_the_largest_feed_cursor_is_accepted(client: TestClient, keys: dict[Role, str]) -> None:
    with client.websocket_connect("/ws?after=9223372036854775807", headers=bearer(keys[Role.VIEWER])) as ws:
        ws.close()


@pytest.mark.parametrize("query", ["after=abc", "after=99999999999999999999", "types=" + "x" * 600])
def test_the_feed_checks_the_key_before_the_query(client: TestClient, query: str) -> None:
    with pytest.raises(WebSocketDenialResponse) as denied, client.websocket_connect(f"/ws?{query}"):
        pass
    assert denied.value.status_code == 401


# --- auth comes before the query string ------------------------------------------------------------
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/services?bogus=1"),
        ("GET", "/telemetry?bogus=1&limit=abc"),
        ("GET", "/incidents?limit=0"),
        ("POST", "/mrs/1/approve?bogus=1"),
        ("POST", "/alerts?bogus=1"),
        ("POST", "/scenarios?bogus=1"),
    ],
)
def test_a_caller_without_a_key_gets_401_whatever_the_query_string(
    client: TestClient, method: str, path: str
) -> None:
    r = client.request(method, path, json={})
    assert r.status_code == 401, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert "errors" not in r.json()  # nothing about the route's parameters leaks


def test_a_gitlab_hook_without_its_token_gets_401_whatever_the_query_string(client: TestClient) -> None:
    r = client.post("/deployments?bogus=1", json={})
    assert r.status_code == 401, r.text


def test_a_key_with_too_low_a_role_gets_403_whatever_the_query_string(
    client: TestClient, keys: dict[Role, str]
) -> None:
    r = client.post("/scenarios?bogus=1", json={}, headers=bearer(keys[Role.VIEWER]))
    assert r.status_code == 403, r.text


@pytest.mark.parametrize(
    ("method", "path", "headers"),
    [
        ("GET", "/services?bogus=1", "viewer"),
        ("POST", "/alerts?bogus=1", "alert token"),
        ("POST", "/deployments?bogus=1", "gitlab token"),
        ("GET", "/healthz?bogus=1", "none"),
    ],
)
def test_an_authenticated_caller_still_gets_422_for_an_unknown_query_parameter(
    client: TestClient, keys: dict[Role, str], method: str, path: str, headers: str
) -> None:
    sent = {
        "viewer": bearer(keys[Role.VIEWER]),
        "alert token": ALERT_TOKEN,
        "gitlab token": {"X-Gitlab-Token": "gitlab-secret-for-tests", "X-Gitlab-Event": "Merge Request Hook"},
        "none": {},
    }[headers]
    r = client.request(
        method,
        path,
        json=payload([alert(service="web", **PROVIDER_ONLY)]) if path.startswith("/alerts") else {},
        headers=sent,
    )
    assert_problem(r, 422, "query.bogus: unknown query parameter")


# --- alerts about services SWEN does not run -----------------------------------------------------
def test_an_alert_for_a_service_not_in_the_fleet_opens_no_incident(client: TestClient, store: Store) -> None:
    store.upsert_services([service("web")])
    ghost = payload([alert(service="ghost", **PROVIDER_ONLY)])
    r = client.post("/alerts", json=ghost, headers=ALERT_TOKEN)
    assert r.status_code == 202, r.text
    assert r.json() == {
        "received": 1, "stored": 0, "event_ids": [], "ignored": 1, "ignored_reasons": {"unknown_service": 1}
    }  # fmt: skip
    assert count(store, incidents) == 0 and count(store, alerts) == 0
    known = client.post("/alerts", json=payload([alert(service="web", **PROVIDER_ONLY)]), headers=ALERT_TOKEN)
    assert known.json()["stored"] == 1 and known.json()["ignored"] == 0 and count(store, incidents) == 1
