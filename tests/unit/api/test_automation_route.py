"""GET /automation and POST /automation/pause|resume: the automation switch over the API."""

from __future__ import annotations

from fastapi.testclient import TestClient

from support.http import bearer
from swen.domain.events import EventType
from swen.domain.keys import Role
from swen.moves import automation
from swen.store.repository import Store


def test_an_operator_pauses_and_resumes_and_every_viewer_sees_it(
    client: TestClient, store: Store, keys: dict[Role, str]
) -> None:
    viewer, operator = bearer(keys[Role.VIEWER]), bearer(keys[Role.OPERATOR])
    assert client.get("/automation", headers=viewer).json()["paused"] is False

    r = client.post("/automation/pause", json={"reason": "change freeze"}, headers=operator)

    assert r.status_code == 200, r.text
    assert r.json()["paused"] is True and r.json()["reason"] == "change freeze"
    assert "operator-key" in r.json()["by"]
    assert automation.is_paused(store)
    seen = client.get("/automation", headers=viewer).json()
    assert seen["paused"] is True and seen["by"] == r.json()["by"]

    r = client.post("/automation/resume", headers=operator)
    assert r.status_code == 200 and r.json()["paused"] is False and r.json()["reason"] is None
    assert not automation.is_paused(store)
    actions = [e.payload["action"] for e in store.events_after(0, types=[EventType.AUTOMATION])]
    assert actions == ["paused", "resumed"]


def test_a_viewer_may_not_pause_and_nothing_changes(
    client: TestClient, store: Store, keys: dict[Role, str]
) -> None:
    r = client.post("/automation/pause", headers=bearer(keys[Role.VIEWER]))
    assert r.status_code == 403
    assert r.headers["content-type"] == "application/problem+json"
    assert not automation.is_paused(store)
    assert client.post("/automation/pause").status_code == 401


def test_a_reason_too_long_is_refused_and_nothing_changes(
    client: TestClient, store: Store, keys: dict[Role, str]
) -> None:
    r = client.post("/automation/pause", json={"reason": "x" * 501}, headers=bearer(keys[Role.OPERATOR]))
    assert r.status_code == 422
    assert not automation.is_paused(store)
