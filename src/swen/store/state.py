"""Typed named state, kept in the ``flags`` table: one pydantic model per key.

Each model declares its ``key`` and whether it is ``per_decision`` (then its row is
``"<key>:<decision id>"``). ``Store.load_state(Model)`` validates what is stored (a bad value is a
``StateError`` naming the key); ``Store.save_state(value)`` checks that what it writes reads back.
The JSON stored is exactly what the hand-written flags held before (times as ISO 8601, the cursor
a bare number, the quarantine a bare list), so existing databases need no migration and code that
still reads a key with ``Store.get_flag`` sees the same value.

Per-decision state is dropped when its decision reaches a terminal status (``Store.transition``),
except where a model says it is still read after that status (``kept_after``).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar, Self, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    ValidationError,
    model_validator,
)
from sqlalchemy import Connection, delete, select

from swen.domain.decision import DecisionStatus
from swen.domain.errors import InvalidInputError, StateError
from swen.store.db import upsert
from swen.store.tables import flags


def _as_utc(value: datetime) -> datetime:
    """Naive times count as UTC (older heartbeats were written without a zone)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _iso(value: datetime) -> str:
    return value.isoformat()


UtcTime = Annotated[
    datetime, AfterValidator(_as_utc), PlainSerializer(_iso, return_type=str, when_used="json")
]
"""A time in UTC, stored as ``datetime.isoformat()`` (a naive stored time is read as UTC)."""


class StateModel(BaseModel):
    """One named piece of state. Subclasses set ``key`` (and ``per_decision``, ``kept_after``)."""

    model_config = ConfigDict(frozen=True, allow_inf_nan=False, extra="ignore")

    key: ClassVar[str]
    per_decision: ClassVar[bool] = False
    kept_after: ClassVar[frozenset[DecisionStatus]] = frozenset()
    """Terminal statuses after which per-decision state is still read (and so not dropped)."""
    reserved: ClassVar[bool] = False
    """Written only inside the store (``Store.save_state`` refuses it)."""

    @classmethod
    def from_stored(cls, raw: Any) -> Self:
        return cls.model_validate(raw)

    def to_stored(self) -> Any:
        return self.model_dump(mode="json")


class BareStateModel(StateModel):
    """State stored as the bare value of its only field (a number, a list, a mapping)."""

    @classmethod
    def _field(cls) -> str:
        (name,) = cls.model_fields
        return name

    @classmethod
    def from_stored(cls, raw: Any) -> Self:
        return cls.model_validate({cls._field(): raw})

    def to_stored(self) -> Any:
        return self.model_dump(mode="json")[self._field()]


# --- the keys ----------------------------------------------------------------------------------------


class AutomationSwitch(StateModel):
    """The global automation switch: while paused nothing is merged or applied automatically."""

    key: ClassVar[str] = "automation_paused"

    paused: bool = False
    by: str | None = None
    at: UtcTime | None = None
    reason: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _bare_bool(cls, data: Any) -> Any:
        """Older versions stored a bare ``true``/``false``."""
        return {"paused": data} if isinstance(data, bool) else data


class EngineHeartbeat(StateModel):
    """When the engine loop last finished a cycle (wall time) and the simulated time it had reached."""

    key: ClassVar[str] = "engine_heartbeat"

    ts: UtcTime
    sim_time: UtcTime | None = None

    @model_validator(mode="before")
    @classmethod
    def _older_forms(cls, data: Any) -> Any:
        """Also read a bare epoch number or ISO string, and ``at`` for ``ts``."""
        if isinstance(data, bool):
            return data  # not a time: fails validation
        if isinstance(data, int | float | str):
            return {"ts": data}
        if isinstance(data, dict) and "ts" not in data and "at" in data:
            return {**data, "ts": data["at"]}
        return data


class AnomalyDetectorSnapshot(StateModel):
    """The anomaly detector's statistics (``AnomalyDetector.to_dict``), so a restart needs no warm-up."""

    key: ClassVar[str] = "healing.detector"

    version: int
    config: dict[str, Any]
    keys: list[tuple[str, str, str]]
    arrays: dict[str, list[list[bool | int | float | None]]]


class QuarantinedPlacement(BaseModel):
    """One quarantine entry: ``service`` (or ``*``) must not move to ``placement`` before ``until``."""

    model_config = ConfigDict(frozen=True)

    service: str
    placement: str
    until: UtcTime
    reason: str = ""
    incident_id: int | None = None


