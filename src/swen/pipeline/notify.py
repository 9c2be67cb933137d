"""The notify stage: an event in the audit log, and a Slack-compatible JSON POST when configured.

The POST body is what Slack incoming webhooks (and Mattermost, Rocket.Chat, Teams' Slack-compatible
connectors) accept: ``{"text": <fallback>, "blocks": [...]}``. Network errors, 429 and 5xx answers are
transient and retried with backoff; other 4xx answers fail at once. The webhook URL carries a secret,
so it never appears in logs, events or error messages (only its host does).

A failed notification fails the notify stage but never undoes an apply: by then the infrastructure has
changed and the placement in the store says so.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx

from swen.domain.errors import PipelineError
from swen.domain.events import EventType
from swen.pipeline.lock import LockStore
from swen.pipeline.retry import DEFAULT_BACKOFF, Backoff, with_retry

log = logging.getLogger(__name__)

_MAX_TEXT = 2900  # Slack rejects section text over 3000 characters


@dataclass(frozen=True)
class Notification:
    """What happened, in words for people and in fields for machines."""

    title: str
    text: str
    status: str  # success | failed | awaiting_approval | rejected | rolled_back
    fields: dict[str, str] = field(default_factory=dict)
    service: str | None = None
    decision_id: str | None = None
    link: str | None = None


@dataclass(frozen=True)
class NotifyResult:
    event_id: int | None
    posted: bool
    webhook_host: str | None
    attempts: int
    http_status: int | None = None


_STATUS_EMOJI = {
    "success": ":white_check_mark:",
    "failed": ":x:",
    "awaiting_approval": ":hourglass_flowing_sand:",
    "rejected": ":no_entry:",
    "rolled_back": ":leftwards_arrow_with_hook:",
}


def slack_payload(note: Notification) -> dict[str, Any]:
    """The Slack-compatible body: a plain-text fallback and Block Kit blocks."""
    emoji = _STATUS_EMOJI.get(note.status, ":information_source:")
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": note.title[:150]}},
        {"type": "section", "text": {"type": "mrkdwn", "text": f"{emoji} {note.text}"[:_MAX_TEXT]}},
    ]
    if note.fields:
        blocks.append(
            {
                "type": "section",
                "fields": [
                    {"type": "mrkdwn", "text": f"*{key}*\n{value}"[:2000]}
                    for key, value in list(note.fields.items())[:10]
                ],
            }
        )
    if note.link:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": f"<{note.link}|details>"}]})
    return {"text": f"{note.title}: {note.text}"[:_MAX_TEXT], "blocks": blocks}


def webhook_host(url: str) -> str:
    parts = urlsplit(url)
    return parts.hostname or "?"


def _validate_webhook_url(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise PipelineError(
            "the Slack webhook URL is not an http(s) URL",
            hint="set SWEN_SLACK_WEBHOOK_URL to https://hooks.slack.com/services/... or unset it",
            stage="notify",
        )


class Notifier:
    """Records a NOTIFICATION event and POSTs to the webhook when one is configured."""

    def __init__(
        self,
        store: LockStore,
        webhook_url: str | None,
        *,
        timeout_s: float = 5.0,
        backoff: Backoff = DEFAULT_BACKOFF,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if webhook_url:
            _validate_webhook_url(webhook_url)
        self.store = store
        self.webhook_url = webhook_url or None
        self.timeout_s = timeout_s
        self.backoff = backoff
        self._transport = transport

    def notify(self, note: Notification) -> NotifyResult:
        """Record the event, then POST; raise PipelineError(stage='notify') when the POST fails."""
        host = webhook_host(self.webhook_url) if self.webhook_url else None
        payload: dict[str, Any] = {
            "title": note.title,
            "text": note.text,
            "status": note.status,
            "fields": dict(note.fields),
            "webhook": host,
        }
        record = self.store.append_event(
            EventType.NOTIFICATION, payload, service=note.service, decision_id=note.decision_id
        )
        event_id = getattr(record, "id", None)
        if self.webhook_url is None:
            return NotifyResult(event_id=event_id, posted=False, webhook_host=None, attempts=0)
        attempts: list[int] = []
        status = with_retry(
            lambda: self._post(slack_payload(note), attempts),
            what=f"notification to {host}",
            backoff=self.backoff,
        )
        return NotifyResult(
            event_id=event_id, posted=True, webhook_host=host, attempts=len(attempts), http_status=status
        )

    def _post(self, body: dict[str, Any], attempts: list[int]) -> int:
        assert self.webhook_url is not None
        attempts.append(1)
        host = webhook_host(self.webhook_url)
        try:
            with httpx.Client(timeout=self.timeout_s, transport=self._transport) as client:
                response = client.post(self.webhook_url, json=body)
        except httpx.HTTPError as exc:
            raise PipelineError(
                f"notification to {host} failed: {type(exc).__name__}",
                hint="check that the webhook host is reachable",
                stage="notify",
                transient=True,
            ) from None
        if response.status_code >= 400:
            transient = response.status_code == 429 or response.status_code >= 500
            raise PipelineError(
                f"notification to {host} was refused: HTTP {response.status_code} {response.text[:200]!r}",
                hint="check SWEN_SLACK_WEBHOOK_URL (a revoked webhook answers 403/404)",
                stage="notify",
                transient=transient,
            )
        return response.status_code
