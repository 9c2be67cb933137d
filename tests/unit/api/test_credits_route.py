"""GET /credits: the credit ledger over the API (the same view as `swen credits`)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient

from support.http import bearer
from swen.config import Settings
from swen.domain.keys import Role
from swen.store.repository import Store
from swen.telemetry.fleet import load_fleet
from swen.telemetry.ledger import LiveLedger

T0 = datetime(2026, 1, 5, tzinfo=UTC)


def test_a_viewer_sees_grants_balances_and_burn(
    client: TestClient, store: Store, keys: dict[Role, str], api_settings: Settings
) -> None:
    viewer = bearer(keys[Role.VIEWER])
    before = client.get("/credits", headers=viewer)
    assert before.status_code == 200, before.text
    assert before.json()["started_at"] is None and before.json()["intervals"] == 0
    live = LiveLedger(api_settings, store)
    for k in range(3):
        live.catch_up(T0 + k * timedelta(minutes=5), load_fleet(), {})
    body = client.get("/credits", headers=viewer).json()
    assert body["intervals"] == 2 and body["source"] == "credits.yaml (packaged default)"
    balances = {p["provider"]: p["balance_usd"] for p in body["providers"]}
    assert balances == live.balances()
    assert {g["name"] for g in body["grants"]} == {"aws-starter", "alibaba-starter", "gcp-starter"}
    live.catch_up(T0 + 5 * timedelta(minutes=5), load_fleet(), {})  # the API process takes in the new ones
    body = client.get("/credits", headers=viewer).json()
    assert body["intervals"] == 5
    assert {p["provider"]: p["balance_usd"] for p in body["providers"]} == live.balances()
    assert client.get("/credits").status_code == 401
