"""GET /whoami tells a client which role its key has (the dashboard shows Approve only to operators)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from swen.domain.keys import Role


@pytest.mark.parametrize("role", list(Role))
def test_whoami_names_the_key_and_its_role(client: TestClient, keys: dict[Role, str], role: Role) -> None:
    response = client.get("/whoami", headers={"Authorization": f"Bearer {keys[role]}"})
    assert response.status_code == 200
    body = response.json()
    assert body["role"] == role.value
    assert isinstance(body["key_id"], int) and body["name"]


def test_whoami_without_a_key_is_401(client: TestClient) -> None:
    response = client.get("/whoami")
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/problem+json")
