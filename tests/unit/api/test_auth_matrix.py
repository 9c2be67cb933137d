"""Auth matrix: every role against every route.

Without a key (or with an unknown or revoked one) a route answers 401, with too low a role 403, and a
refused request changes nothing in the store (every table is compared before and after).
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from starlette.testclient import WebSocketDenialResponse

from support.alertmanager import PROVIDER_ONLY, alert, payload
from support.builders import T0, decision, service, telemetry_sample
from support.http import bearer
from swen.domain.decision import DecisionStatus
from swen.domain.keys import Role
from swen.domain.merge_requests import MRKind
from swen.store.incidents import IncidentRepository
from swen.store.keys import ApiKeyRepository
from swen.store.mrs import MergeRequestRepository
from swen.store.repository import Store
from swen.store.tables import metadata
from swen.telemetry.price_versions import ensure_recorded

ALERT = payload([alert(service="web", **PROVIDER_ONLY)])

# (method, path, json body, lowest role allowed)
PROTECTED: list[tuple[str, str, Any, Role]] = [
    ("GET", "/telemetry", None, Role.VIEWER),
    ("GET", "/telemetry?start=2026-11-01T00:00:00Z&end=2026-11-02T00:00:00Z", None, Role.VIEWER),
    ("GET", "/decisions", None, Role.VIEWER),
    ("GET", "/decisions/d-web-0", None, Role.VIEWER),
    ("GET", "/cost-analysis", None, Role.VIEWER),
    ("GET", "/services", None, Role.VIEWER),
    ("GET", "/whoami", None, Role.VIEWER),
    ("GET", "/services/web", None, Role.VIEWER),
    ("GET", "/mrs", None, Role.VIEWER),
    ("GET", "/mrs/1", None, Role.VIEWER),
    ("GET", "/mrs/1/review", None, Role.VIEWER),
    ("GET", "/automation", None, Role.VIEWER),
    ("GET", "/credits", None, Role.VIEWER),
    ("GET", "/actions", None, Role.VIEWER),
    ("POST", "/automation/pause", {"reason": "freeze"}, Role.OPERATOR),
    ("POST", "/automation/resume", None, Role.OPERATOR),
    ("POST", "/mrs/1/approve", None, Role.OPERATOR),
    ("POST", "/mrs/1/reject", {"reason": "no"}, Role.OPERATOR),
    ("POST", "/alerts", ALERT, Role.OPERATOR),
    ("POST", "/scenarios", {"kind": "outage", "provider": "aws"}, Role.ADMIN),
    ("POST", "/services/web/placement", {"provider": "alibaba", "region": "us-west-1"}, Role.OPERATOR),
    ("GET", "/incidents", None, Role.VIEWER),
    ("GET", "/incidents/1", None, Role.VIEWER),
    ("GET", "/catalog/versions", None, Role.VIEWER),
    ("GET", "/catalog/versions/1", None, Role.VIEWER),
]
OPEN = {("GET", "/healthz"), ("GET", "/readyz"), ("GET", "/metrics")}
"""Open by default; closed (viewer) with SWEN_OPEN_HEALTH_ENDPOINTS=false (test_limits.py)."""
WEBHOOK = {("POST", "/deployments")}
"""X-Gitlab-Token instead of a key (test_write_routes.py)."""
CALLERS = ["no key", "unknown key", "revoked key", "malformed header", *Role]


@pytest.fixture
def seeded(store: Store) -> Store:
    store.upsert_services([service("web")])
    store.insert_samples([telemetry_sample("web"), telemetry_sample("web", "alibaba/us-west-1")])
    store.save_decision(decision("d-web-0", service="web", created_at=T0))
    for step in (DecisionStatus.MR_OPENED, DecisionStatus.PIPELINE_RUNNING, DecisionStatus.AWAITING_APPROVAL):
        store.transition("d-web-0", step)
    MergeRequestRepository(store).create(
        decision_id="d-web-0", service="web", branch="swen/web/d-web-0", host="local", title="t",
        description="d", kind=MRKind.MIGRATION,
    )  # fmt: skip
    IncidentRepository(store).open_incident(
        service="web", provider="aws", region=None, kind="outage", source="engine"
    )
    ensure_recorded(store)  # catalog version 1
    return store


def snapshot(store: Store) -> dict[str, list[tuple[Any, ...]]]:
    with store.engine.connect() as conn:
        return {t.name: [tuple(r) for r in conn.execute(select(t))] for t in metadata.sorted_tables}


def headers_for(caller: str | Role, keys: dict[Role, str], store: Store) -> dict[str, str]:
    if isinstance(caller, Role):
        return bearer(keys[caller])
    if caller == "unknown key":
        return bearer("swen_" + "A" * 43)
    if caller == "revoked key":
        record, key = ApiKeyRepository(store).create("old", Role.ADMIN)
        ApiKeyRepository(store).revoke(record.id)
        return bearer(key)
    if caller == "malformed header":
        return {"Authorization": f"Basic {keys[Role.ADMIN]}"}
    return {}


@pytest.mark.parametrize("caller", CALLERS, ids=str)
@pytest.mark.parametrize(
    ("method", "path", "body", "needed"), PROTECTED, ids=[f"{m} {p}" for m, p, *_ in PROTECTED]
)
def test_auth_matrix(
    client: TestClient, seeded: Store, keys: dict[Role, str], caller: str | Role, method: str, path: str,
    body: Any, needed: Role,
) -> None:  # fmt: skip
    headers = headers_for(caller, keys, seeded)
    before = snapshot(seeded)
    r = client.request(method, path, json=body, headers=headers)
    if not isinstance(caller, Role):
        assert r.status_code == 401, r.text
        assert r.headers["www-authenticate"] == "Bearer"
    elif not caller.allows(needed):
        assert r.status_code == 403, r.text
        assert needed.value in r.json()["detail"]
    else:
        assert 200 <= r.status_code < 300, r.text
        return
    assert r.headers["content-type"] == "application/problem+json"
    assert snapshot(seeded) == before


def test_every_route_is_in_the_matrix(app: FastAPI) -> None:
    declared = {(m, p.split("?")[0]) for m, p, *_ in PROTECTED}
    templates = {
        ("GET", "/decisions/d-web-0"): "/decisions/{decision_id}",
        ("GET", "/services/web"): "/services/{name}",
        ("GET", "/mrs/1"): "/mrs/{mr_id}",
        ("GET", "/mrs/1/review"): "/mrs/{mr_id}/review",
        ("POST", "/mrs/1/approve"): "/mrs/{mr_id}/approve",
        ("POST", "/mrs/1/reject"): "/mrs/{mr_id}/reject",
        ("POST", "/services/web/placement"): "/services/{name}/placement",
        ("GET", "/incidents/1"): "/incidents/{incident_id}",
        ("GET", "/catalog/versions/1"): "/catalog/versions/{version_id}",
    }
    covered = {(m, templates.get((m, p), p)) for m, p in declared} | OPEN | WEBHOOK
    routes = {(method.upper(), path) for path, ops in app.openapi()["paths"].items() for method in ops}
    assert routes == covered


@pytest.mark.parametrize("caller", CALLERS, ids=str)
def test_websocket_auth(client: TestClient, seeded: Store, keys: dict[Role, str], caller: str | Role) -> None:
    headers = headers_for(caller, keys, seeded)
    if isinstance(caller, Role):
        with client.websocket_connect("/ws?after=0", headers=headers) as ws:
            assert ws.receive_json()["id"] == 1
        return
    with pytest.raises(WebSocketDenialResponse) as denied, client.websocket_connect("/ws", headers=headers):
        pass
    assert denied.value.status_code == 401


def test_openapi_declares_the_role_the_matrix_enforces(app: FastAPI) -> None:
    templates = {
        "/decisions/d-web-0": "/decisions/{decision_id}",
        "/services/web": "/services/{name}",
        "/mrs/1": "/mrs/{mr_id}",
        "/mrs/1/review": "/mrs/{mr_id}/review",
        "/mrs/1/approve": "/mrs/{mr_id}/approve",
        "/mrs/1/reject": "/mrs/{mr_id}/reject",
        "/services/web/placement": "/services/{name}/placement",
        "/catalog/versions/1": "/catalog/versions/{version_id}",
    }
    paths = app.openapi()["paths"]
    declared = 0
    for method, path, _body, needed in PROTECTED:
        template = templates.get(path.split("?")[0], path.split("?")[0])
        template = "/incidents/{incident_id}" if template.startswith("/incidents/") else template
        role = paths[template][method.lower()].get("x-required-role")
        if method == "POST" and template == "/alerts":
            assert role == "alertmanager-token or operator"
        else:
            assert role == needed.value, (method, template)
        declared += 1
    assert declared == len(PROTECTED)
    assert paths["/deployments"]["post"]["x-required-role"] == "gitlab-webhook-token"
    assert paths["/healthz"]["get"]["x-required-role"].startswith("none")
