"""Event types of the append-only audit log (also the live feed)."""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Protocol


class EventType(StrEnum):
    TELEMETRY_CYCLE = "telemetry_cycle"
    ENGINE_CYCLE = "engine_cycle"
    DECISION = "decision"
    DECISION_STATUS = "decision_status"
    MR = "mr"
    PIPELINE = "pipeline"
    PLACEMENT = "placement"
    SCENARIO = "scenario"
    ALERT = "alert"
    INCIDENT = "incident"
    AUTOMATION = "automation"
    API_KEY = "api_key"
    NOTIFICATION = "notification"
    LOCK = "lock"
    LEADERSHIP = "leadership"
    CATALOG = "catalog"


class EventSink(Protocol):
    """Where an event can be appended (``swen.store.repository.Store`` is one)."""

    def append_event(
        self,
        type: EventType,
        payload: dict[str, Any],
        *,
        service: str | None = None,
        decision_id: str | None = None,
    ) -> Any: ...
