"""The hot path's caches: the key cache (revocation within its TTL) and the version probe (both backends)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from support.builders import T0, decision, placement, service, telemetry_sample
from support.http import bearer
from swen.api.app import create_app
from swen.api.keycache import LISTENING_TTL_S, SHORT_TTL_S, KeyCache
from swen.config import Settings
from swen.domain.errors import StoreError
from swen.domain.keys import Principal, Role
from swen.store.keys import ApiKeyRepository
from swen.store.repository import Store
from swen.store.versions import VersionProbe

AWS = placement("aws/us-east-1")


def test_key_cache_expires_and_never_holds_the_key() -> None:
    now = [0.0]
    cache = KeyCache(ttl_s=2.0, clock=lambda: now[0])
    who = Principal(key_id=1, name="k", role=Role.VIEWER)
    cache.put("swen_secret", who)
    assert cache.get("swen_secret") == who and cache.get("swen_other") is None
    assert "swen_secret" not in repr(cache.__dict__)
    now[0] = 2.5
    assert cache.get("swen_secret") is None


def test_a_revoked_key_stops_working_once_its_cache_entry_expires(
    app: FastAPI, client: TestClient, store: Store
) -> None:
    now = [0.0]
    app.state.key_cache = KeyCache(ttl_s=2.0, clock=lambda: now[0])
    repo = ApiKeyRepository(store)
    record, key = repo.create("soon-revoked", Role.VIEWER)
    assert client.get("/services", headers=bearer(key)).status_code == 200
    repo.revoke(record.id)
    assert client.get("/services", headers=bearer(key)).status_code == 200  # within the TTL
    now[0] = 2.1
    assert client.get("/services", headers=bearer(key)).status_code == 401


def test_version_probe_sees_every_write(any_store: Store) -> None:
    probe = VersionProbe(any_store.engine)

    async def ids() -> tuple[int, int]:
        return await probe.newest_id("telemetry_samples"), await probe.newest_id("events")

    try:
        assert asyncio.run(ids()) == (0, 0)
        any_store.insert_samples([telemetry_sample("web")])
        any_store.save_decision(decision("d-web-0", service="web", created_at=T0))
        first = asyncio.run(ids())  # a new event loop: the PostgreSQL connection is reopened
        assert first[0] >= 1 and first[1] >= 1
        any_store.insert_samples([telemetry_sample("web", ts=T0.replace(hour=1))])
        assert asyncio.run(ids())[0] > first[0]
        with pytest.raises(ValueError):
            asyncio.run(probe.newest_id("api_keys"))
    finally:
        probe.close()


def test_version_probe_errors_are_store_errors(tmp_path: Path) -> None:
    store = Store.from_url(f"sqlite:///{tmp_path / 'x.db'}")
    probe = VersionProbe(store.engine)
    (tmp_path / "x.db").unlink()
    for suffix in ("-wal", "-shm"):
        (tmp_path / f"x.db{suffix}").unlink(missing_ok=True)
    try:
        with pytest.raises(StoreError):
            asyncio.run(probe.newest_id("events"))
    finally:
        probe.close()
        store.close()


def test_cached_reads_stay_fresh_on_both_backends(database_url: str, swen_home: Path) -> None:
    """Asking the database on every request (SQLite always; PostgreSQL with api_max_staleness_s=0): a
    write on another connection is in the very next reply. The learnt versions' weaker, bounded
    guarantee is tested in test_notified_versions.py."""
    settings = Settings(home=swen_home, database_url=database_url, api_max_staleness_s=0)
    with Store.open(settings) as store, Store.open(settings, migrate=False) as writer:
        key = ApiKeyRepository(store).create("v", Role.VIEWER)[1]
        writer.upsert_services([service("web")])
        with TestClient(create_app(settings, store=store)) as client:
            assert client.get("/telemetry", headers=bearer(key)).json()["total"] == 0
            writer.insert_samples([telemetry_sample("web", AWS)])
            assert client.get("/telemetry", headers=bearer(key)).json()["total"] == 1
            assert client.get("/decisions", headers=bearer(key)).json()["total"] == 0
            writer.save_decision(decision("d-web-0", service="web", created_at=T0))
            assert client.get("/decisions", headers=bearer(key)).json()["total"] == 1


def test_response_cache_computes_once_for_concurrent_misses() -> None:
    import threading
    import time as _time

    from swen.api.cache import ResponseCache

    cache = ResponseCache()
    calls: list[int] = []
    lock = threading.Lock()

    def slow() -> bytes:
        with lock:
            calls.append(1)
        _time.sleep(0.05)
        return b"page"

    async def many() -> list[bytes]:
        return await asyncio.gather(*(cache.get_or_compute("k", 1, slow) for _ in range(20)))

    assert asyncio.run(many()) == [b"page"] * 20 and len(calls) == 1
    assert asyncio.run(cache.get_or_compute("k", 1, slow)) == b"page" and len(calls) == 1
    assert asyncio.run(cache.get_or_compute("k", 2, slow)) == b"page" and len(calls) == 2


def test_response_cache_failure_reaches_every_waiter_and_is_not_cached() -> None:
    from swen.api.cache import ResponseCache

    cache = ResponseCache()

    def broken() -> bytes:
        raise StoreError("down")

    async def many() -> list[object]:
        return await asyncio.gather(
            *(cache.get_or_compute("k", 1, broken) for _ in range(5)), return_exceptions=True
        )

    assert all(isinstance(r, StoreError) for r in asyncio.run(many()))
    assert cache.get("k", 1) is None


def test_postgresql_probes_are_batched_and_never_older_than_the_request(any_store: Store) -> None:
    if any_store.engine.dialect.name != "postgresql":
        pytest.skip("batching is the PostgreSQL path")
    probe = VersionProbe(any_store.engine)
    queries: list[int] = []
    from swen.store import versions

    real = versions._PgBatcher._query

    async def counted(self: versions._PgBatcher) -> object:
        queries.append(1)
        return await real(self)

    versions._PgBatcher._query = counted  # type: ignore[method-assign]

    async def scenario() -> tuple[list[int], int]:
        first = await asyncio.gather(*(probe.newest_id("telemetry_samples") for _ in range(30)))
        await asyncio.to_thread(any_store.insert_samples, [telemetry_sample("web")])
        after_write = await probe.newest_id("telemetry_samples")
        return first, after_write

    try:
        first, after_write = asyncio.run(scenario())
        assert set(first) == {0} and after_write >= 1
        assert len(queries) <= 3  # 30 concurrent requests: one or two batches, not 30 queries
    finally:
        versions._PgBatcher._query = real  # type: ignore[method-assign]
        probe.close()


def test_key_cache_looks_a_key_up_once_for_concurrent_misses() -> None:
    import time as _time

    cache = KeyCache()
    who = Principal(key_id=3, name="k", role=Role.ADMIN)
    calls: list[int] = []

    def lookup() -> Principal | None:
        calls.append(1)
        _time.sleep(0.05)
        return who

    async def many() -> list[Principal | None]:
        return await asyncio.gather(*(cache.get_or_lookup("swen_k", lookup) for _ in range(25)))

    assert asyncio.run(many()) == [who] * 25 and len(calls) == 1
    assert asyncio.run(cache.get_or_lookup("swen_unknown", lambda: None)) is None
    assert cache.get("swen_unknown") is None  # a failed lookup is never cached


def test_key_cache_invalidation_drops_the_key_and_stale_lookups() -> None:
    cache = KeyCache(ttl_s=30.0)
    who = Principal(key_id=7, name="k", role=Role.VIEWER)
    other = Principal(key_id=8, name="o", role=Role.VIEWER)
    cache.put("swen_seven", who)
    cache.put("swen_eight", other)
    cache.invalidate(7)
    assert cache.get("swen_seven") is None and cache.get("swen_eight") == other

    async def lookup_racing_a_revocation() -> Principal | None:
        def lookup() -> Principal | None:
            cache.invalidate(7)  # the revocation lands while the (now stale) lookup runs
            return who

        return await cache.get_or_lookup("swen_seven", lookup)

    assert asyncio.run(lookup_racing_a_revocation()) == who
    assert cache.get("swen_seven") is None  # the stale answer was not kept


def test_key_cache_ttl_follows_the_listener() -> None:
    cache = KeyCache()
    assert cache.ttl_s == SHORT_TTL_S <= 1.0
    cache.put("swen_k", Principal(key_id=1, name="k", role=Role.VIEWER))
    cache.listening(True)
    assert cache.ttl_s == LISTENING_TTL_S and cache.get("swen_k") is None  # cleared on (re)connect
    cache.listening(False)
    assert cache.ttl_s == SHORT_TTL_S
