"""Notifications through apprise, against a real HTTP receiver on 127.0.0.1 (apprise's json:// scheme)."""

from __future__ import annotations

import json
import logging
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from swen.config import Settings, load_settings
from swen.domain.errors import ConfigError
from swen.domain.events import EventType
from swen.pipeline.notify import Notification, Notifier, mask_target, message_body
from swen.pipeline.retry import Backoff
from swen.store.repository import Store

FAST = Backoff(tries=3, first_s=0.01)
SECRET = "s3cret-token"


class Receiver:
    """A webhook receiver that answers with the next status from ``statuses`` (then 200)."""

    def __init__(self) -> None:
        self.statuses: list[int] = []
        self.bodies: list[dict[str, Any]] = []
        self.paths: list[str] = []
        self.content_types: list[str] = []
        self.port = 0

    def url(self, scheme: str = "json") -> str:
        return f"{scheme}://127.0.0.1:{self.port}/hooks/{SECRET}"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            state.bodies.append(json.loads(self.rfile.read(length)))
            state.paths.append(self.path)
            state.content_types.append(self.headers.get("Content-Type", ""))
            status = state.statuses.pop(0) if state.statuses else 200
            self.send_response(status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
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


def _free_port() -> int:
    with socket.socket() as sock:  # a port that nothing listens on once closed
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _note() -> Notification:
    return Notification(
        title="SWEN MR 3: move service-1",
        text="service-1 moved to alibaba/ap-southeast-1",
        status="success",
        fields={
            "service": "service-1",
            "move": "aws/us-east-1 -> alibaba/ap-southeast-1",
            "decision": "d-1",
            "policy": "auto_approve",
        },
        service="service-1",
        decision_id="d-1",
        link="http://127.0.0.1/mr/3",
    )


def test_json_target_gets_title_and_body_with_service_move_and_verdict(
    store: Store, receiver: Receiver
) -> None:
    result = Notifier(store, [receiver.url()], backoff=FAST).notify(_note())
    assert result.posted and result.attempts == 1 and not result.failed
    assert result.sent == (f"json://127.0.0.1:{receiver.port}/…",)
    [body] = receiver.bodies
    assert receiver.paths == [f"/hooks/{SECRET}"]
    assert receiver.content_types[0].startswith("application/json")
    assert body["title"] == "SWEN MR 3: move service-1"
    assert body["type"] == "success"
    lines = body["message"].splitlines()
    assert lines[0] == "service-1 moved to alibaba/ap-southeast-1"
    assert "service: service-1" in lines
    assert "move: aws/us-east-1 -> alibaba/ap-southeast-1" in lines
    assert "policy: auto_approve" in lines
    assert "details: http://127.0.0.1/mr/3" in lines
    [event] = store.events_after(0, types=[EventType.NOTIFICATION])
    assert event.decision_id == "d-1" and event.payload["status"] == "success"
    assert event.payload["targets"] == [f"json://127.0.0.1:{receiver.port}/…"]
    assert SECRET not in json.dumps(event.payload)  # the URL is a secret: only its masked form is kept


def test_escalation_is_sent_as_a_failure(store: Store, receiver: Receiver) -> None:
    note = Notification(title="SWEN self-healing stopped", text="no candidate", status="escalated")
    Notifier(store, [receiver.url()], backoff=FAST).notify(note)
    assert receiver.bodies[0]["type"] == "failure"


def test_server_error_is_retried_then_succeeds(store: Store, receiver: Receiver) -> None:
    receiver.statuses = [503, 500]
    result = Notifier(store, [receiver.url()], backoff=FAST).notify(_note())
    assert result.posted and result.attempts == 3
    assert len(receiver.bodies) == 3


def test_receiver_down_is_logged_once_and_never_raised(
    store: Store, receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    down = f"json://127.0.0.1:{_free_port()}/hooks/{SECRET}"
    with caplog.at_level(logging.WARNING, logger="swen.pipeline.notify"):
        result = Notifier(store, [down, receiver.url()], backoff=FAST).notify(_note())
    # the other target still gets it, and the event is recorded whatever happened
    assert result.sent == (f"json://127.0.0.1:{receiver.port}/…",) and len(receiver.bodies) == 1
    assert result.failed == (mask_target(down),) and result.attempts == 3 + 1
    ours = [r for r in caplog.records if r.name == "swen.pipeline.notify"]
    assert len(ours) == 1
    message = ours[0].getMessage()
    assert "service-1" in message and mask_target(down) in message and "3 attempt(s)" in message
    assert SECRET not in caplog.text
    assert len(store.events_after(0, types=[EventType.NOTIFICATION])) == 1


def test_refusal_is_not_delivered(store: Store, receiver: Receiver) -> None:
    receiver.statuses = [404, 404, 404]
    result = Notifier(store, [receiver.url()], backoff=FAST).notify(_note())
    assert not result.posted and result.failed and len(receiver.bodies) == 3


def test_without_targets_only_the_event_is_recorded(store: Store) -> None:
    result = Notifier(store, None).notify(_note())
    assert not result.posted and not result.failed and result.event_id is not None
    assert len(store.events_after(0, types=[EventType.NOTIFICATION])) == 1


def test_masked_targets_hide_tokens_passwords_and_paths() -> None:
    token = "abcdefghijklmnopqrstuvwx"
    assert mask_target("slack://T1AAAA/B2BBBB/" + token) == "slack://T...A/…"
    shown = mask_target("mailtos://user:hunter2@example.com")
    assert "hunter2" not in shown and shown.startswith("mailtos://user:")
    assert SECRET not in mask_target(f"json://hooks.example.com/{SECRET}?x=1")


# --- settings ---------------------------------------------------------------------------------


def test_settings_take_a_list_of_apprise_urls(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    urls = [f"json://127.0.0.1:9/{SECRET}", "mailtos://user:pw@example.com"]
    monkeypatch.setenv("SWEN_NOTIFY_URLS", json.dumps(urls))
    settings = load_settings(home=tmp_path)
    assert settings.notification_urls == tuple(urls)
    assert SECRET not in repr(settings) and SECRET not in str(settings.model_dump())


def test_a_bad_url_is_a_clear_settings_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    monkeypatch.setenv(
        "SWEN_NOTIFY_URLS", json.dumps(["json://ok.example.com/x", f"bogus://u:{SECRET}@host"])
    )
    with pytest.raises(ConfigError) as info:
        load_settings(home=tmp_path)
    text = str(info.value) + str(info.value.hint)
    assert "notify_urls" in text and "entry 1" in text and "'bogus'" in text and "not an apprise URL" in text
    assert "SWEN_NOTIFY_URLS" in text
    assert SECRET not in text


def test_notify_urls_that_are_not_json_are_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    monkeypatch.setenv("SWEN_NOTIFY_URLS", "json://ok.example.com/x")
    with pytest.raises(ConfigError, match=r"SWEN_NOTIFY_URLS is not valid JSON.*apprise URLs"):
        load_settings(home=tmp_path)


def test_old_slack_webhook_becomes_apprises_slack_url(tmp_path: Any) -> None:
    token = "abcdefghijklmnopqrstuvwx"
    settings = Settings(
        home=tmp_path, slack_webhook_url=f"https://hooks.slack.com/services/T1AA/B2BB/{token}"
    )
    assert settings.notification_urls == (f"slack://T1AA/B2BB/{token}",)
    assert token not in repr(settings)


def test_old_slack_webhook_elsewhere_is_refused_with_the_way_out(tmp_path: Any) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(home=tmp_path, slack_webhook_url=f"http://127.0.0.1/hooks/{SECRET}")
    assert "SWEN_NOTIFY_URLS" in str(info.value) and SECRET not in str(info.value)


def test_body_is_truncated() -> None:
    note = Notification(title="t", text="x" * 10_000, status="failed", fields={"service": "s"})
    assert len(message_body(note)) < 3000
