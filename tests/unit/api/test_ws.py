"""WebSocket live feed: the events of a real engine cycle, then a reconnect that resumes from the last id.

The writer (simulator + engine loop) uses its own Store object, the API another: the feed reads the
shared event log, so what works here works across processes.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from starlette.testclient import WebSocketTestSession

from support.http import bearer
from swen.api.app import create_app
from swen.config import Settings
from swen.domain.events import EventType
from swen.domain.keys import Role
from swen.loop import EngineLoop
from swen.store.keys import ApiKeyRepository
from swen.store.repository import Store
from swen.telemetry.runner import run_simulator

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


@pytest.fixture
def platform(database_url: str, swen_home: Path) -> Iterator[tuple[Settings, Store, Store, str]]:
    settings = Settings(home=swen_home, database_url=database_url, sim_speed=1e9)
    writer = Store.open(settings)
    reader = Store.open(settings, migrate=False)
    key = ApiKeyRepository(reader).create("feed", Role.VIEWER)[1]
    try:
        yield settings, writer, reader, key
    finally:
        writer.close()
        reader.close()


def engine_cycle(settings: Settings, store: Store, loop: EngineLoop, start: datetime, steps: int) -> None:
    run_simulator(settings, store, start=start, max_steps=steps, seed=11)
    report = loop.cycle()
    assert not report.errors, report.errors


def receive_until_engine_cycle(ws: WebSocketTestSession) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    while not messages or messages[-1]["type"] != EventType.ENGINE_CYCLE:
        messages.append(ws.receive_json())
    return messages


def test_feed_resumes_from_the_last_id_without_gaps_or_repeats(
    platform: tuple[Settings, Store, Store, str],
) -> None:
    settings, writer, reader, key = platform
    client = TestClient(create_app(settings, store=reader))
    loop = EngineLoop(settings, writer)

    with client.websocket_connect("/ws", headers=bearer(key)) as ws:
        start_id = writer.events_after(0, limit=10_000)[-1].id if writer.events_after(0) else 0
        engine_cycle(settings, writer, loop, T0, settings.window_size + 2)
        first = receive_until_engine_cycle(ws)
    types = {m["type"] for m in first}
    assert {EventType.TELEMETRY_CYCLE, EventType.ENGINE_CYCLE} <= types
    assert all(set(m) == {"id", "type", "ts", "service", "decision_id", "payload"} for m in first)
    assert [m["id"] for m in first] == [e.id for e in writer.events_after(start_id, limit=10_000)]
    last_seen = first[-1]["id"]

    # disconnected: another cycle happens
    engine_cycle(settings, writer, loop, T0 + timedelta(hours=1), 3)
    missed = [e.id for e in writer.events_after(last_seen, limit=10_000)]
    assert missed

    with client.websocket_connect(f"/ws?after={last_seen}", headers=bearer(key)) as ws:
        second = receive_until_engine_cycle(ws)
    ids = [m["id"] for m in second]
    assert ids == missed  # everything missed, in order, nothing twice, nothing already seen
    all_ids = [m["id"] for m in first] + ids
    assert all_ids == sorted(set(all_ids))


def test_feed_filters_types(platform: tuple[Settings, Store, Store, str]) -> None:
    settings, writer, reader, key = platform
    client = TestClient(create_app(settings, store=reader))
    writer.append_event(EventType.ALERT, {"n": 1})
    writer.append_event(EventType.INCIDENT, {"n": 2})
    writer.append_event(EventType.ALERT, {"n": 3})
    with client.websocket_connect("/ws?after=0&types=alert", headers=bearer(key)) as ws:
        assert [ws.receive_json()["payload"]["n"] for _ in range(2)] == [1, 3]


def test_an_open_feed_closes_once_its_key_is_revoked(platform: tuple[Settings, Store, Store, str]) -> None:
    settings, writer, reader, key = platform
    client = TestClient(create_app(settings, store=reader))
    repo = ApiKeyRepository(writer)
    record = next(r for r in repo.list() if r.name == "feed")
    with client.websocket_connect("/ws?after=0&types=alert", headers=bearer(key)) as ws:
        writer.append_event(EventType.ALERT, {"n": 1})
        assert ws.receive_json()["payload"] == {"n": 1}  # streaming
        repo.revoke(record.id)
        writer.append_event(EventType.ALERT, {"n": 2})  # may or may not arrive before the close
        message = ws.receive()
        if message["type"] == "websocket.send":
            message = ws.receive()
    assert message == {"type": "websocket.close", "code": 1008, "reason": "the API key was revoked"}


def test_one_poller_serves_every_connection(platform: tuple[Settings, Store, Store, str]) -> None:
    settings, writer, reader, key = platform
    app = create_app(settings, store=reader)
    client = TestClient(app)
    with (
        client.websocket_connect("/ws", headers=bearer(key)) as first,
        client.websocket_connect("/ws", headers=bearer(key)) as second,
    ):
        writer.append_event(EventType.ALERT, {"n": 1})
        assert first.receive_json()["payload"] == {"n": 1}
        assert second.receive_json()["payload"] == {"n": 1}
    assert app.state.feed.reads >= 1
