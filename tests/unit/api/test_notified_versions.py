"""Cached pages learn about writes from PostgreSQL notifications (``store.versions.NotifiedVersions``)
and fall back to asking the database whenever that knowledge is not provably fresh."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from support.builders import T0, decision, placement, service, telemetry_sample
from support.http import bearer
from support.processes import wait_for
from swen.api.app import create_app
from swen.api.middleware import ReadYourWritesMiddleware
from swen.config import Settings
from swen.domain.keys import Role
from swen.store import notify
from swen.store.keys import ApiKeyRepository
from swen.store.notify import has_change_triggers
from swen.store.repository import Store
from swen.store.versions import NotifiedVersions, VersionProbe

AWS = placement("aws/us-east-1")
LAG_S = 0.3
"""The staleness bound these tests run with (the setting ``api_max_staleness_s``)."""
WAIT_S = 10.0
"""A bound on waiting for the listener (a loaded machine), never a measurement."""


# --- the bookkeeping -----------------------------------------------------------------------------
def test_versions_are_known_only_between_a_heartbeat_and_the_lag_bound() -> None:
    now = [100.0]
    versions = NotifiedVersions(0.25, clock=lambda: now[0])
    assert versions.current("events") is None  # never synced: ask
    versions.listening(True)
    assert versions.current("events") is None  # connected, no heartbeat yet: ask
    versions.synced(100.0)
    first = versions.current("events")
    assert first is not None and versions.current("telemetry_samples") is not None
    versions.changed("events")
    assert versions.current("events") != first
    assert versions.current("telemetry_samples") == (first[0], 0)  # the other topic is untouched
    now[0] = 100.3
    assert versions.current("events") is None  # the last heartbeat is too old (lagging): ask
    versions.synced(100.2)
    assert versions.current("events") is not None
    versions.synced(90.0)  # a heartbeat never moves the sync point back
    assert versions.current("events") is not None


def test_after_a_write_through_this_replica_it_asks_until_a_later_heartbeat() -> None:
    now = [100.0]
    versions = NotifiedVersions(0.25, clock=lambda: now[0])
    versions.synced(100.0)
    assert versions.current("events") is not None
    now[0] = 100.05
    versions.wrote()  # a write request through this process completed
    assert versions.current("events") is None  # the last heartbeat predates the write: ask
    versions.synced(100.04)  # a heartbeat sent before the write proves nothing about it
    assert versions.current("events") is None
    versions.synced(100.06)
    assert versions.current("events") is not None


def test_a_write_request_marks_the_replica_and_a_read_does_not() -> None:
    app = FastAPI()
    now = [0.0]
    notified = NotifiedVersions(1.0, clock=lambda: now[0])

    class _Probe:
        pass

    app.state.versions = _Probe()
    app.state.versions.notified = notified
    app.add_middleware(ReadYourWritesMiddleware)

    @app.get("/r")
    def read() -> dict[str, str]:
        return {}

    @app.post("/w")
    def write() -> dict[str, str]:
        return {}

    notified.synced(0.0)
    with TestClient(app) as client:
        assert client.get("/r").status_code == 200
        assert notified.current("events") is not None
        now[0] = 0.5
        assert client.post("/w").status_code == 200
        assert notified.current("events") is None
        assert client.post("/missing").status_code == 404  # a refused write still marks (cheap, safe)
        notified.synced(0.6)
        assert notified.current("events") is not None


def test_a_reconnection_is_a_new_generation_and_needs_a_heartbeat() -> None:
    now = [0.0]
    versions = NotifiedVersions(1.0, clock=lambda: now[0])
    versions.listening(True)
    versions.synced(0.0)
    before = versions.current("events")
    versions.listening(False)  # notifications may be missed from here on
    assert versions.current("events") is None
    versions.listening(True)
    assert versions.current("events") is None
    versions.synced(0.0)
    after = versions.current("events")
    assert after is not None and before is not None and after[0] != before[0]


def test_an_unknown_topic_counts_as_a_change_of_everything() -> None:
    versions = NotifiedVersions(1.0, clock=lambda: 0.0)
    versions.synced(0.0)
    before = (versions.current("events"), versions.current("telemetry_samples"))
    versions.changed("something-new")
    assert (versions.current("events"), versions.current("telemetry_samples")) != before


def test_no_notified_versions_without_a_positive_bound() -> None:
    with pytest.raises(ValueError, match="max_lag_s"):
        NotifiedVersions(0)


def test_the_probe_asks_the_database_while_notifications_are_not_fresh(tmp_path: Path) -> None:
    store = Store.from_url(f"sqlite:///{tmp_path / 'swen.db'}")
    now = [0.0]
    notified = NotifiedVersions(0.25, clock=lambda: now[0])
    probe = VersionProbe(store.engine, notified=notified)
    try:
        store.insert_samples([telemetry_sample("web")])
        assert asyncio.run(probe.version("telemetry_samples")) == ("asked", 1)
        notified.synced(0.0)
        assert asyncio.run(probe.version("telemetry_samples")) == ("notified", 0, 0)
        now[0] = 1.0  # lagging
        assert asyncio.run(probe.version("telemetry_samples")) == ("asked", 1)
        assert (probe.asked, probe.learnt) == (2, 1)
        with pytest.raises(ValueError):
            asyncio.run(probe.version("api_keys"))
    finally:
        probe.close()
        store.close()


# --- PostgreSQL: real triggers, a real listener ---------------------------------------------------
Api = tuple[FastAPI, TestClient, Store, str]


@pytest.fixture
def pg_api(pg_url: str, swen_home: Path) -> Iterator[Api]:
    yield from _api(pg_url, swen_home, LAG_S)


@pytest.fixture
def patient_pg_api(pg_url: str, swen_home: Path) -> Iterator[Api]:
    """A bound no heartbeat misses, even on a loaded machine: requests always learn."""
    yield from _api(pg_url, swen_home, 30.0)


def _api(pg_url: str, swen_home: Path, lag_s: float) -> Iterator[Api]:
    """The app on PostgreSQL (its own store) and a writer on other connections (another store)."""
    settings = Settings(home=swen_home, database_url=pg_url, api_max_staleness_s=lag_s)
    with Store.open(settings) as store, Store.open(settings, migrate=False) as writer:
        key = ApiKeyRepository(store).create("v", Role.VIEWER)[1]
        writer.upsert_services([service("web")])
        app = create_app(settings, store=store)
        with TestClient(app) as client:
            yield app, client, writer, key


def _synced(app: FastAPI) -> bool:
    probe: VersionProbe = app.state.versions
    return probe.notified is not None and probe.notified.current("events") is not None


def _total(client: TestClient, path: str, key: str) -> int:
    response = client.get(path, headers=bearer(key))
    assert response.status_code == 200, response.text
    return int(response.json()["total"])


def test_migrations_install_the_change_triggers(any_store: Store) -> None:
    assert has_change_triggers(any_store.engine) == (any_store.engine.dialect.name == "postgresql")


def test_a_write_on_another_connection_reaches_the_cache_by_notification(patient_pg_api: Api) -> None:
    app, client, writer, key = patient_pg_api
    probe: VersionProbe = app.state.versions
    wait_for("the listener's first heartbeat", lambda: _synced(app), timeout=WAIT_S, every=0.02)
    assert _total(client, "/telemetry", key) == 0 and _total(client, "/decisions", key) == 0
    asked = probe.asked
    notified = probe.notified
    assert notified is not None
    before = notified.current("telemetry_samples")

    writer.insert_samples([telemetry_sample("web", AWS)])
    wait_for(
        "the telemetry notification",
        lambda: notified.current("telemetry_samples") != before,
        timeout=WAIT_S,
        every=0.01,
    )
    assert _total(client, "/telemetry", key) == 1

    before = notified.current("events")
    writer.save_decision(decision("d-web-0", service="web", created_at=T0))
    wait_for(
        "the events notification", lambda: notified.current("events") != before, timeout=WAIT_S, every=0.01
    )
    assert _total(client, "/decisions", key) == 1
    assert probe.asked == asked  # every version since the first heartbeat was learnt, none asked
    assert probe.learnt >= 4


def test_a_write_is_seen_once_the_staleness_bound_has_passed(
    pg_api: Api,
) -> None:
    """The guarantee itself: a write that completed at least ``api_max_staleness_s`` before a request
    is in its reply, whether the version was learnt or asked (no waiting for the notification)."""
    app, client, writer, key = pg_api
    wait_for("the listener's first heartbeat", lambda: _synced(app), timeout=WAIT_S, every=0.02)
    for n in range(1, 4):
        assert _total(client, "/decisions", key) == n - 1  # cached at the current version
        writer.save_decision(decision(f"d-web-{n}", service="web", created_at=T0))
        time.sleep(LAG_S)
        assert _total(client, "/decisions", key) == n


def test_with_the_listener_down_every_request_asks_and_stays_fresh(
    pg_api: Api, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    app, client, writer, key = pg_api
    probe: VersionProbe = app.state.versions
    wait_for("the listener's first heartbeat", lambda: _synced(app), timeout=WAIT_S, every=0.02)
    assert _total(client, "/decisions", key) == 0
    monkeypatch.setattr(notify, "RECONNECT_S", 60.0)  # stays down for the rest of the test
    with psycopg.connect(pg_url, autocommit=True) as admin:
        killed = admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND application_name = %s",
            (notify.APPLICATION_NAME,),
        ).fetchall()
    assert killed, "the listener's session was not found"
    wait_for("the listener to notice", lambda: not _synced(app), timeout=WAIT_S, every=0.02)
    asked = probe.asked
    for n in range(1, 4):  # no waiting at all: every request asks
        writer.save_decision(decision(f"d-web-{n}", service="web", created_at=T0))
        assert _total(client, "/decisions", key) == n
    assert probe.asked == asked + 3
