"""GET /cost-analysis keeps the fleet, the placements and the rolled-up series in memory between
requests (``api.memo``), at the version of their data learnt from PostgreSQL's notifications; a write
through another store (another process) is in the next reply once the staleness bound has passed, on
both backends (SQLite keeps nothing: it reads every time)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import delete

from support.builders import placement, service, telemetry_sample
from support.http import bearer
from support.processes import wait_for
from swen.api.app import create_app
from swen.api.memo import Memo, joint
from swen.config import Settings
from swen.domain.keys import Role
from swen.store import rollups
from swen.store.keys import ApiKeyRepository
from swen.store.repository import Store
from swen.store.tables import services
from swen.store.versions import VersionProbe

AWS, ALI = placement("aws/us-east-1"), placement("alibaba/cn-hangzhou")
LAG_S = 0.3
"""The staleness bound these tests run with (``api_max_staleness_s``)."""
WAIT_S = 10.0
"""A bound on waiting for the listener (a loaded machine), never a measurement."""


# --- the memo ------------------------------------------------------------------------------------
def test_a_value_is_kept_at_its_version_and_read_again_at_another() -> None:
    memo = Memo(max_entries=2)
    calls: list[str] = []

    def read(value: str) -> Any:
        return lambda: calls.append(value) or value

    assert memo.get("fleet", ("v", 1), read("a")) == "a"
    assert memo.get("fleet", ("v", 1), read("b")) == "a"  # kept
    assert memo.get("fleet", ("v", 2), read("c")) == "c"  # a new version: read again
    assert memo.get("fleet", None, read("d")) == "d"  # version unknown: read, and not kept
    assert memo.get("fleet", ("v", 2), read("e")) == "c"
    memo.get("x", 1, read("x"))
    memo.get("y", 1, read("y"))  # past max_entries: the least recently used ("fleet") goes
    assert memo.get("fleet", ("v", 2), read("f")) == "f"
    assert calls == ["a", "c", "d", "x", "y", "f"]
    assert (memo.hits, memo.misses) == (2, 6)


def test_concurrent_misses_of_one_key_read_once() -> None:
    memo = Memo()
    started, release = threading.Event(), threading.Event()
    calls = []

    def slow() -> int:
        calls.append(1)
        started.set()
        release.wait(WAIT_S)
        return 42

    got: list[int] = []
    first = threading.Thread(target=lambda: got.append(memo.get("k", 1, slow)))
    first.start()
    assert started.wait(WAIT_S)
    second = threading.Thread(target=lambda: got.append(memo.get("k", 1, slow)))
    second.start()
    release.set()
    first.join(WAIT_S)
    second.join(WAIT_S)
    assert got == [42, 42] and len(calls) == 1


def test_a_joint_version_is_unknown_when_one_part_is() -> None:
    assert joint([1, ("n", 0, 2)]) == (1, ("n", 0, 2))
    assert joint([1, None]) is None


# --- the route, against a writer on other connections ---------------------------------------------
Api = tuple[FastAPI, TestClient, Store, str]


@pytest.fixture
def api(database_url: str, swen_home: Path) -> Iterator[Api]:
    """The app on its own store (SQLite or PostgreSQL) and a writer on another store."""
    settings = Settings(home=swen_home, database_url=database_url, api_max_staleness_s=LAG_S)
    with Store.open(settings) as store, Store.open(settings, migrate=False) as writer:
        key = ApiKeyRepository(store).create("v", Role.VIEWER)[1]
        writer.upsert_services([service("web", replicas=2)])
        writer.insert_samples(
            [telemetry_sample("web", AWS, hourly=1.0), telemetry_sample("web", ALI, hourly=0.5)]
        )
        app = create_app(settings, store=store)
        with TestClient(app) as client:
            if store.engine.dialect.name == "postgresql":
                wait_for("the listener's first heartbeat", lambda: _synced(app), timeout=WAIT_S, every=0.02)
            yield app, client, writer, key


def _synced(app: FastAPI) -> bool:
    probe: VersionProbe = app.state.versions
    return probe.notified is not None and probe.notified.current("services") is not None


def _costs(client: TestClient, key: str) -> dict[str, tuple[str, int, float]]:
    response = client.get("/cost-analysis?days=30", headers=bearer(key))
    assert response.status_code == 200, response.text
    return {
        s["service"]: (f"{s['provider']}/{s['region']}", s["replicas"], s["monthly_cost_usd"])
        for s in response.json()["services"]
    }


def test_a_service_added_changed_or_removed_and_a_placement_moved_are_in_the_next_reply(api: Api) -> None:
    """The guarantee: a write that completed ``api_max_staleness_s`` before a request is in its reply
    (without waiting for its notification), whatever the memo kept."""
    _app, client, writer, key = api
    assert _costs(client, key) == {"web": ("aws/us-east-1", 2, 2 * 730.0)}
    assert _costs(client, key) == {"web": ("aws/us-east-1", 2, 2 * 730.0)}  # kept on PostgreSQL

    writer.upsert_services([service("db")])  # added
    time.sleep(LAG_S)
    assert set(_costs(client, key)) == {"db", "web"}

    writer.upsert_services([service("web", replicas=3)])  # changed
    time.sleep(LAG_S)
    assert _costs(client, key)["web"] == ("aws/us-east-1", 3, 3 * 730.0)

    writer.record_placement("web", ALI, decision_id=None, at=datetime.now(UTC))  # moved
    time.sleep(LAG_S)
    assert _costs(client, key)["web"] == ("alibaba/cn-hangzhou", 3, 3 * 0.5 * 730.0)

    with writer.writing("removing a service by hand") as conn:  # removed, by a writer that is not SWEN
        conn.execute(delete(services).where(services.c.name == "db"))
    time.sleep(LAG_S)
    assert set(_costs(client, key)) == {"web"}


def test_postgresql_serves_the_kept_inputs_until_a_notification_says_they_changed(
    api: Api, database_url: str
) -> None:
    app, client, writer, key = api
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite has no notifications: nothing is kept (the test above covers it)")
    memo: Memo = app.state.memo
    probe: VersionProbe = app.state.versions
    notified = probe.notified
    assert notified is not None
    first = _costs(client, key)
    hits = memo.hits
    assert _costs(client, key) == first
    assert memo.hits >= hits + 2  # the fleet and the placements, at least, from memory

    before = notified.current("services")
    writer.upsert_services([service("api")])
    wait_for("the services notification", lambda: notified.current("services") != before, timeout=WAIT_S)
    assert set(_costs(client, key)) == {"api", "web"}

    before = notified.current("placements")
    writer.record_placement("web", ALI, decision_id=None, at=datetime.now(UTC))
    wait_for("the placements notification", lambda: notified.current("placements") != before, timeout=WAIT_S)
    assert _costs(client, key)["web"][0] == "alibaba/cn-hangzhou"


def test_a_roll_up_through_another_store_changes_the_kept_series(api: Api) -> None:
    """The 30-day series of a window within the rolled-up hours are kept until the rollups change:
    more hours rolled up (the window's end moves), or an hour rolled up again (late samples; the
    window stays the same)."""
    _app, client, writer, key = api
    now = datetime.now(UTC).replace(microsecond=0)
    hours = [now - timedelta(hours=h, minutes=30) for h in range(2, 14)]
    writer.insert_samples([telemetry_sample("web", AWS, ts=ts, hourly=1.0 + i) for i, ts in enumerate(hours)])
    rollups.roll_up(writer, max_hours=4)  # the oldest hours only
    time.sleep(LAG_S)
    before = _series(client, key)
    rollups.roll_up(writer)  # the rest
    time.sleep(LAG_S)
    after = _series(client, key)
    assert after["series_end"] > before["series_end"]
    assert after == _series(client, key) and after["spend"] == _reference(writer, after)

    late = rollups.floor_hour(hours[5])  # a rolled-up hour gets a late, dear sample and is rolled again
    writer.insert_samples([telemetry_sample("web", AWS, ts=late + timedelta(minutes=1), hourly=500.0)])
    rollups.roll_hours(writer, late, late + timedelta(hours=1))
    time.sleep(LAG_S)
    again = _series(client, key)
    assert again["series_end"] == after["series_end"] and again["spend"] != after["spend"]
    assert again["spend"] == _reference(writer, again)


def _series(client: TestClient, key: str) -> dict[str, Any]:
    body = client.get("/cost-analysis?days=30", headers=bearer(key)).json()
    return {
        "series_end": body["series_end"],
        "step": body["credits_step_s"],
        "spend": {
            s["provider"]: [(p["ts"], p["monthly_usd"]) for p in s["points"]]
            for s in body["spend_by_provider"]
        },
    }


def _reference(store: Store, got: dict[str, Any]) -> dict[str, Any]:
    """The uncached read of the window the reply names."""
    start = datetime.fromisoformat(min(ts for points in got["spend"].values() for ts, _ in points))
    end = datetime.fromisoformat(got["series_end"])
    want = rollups.spend_by_provider(
        store, start=start, end=end, step_s=got["step"], running={"web": (AWS, 2)}
    )
    iso = lambda ts: ts.isoformat().replace("+00:00", "Z")  # noqa: E731
    return {p: [(iso(ts), pytest.approx(usd, rel=1e-9)) for ts, usd in points] for p, points in want.items()}
