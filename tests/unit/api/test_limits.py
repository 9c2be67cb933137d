"""Cross-cutting HTTP behaviour: body size limit, per-key rate limit, CORS, closed health routes, logs."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from support.http import bearer
from swen.api.app import create_app
from swen.api.ratelimit import RateLimiter
from swen.config import Settings
from swen.domain.keys import Role
from swen.store.keys import ApiKeyRepository
from swen.store.repository import Store


def _client(settings: Settings, store: Store) -> TestClient:
    return TestClient(create_app(settings, store=store))


def test_rate_limiter_bucket() -> None:
    now = [0.0]
    limiter = RateLimiter(60, clock=lambda: now[0])
    assert all(limiter.acquire("k") is None for _ in range(60))
    wait = limiter.acquire("k")
    assert wait is not None and wait == pytest.approx(1.0)
    assert limiter.acquire("other") is None
    now[0] += 1.0
    assert limiter.acquire("k") is None and limiter.acquire("k") is not None


def test_rate_limit_per_key_answers_429(swen_home: Path, store: Store) -> None:
    settings = Settings(home=swen_home, rate_limit_per_minute=3)
    repo = ApiKeyRepository(store)
    first, second = repo.create("a", Role.VIEWER)[1], repo.create("b", Role.VIEWER)[1]
    client = _client(settings, store)
    codes = [client.get("/services", headers=bearer(first)).status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    r = client.get("/services", headers=bearer(first))
    assert r.headers["content-type"] == "application/problem+json" and int(r.headers["retry-after"]) >= 1
    assert client.get("/services", headers=bearer(second)).status_code == 200


def test_body_size_limit(swen_home: Path, store: Store, keys: dict[Role, str]) -> None:
    settings = Settings(home=swen_home, max_body_bytes=100, alert_token="t")  # type: ignore[arg-type]
    client = _client(settings, store)
    before = store.events_after(0)
    big = b'{"version": "4", "padding": "' + b"x" * 200 + b'"}'
    r = client.post("/alerts", content=big, headers={**bearer("t"), "content-type": "application/json"})
    assert r.status_code == 413 and r.headers["content-type"] == "application/problem+json"

    def chunks():  # no Content-Length: the limit must hold for a streamed body too
        yield big[:60]
        yield big[60:]

    r = client.post("/alerts", content=chunks(), headers={**bearer("t"), "content-type": "application/json"})
    assert r.status_code == 413
    assert store.events_after(0) == before


def test_cors_is_closed_by_default(client: TestClient) -> None:
    r = client.options(
        "/healthz", headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"}
    )
    assert "access-control-allow-origin" not in r.headers
    assert (
        "access-control-allow-origin" not in client.get("/healthz", headers={"Origin": "https://x"}).headers
    )


def test_cors_allows_configured_origins(swen_home: Path, store: Store) -> None:
    settings = Settings(home=swen_home, cors_origins=("https://dash.example",))
    client = _client(settings, store)
    r = client.get("/healthz", headers={"Origin": "https://dash.example"})
    assert r.headers["access-control-allow-origin"] == "https://dash.example"
    r = client.get("/healthz", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in r.headers


def test_health_routes_can_be_closed(swen_home: Path, store: Store, keys: dict[Role, str]) -> None:
    client = _client(Settings(home=swen_home, open_health_endpoints=False), store)
    for path in ("/healthz", "/readyz", "/metrics"):
        assert client.get(path).status_code == 401
    assert client.get("/healthz", headers=bearer(keys[Role.VIEWER])).status_code == 200
    assert client.get("/metrics", headers=bearer(keys[Role.VIEWER])).status_code == 200


def test_no_secret_is_logged(
    client: TestClient, keys: dict[Role, str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    client.get("/services", headers=bearer(keys[Role.VIEWER]))
    client.get("/services", headers=bearer(keys[Role.VIEWER] + "wrong"))
    client.post("/deployments", json={}, headers={"X-Gitlab-Token": "not-the-secret"})
    client.post("/mrs/1/approve", headers=bearer(keys[Role.VIEWER]))
    text = caplog.text
    for secret in [*keys.values(), "gitlab-secret-for-tests", "alert-token-for-tests", "not-the-secret"]:
        assert secret not in text


def test_replicas_share_one_budget_per_key(any_store: Store) -> None:
    """Two limiters (two API replicas) on one store: each charges its bucket for what the other let
    through, so the key gets its 10 a minute in all, not 10 per replica."""
    now = [0.0]
    wall = [1_000_000.0]
    a = RateLimiter(10, clock=lambda: now[0], wall=lambda: wall[0])
    b = RateLimiter(10, clock=lambda: now[0], wall=lambda: wall[0])
    assert all(a.acquire("k") is None for _ in range(6))
    assert a.flush_due()
    a.flush(any_store)
    assert b.acquire("k") is None  # b has not heard of a's six yet: its first request passes
    b.flush(any_store)  # ... and now it has
    allowed_b = sum(b.acquire("k") is None for _ in range(10))
    assert allowed_b == 3  # 10 - 6 (a) - 1 (b's first)
    b.flush(any_store)
    a.flush(any_store)  # a learns of b's four
    now[0] += 0.3
    assert a.acquire("k") is not None  # the key's ten are spent, across both replicas
    assert b.acquire("k") is not None
    assert a.acquire("other") is None  # other keys are untouched


def test_a_replica_without_the_database_limits_on_its_own(swen_home: Path) -> None:
    broken = Store.from_url(f"sqlite:///{swen_home / 'missing' / 'no.db'}", migrate=False)
    limiter = RateLimiter(2)
    assert limiter.acquire("k") is None
    limiter.flush(broken)  # logged, kept for the next flush
    assert limiter.acquire("k") is None and limiter.acquire("k") is not None
    broken.close()


def test_a_flush_is_due_at_most_once_per_interval() -> None:
    """Requests that arrive before the flush has started in its thread do not send more flushes."""
    from swen.api.ratelimit import FLUSH_S

    now = [0.0]
    limiter = RateLimiter(100, clock=lambda: now[0])
    assert not limiter.flush_due()  # nothing to share yet
    assert limiter.acquire("k") is None
    assert limiter.flush_due()
    assert not limiter.flush_due() and not limiter.flush_due()
    now[0] += FLUSH_S
    assert limiter.flush_due()
