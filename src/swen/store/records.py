"""What the store hands back: a decision with its lifecycle status, an audit event, an audit report."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import Row, RowMapping

from swen.domain.decision import Decision, DecisionStatus
from swen.domain.models import HOURS_PER_MONTH, Placement

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

R = TypeVar("R", bound="DataclassInstance")


def from_row(cls: type[R], row: Row[Any] | RowMapping, **converted: Any) -> R:
    """A ``cls`` record whose every field is the row's column of the same name, except those in
    ``converted`` (values the caller made from the row: an enum, parsed JSON, a copy)."""
    columns = row._mapping if isinstance(row, Row) else row
    read = {f.name: columns[f.name] for f in fields(cls) if f.name not in converted}
    return cls(**read, **converted)


@dataclass(frozen=True, slots=True)
class StoredDecision:
    """A decision as stored: the engine's frozen verdict plus where it is in its lifecycle."""

    decision: Decision
    status: DecisionStatus
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class EventRecord:
    """One row of the append-only, hash-chained audit log."""

    id: int
    ts: datetime
    type: str
    service: str | None
    decision_id: str | None
    payload: dict[str, Any] = field(default_factory=dict)
    hash: str = ""


@dataclass(frozen=True, slots=True)
class AuditReport:
    """Result of walking the hash chain. ``first_bad_id`` is the first row that does not check out."""

    ok: bool
    checked: int
    first_bad_id: int | None = None
    problem: str | None = None


@dataclass(frozen=True, slots=True)
class LatestPrice:
    """What the newest sample at one place says about running there: its time and one instance's
    price (the columns of ``telemetry_latest`` a cost needs, not the whole sample)."""

    service: str
    provider: str
    region: str
    ts: datetime
    instance_type: str
    hourly_cost_usd: float
    simulated_price: bool

    @property
    def instance_monthly_cost_usd(self) -> float:
        """One instance's monthly cost (hourly x 730), as ``TelemetrySample.instance_monthly_cost_usd``."""
        return self.hourly_cost_usd * HOURS_PER_MONTH


@dataclass(frozen=True, slots=True)
class PlacementRecord:
    """Where a service runs, which decision put it there (None: initial placement) and since when."""

    placement: Placement
    decision_id: str | None
    applied_at: datetime


@dataclass(frozen=True, slots=True)
class PlacementWrite:
    """A placement to record: ``service`` runs at ``placement`` since ``at`` (simulated time where the
    platform runs on a simulated clock), put there by ``decision_id`` (None: initial or synced)."""

    service: str
    placement: Placement
    decision_id: str | None
    at: datetime
