"""The notify stage: an event in the audit log, then the message to every configured apprise target.

Targets are apprise URLs (``Settings.notification_urls``: Slack, Microsoft Teams, e-mail, generic
JSON/form webhooks, ...); apprise formats the message for each service. The event is recorded first,
so a notification is never lost even when no target takes it. A target that fails is retried with
back-off and then logged once, with the service and the masked target; it never raises, so a
notification never fails a pipeline, a review or an escalation.

The URLs carry secrets (tokens, passwords, webhook paths): logs, events and results show only
``mask_target(url)``: the scheme and apprise's privacy form of the host part, never the path or the query.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from swen.config import apprise_target, quiet_apprise
from swen.domain.events import EventType
from swen.pipeline.lock import LockStore
from swen.pipeline.retry import DEFAULT_BACKOFF, Backoff

log = logging.getLogger(__name__)

_MAX_BODY = 2900  # Slack rejects section text over 3000 characters; others take less than they allow


@dataclass(frozen=True)
class Notification:
    """What happened, in words for people and in fields for machines."""

    title: str
    text: str
    status: str  # success | failed | awaiting_approval | rejected | rolled_back | escalated
    fields: dict[str, str] = field(default_factory=dict)
    service: str | None = None
    decision_id: str | None = None
    link: str | None = None


@dataclass(frozen=True)
class NotifyResult:
    event_id: int | None
    sent: tuple[str, ...] = ()  # masked targets that took the message
    failed: tuple[str, ...] = ()  # masked targets that did not, after their retries
    attempts: int = 0

    @property
    def posted(self) -> bool:
        return bool(self.sent)


_STATUS_TYPE = {
    "success": "success",
    "failed": "failure",
    "escalated": "failure",
    "rejected": "warning",
    "rolled_back": "warning",
    "awaiting_approval": "info",
}


def message_body(note: Notification) -> str:
    """The text every target gets: what happened, one ``name: value`` line per field, the link."""
    lines = [note.text, *(f"{key}: {value}" for key, value in note.fields.items())]
    if note.link:
        lines.append(f"details: {note.link}")
    return "\n".join(lines)[:_MAX_BODY]


def mask_target(url: str) -> str:
    """``url`` safe to log: its scheme and apprise's privacy form of the host part (tokens and passwords
    shortened or starred), without path and query, which may hold the secret."""
    plugin = apprise_target(url)
    shown = plugin.url(privacy=True) if plugin is not None else url
    parts = urlsplit(shown)
    if not parts.scheme:
        return "<unparsable notification URL>"
    host = parts.netloc
    if "@" in host and plugin is None:  # unparsed user info: hide all of it
        host = "***@" + host.rsplit("@", 1)[1]
    return f"{parts.scheme}://{host}" + ("/…" if parts.path.strip("/") or parts.query else "")


class Notifier:
    """Records a NOTIFICATION event, then sends the message to each apprise target."""

    def __init__(
        self,
        store: LockStore,
        urls: Sequence[str] | None,
        *,
        backoff: Backoff = DEFAULT_BACKOFF,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.store = store
        self.urls = tuple(u for u in (urls or ()) if u)
        self.targets = tuple(mask_target(u) for u in self.urls)
        self.backoff = backoff
        self._sleep = sleep

    def notify(self, note: Notification) -> NotifyResult:
        """Record the event, then send to each target; failures are logged (once each), never raised."""
        payload: dict[str, Any] = {
            "title": note.title,
            "text": note.text,
            "status": note.status,
            "fields": dict(note.fields),
            "targets": list(self.targets),
        }
        record = self.store.append_event(
            EventType.NOTIFICATION, payload, service=note.service, decision_id=note.decision_id
        )
        event_id = getattr(record, "id", None)
        sent: list[str] = []
        failed: list[str] = []
        attempts = 0
        for url, target in zip(self.urls, self.targets, strict=True):
            ok, tries = self._send(url, note)
            attempts += tries
            (sent if ok else failed).append(target)
            if not ok:
                log.warning(
                    "notification for %s to %s failed after %d attempt(s); event %s keeps it",
                    note.service or "-",
                    target,
                    tries,
                    event_id,
                )
        return NotifyResult(event_id=event_id, sent=tuple(sent), failed=tuple(failed), attempts=attempts)

    def _send(self, url: str, note: Notification) -> tuple[bool, int]:
        plugin = apprise_target(url)
        if plugin is None:  # settings validate every URL; this is a URL handed in directly
            return False, 0
        delays = self.backoff.delays()
        for attempt in range(1, len(delays) + 2):
            try:
                with quiet_apprise():  # its messages can quote the URL's secrets: we log once, masked
                    ok = bool(
                        plugin.notify(
                            body=message_body(note),
                            title=note.title[:150],
                            notify_type=_STATUS_TYPE.get(note.status, "info"),
                        )
                    )
            except Exception:  # a plugin's bug must not fail the caller either
                log.debug("apprise plugin raised", exc_info=True)
                ok = False
            if ok:
                return True, attempt
            if attempt <= len(delays):
                self._sleep(delays[attempt - 1])
        return False, len(delays) + 1
