"""The global automation switch: while paused nothing is merged or applied automatically.

The state lives in the store flag ``automation_paused`` as ``{"paused": bool, "by": str, "at": ISO,
"reason": str}``; every change appends an ``automation`` event. While paused the engine loop still
scores, records decisions and opens incidents, but opens no merge request, and the pipeline turns an
``auto_approve`` into a wait for a person (``swen mr approve``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from swen.domain.clock import utcnow
from swen.domain.errors import InvalidInputError
from swen.domain.events import EventType
from swen.store.repository import Store

PAUSED_FLAG = "automation_paused"
MAX_REASON = 500
MAX_ACTOR = 120


@dataclass(frozen=True)
class AutomationState:
    paused: bool
    by: str | None = None
    at: datetime | None = None
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "paused": self.paused,
            "by": self.by,
            "at": self.at.isoformat() if self.at else None,
            "reason": self.reason,
        }


def state(store: Store) -> AutomationState:
    """The switch as stored (a bare ``true`` from older versions counts as paused)."""
    value = store.get_flag(PAUSED_FLAG, False)
    if isinstance(value, dict):
        at = value.get("at")
        return AutomationState(
            paused=bool(value.get("paused", False)),
            by=value.get("by"),
            at=datetime.fromisoformat(at) if isinstance(at, str) else None,
            reason=value.get("reason"),
        )
    return AutomationState(paused=bool(value))


def is_paused(store: Store) -> bool:
    return state(store).paused


def _clean(text: str, limit: int, what: str) -> str:
    text = "".join(ch for ch in text if ch.isprintable()).strip()
    if len(text) > limit:
        raise InvalidInputError(f"{what} is longer than {limit} characters", hint=f"shorten the {what}")
    return text


def set_paused(
    store: Store, paused: bool, *, by: str, reason: str = "", at: datetime | None = None
) -> AutomationState:
    """Pause or resume; records who, when and why, and appends an ``automation`` event."""
    new = AutomationState(
        paused=paused,
        by=_clean(by, MAX_ACTOR, "name") or "unknown",
        at=at or utcnow(),
        reason=_clean(reason, MAX_REASON, "reason"),
    )
    previous = state(store)
    store.set_flag(PAUSED_FLAG, new.to_dict())
    store.append_event(
        EventType.AUTOMATION,
        {"action": "paused" if paused else "resumed", "was_paused": previous.paused, **new.to_dict()},
    )
    return new
