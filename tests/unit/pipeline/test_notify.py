"""The notify stage against a real HTTP server on 127.0.0.1 (no mocks of httpx)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from swen.config import Settings
from swen.domain.errors import PipelineError
from swen.domain.events import EventType
from swen.pipeline.notify import Notification, Notifier, slack_payload
from swen.pipeline.retry import Backoff
from swen.store.repository import Store

FAST = Backoff(tries=3, first_s=0.01)


class Hook:
    """A webhook receiver that answers with the next status from ``statuses`` (then 200)."""

    def __init__(self, statuses: list[int]) -> None:
        self.statuses = statuses
        self.bodies: list[dict[str, Any]] = []
        self.content_types: list[str] = []


@pytest.fixture
def hook() -> Iterator[tuple[Hook, str]]:
    state = Hook([])

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            state.bodies.append(json.loads(self.rfile.read(length)))
            state.content_types.append(self.headers.get("Content-Type", ""))
            status = state.statuses.pop(0) if state.statuses else 200
            body = b"ok" if status == 200 else b"no_service"
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state, f"http://127.0.0.1:{server.server_address[1]}/services/T000/B000/secret-token"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def store(settings: Settings) -> Iterator[Store]:
    s = Store.open(settings)
    try:
        yield s
    finally:
        s.close()


def _note() -> Notification:
    return Notification(
        title="SWEN applied MR !3",
        text="service-1 moved from aws/us-east-1 to alibaba/ap-southeast-1",
        status="success",
        fields={"service": "service-1", "decision": "d-1", "cost delta": "-12.0 %"},
        service="service-1",
        decision_id="d-1",
    )


def test_posts_slack_compatible_json_and_records_event(store: Store, hook: tuple[Hook, str]) -> None:
    state, url = hook
    result = Notifier(store, url, backoff=FAST).notify(_note())
    assert result.posted and result.attempts == 1 and result.http_status == 200
    assert result.webhook_host == "127.0.0.1"
    [body] = state.bodies
    assert state.content_types[0].startswith("application/json")
    assert body["text"].startswith("SWEN applied MR !3: service-1 moved")
    assert [b["type"] for b in body["blocks"]] == ["header", "section", "section"]
    field_texts = [f["text"] for f in body["blocks"][2]["fields"]]
    assert "*service*\nservice-1" in field_texts
    [event] = store.events_after(0, types=[EventType.NOTIFICATION])
    assert event.decision_id == "d-1" and event.payload["status"] == "success"
    # the webhook URL is a secret: only its host is recorded
    assert "secret-token" not in json.dumps(event.payload)


def test_server_error_is_retried_then_succeeds(store: Store, hook: tuple[Hook, str]) -> None:
    state, url = hook
    state.statuses = [503, 500]
    result = Notifier(store, url, backoff=FAST).notify(_note())
    assert result.posted and result.attempts == 3
    assert len(state.bodies) == 3


def test_client_error_fails_at_once_with_the_servers_answer(store: Store, hook: tuple[Hook, str]) -> None:
    state, url = hook
    state.statuses = [404]
    with pytest.raises(PipelineError) as info:
        Notifier(store, url, backoff=FAST).notify(_note())
    assert "HTTP 404" in str(info.value) and "no_service" in str(info.value)
    assert info.value.stage == "notify" and not info.value.transient
    assert "secret-token" not in str(info.value)
    assert len(state.bodies) == 1


def test_unreachable_webhook_fails_after_retries(store: Store) -> None:
    import socket

    with socket.socket() as sock:  # a port that nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(PipelineError) as info:
        Notifier(store, f"http://127.0.0.1:{port}/hook", backoff=FAST).notify(_note())
    assert info.value.transient and "127.0.0.1" in str(info.value)


def test_without_webhook_only_the_event_is_recorded(store: Store) -> None:
    result = Notifier(store, None).notify(_note())
    assert not result.posted and result.event_id is not None
    assert len(store.events_after(0, types=[EventType.NOTIFICATION])) == 1


def test_bad_webhook_url_is_rejected(store: Store) -> None:
    with pytest.raises(PipelineError, match="not an http"):
        Notifier(store, "file:///etc/passwd")


def test_payload_truncates_long_text() -> None:
    note = Notification(title="t" * 500, text="x" * 10_000, status="failed")
    body = slack_payload(note)
    assert len(body["blocks"][0]["text"]["text"]) <= 150
    assert len(body["blocks"][1]["text"]["text"]) < 3000
    assert len(body["text"]) < 3000
