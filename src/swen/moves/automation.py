"""The global automation switch: while paused nothing is merged or applied automatically.

The state is the store state ``AutomationSwitch`` (key ``automation_paused``: ``{"paused": bool,
"by": str, "at": ISO, "reason": str}``); every change appends an ``automation`` event. While paused the
engine loop still scores, records decisions and opens incidents, but opens no merge request, and the
pipeline turns an ``auto_approve`` into a wait for a person (``swen mr approve``).
"""

from __future__ import annotations

import logging
from datetime import datetime

from swen.domain.clock import aware_utc, utcnow
from swen.domain.errors import InvalidInputError, StateError
from swen.domain.events import EventType
from swen.store.repository import Store
from swen.store.state import AutomationSwitch

_log = logging.getLogger(__name__)

PAUSED_FLAG = AutomationSwitch.key
MAX_REASON = 500
MAX_ACTOR = 120

AutomationState = AutomationSwitch
"""The switch as callers see it (the stored model itself)."""


def state(store: Store) -> AutomationState:
    """The switch as stored (a bare ``true`` from older versions counts as paused; none: running)."""
    return store.load_state(AutomationSwitch) or AutomationSwitch()


def is_paused(store: Store) -> bool:
    """Whether automation is paused; an unreadable switch counts as paused (automation stops)."""
    try:
        return state(store).paused
    except StateError as exc:
        _log.error("automation treated as paused: %s", exc)
        return True


def _clean(text: str, limit: int, what: str) -> str:
    text = "".join(ch for ch in text if ch.isprintable()).strip()
    if len(text) > limit:
        raise InvalidInputError(f"{what} is longer than {limit} characters", hint=f"shorten the {what}")
    return text


def set_paused(
    store: Store, paused: bool, *, by: str, reason: str = "", at: datetime | None = None
) -> AutomationState:
    """Pause or resume; records who, when and why, and appends an ``automation`` event."""
    new = AutomationSwitch(
        paused=paused,
        by=_clean(by, MAX_ACTOR, "name") or "unknown",
        at=utcnow() if at is None else aware_utc(at),
        reason=_clean(reason, MAX_REASON, "reason"),
    )
    try:
        was_paused: bool | None = state(store).paused
    except StateError:
        was_paused = None  # unreadable: this write replaces it
    store.save_state(new)
    store.append_event(
        EventType.AUTOMATION,
        {
            "action": "paused" if paused else "resumed",
            "was_paused": was_paused,
            **new.model_dump(mode="json"),
        },
    )
    return new