class QuarantineList(BareStateModel):
    """Placements self-healing quarantined (stored as a bare list, expired entries included)."""

    key: ClassVar[str] = "healing.quarantine"

    entries: list[QuarantinedPlacement] = Field(default_factory=list)


class ScenarioCursor(BareStateModel):
    """The id of the last SCENARIO event the simulators have read (stored as a bare number)."""

    key: ClassVar[str] = "telemetry.scenario_cursor"

    event_id: int = Field(default=0, ge=0)


class StoredVerification(StateModel):
    """How far the loop got verifying an applied decision (``swen.engine.verification``)."""

    key: ClassVar[str] = "verify"
    per_decision: ClassVar[bool] = True
    kept_after: ClassVar[frozenset[DecisionStatus]] = frozenset({DecisionStatus.VERIFIED})
    """The healer reads ``last_ts`` after the VERIFIED transition (an incident's time to recovery)."""

    healthy_streak: int = Field(default=0, ge=0)
    unhealthy_streak: int = Field(default=0, ge=0)
    last_ts: UtcTime | None = None
    last_problem: str | None = None


class AuditHead(StateModel):
    """The newest event of the audit log, written with every append (see ``swen.store.audit``)."""

    key: ClassVar[str] = "audit.head"
    reserved: ClassVar[bool] = True

    id: int = Field(ge=1)
    hash: str = Field(min_length=64, max_length=64)


S = TypeVar("S", bound=StateModel)

STATE_MODELS: tuple[type[StateModel], ...] = (
    AutomationSwitch,
    EngineHeartbeat,
    AnomalyDetectorSnapshot,
    QuarantineList,
    ScenarioCursor,
    StoredVerification,
    AuditHead,
)
"""Every model, one per key."""


# --- reading and writing -----------------------------------------------------------------------------


def state_key(model: type[StateModel], decision_id: str | None = None) -> str:
    """The flags row of ``model`` (``"<key>:<decision id>"`` for per-decision state)."""
    if model.per_decision and not decision_id:
        raise InvalidInputError(f"{model.__name__} is kept per decision", hint="pass decision_id=")
    if not model.per_decision and decision_id is not None:
        raise InvalidInputError(f"{model.__name__} is not kept per decision", hint="drop decision_id=")
    return f"{model.key}:{decision_id}" if model.per_decision else model.key


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"])
    return f"{where}: {err['msg']}" if where else str(err["msg"])


def _invalid(key: str, model: type[StateModel], exc: ValidationError) -> StateError:
    return StateError(
        f"the state {key!r} is not a valid {model.__name__} ({_first_error(exc)})",
        hint="it was written by another SWEN version or edited by hand; saving a new value replaces it",
    )


def parse_state(model: type[S], raw: Any, *, key: str | None = None) -> S:
    """``raw`` (stored JSON, or e.g. ``to_dict()`` output) as ``model``; StateError when it is invalid."""
    try:
        return model.from_stored(raw)
    except ValidationError as exc:
        raise _invalid(key or model.key, model, exc) from None


def read_state(conn: Connection, model: type[S], decision_id: str | None = None) -> S | None:
    """The stored value of ``model`` (None when nothing is stored); StateError when it does not validate."""
    key = state_key(model, decision_id)
    row = conn.execute(select(flags.c.value).where(flags.c.key == key)).first()
    return None if row is None else parse_state(model, row.value, key=key)


def write_state(conn: Connection, value: StateModel, *, at: datetime, decision_id: str | None = None) -> None:
    """Store ``value`` under its key (replacing what was there), after checking that it reads back."""
    model = type(value)
    key = state_key(model, decision_id)
    stored = value.to_stored()
    parse_state(model, stored, key=key)
    try:
        json.dumps(stored, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise StateError(
            f"the state {key!r} cannot be stored as JSON: {exc}", hint="use finite numbers"
        ) from None
    upsert(conn, flags, {"key": key, "value": stored, "updated_at": at}, ["key"])


def drop_decision_state(conn: Connection, decision_id: str, *, reached: DecisionStatus | None = None) -> None:
    """Delete the per-decision state of ``decision_id`` (only what is not ``kept_after`` ``reached``)."""
    keys = [
        state_key(model, decision_id)
        for model in STATE_MODELS
        if model.per_decision and (reached is None or reached not in model.kept_after)
    ]
    if keys:
        conn.execute(delete(flags).where(flags.c.key.in_(keys)))
