"""The credit ledger's burn intervals (``credit_burns``): recorded once each, read back in order.

``CreditBurnRepository.record(rows)`` writes consecutive intervals in one serialised (and, for a
fenced leader, fenced) transaction, after checking that none of them is recorded yet: a burn is
recorded once per interval, never twice, whatever crashes or a second writer do (the primary key on
the interval's start is the last line of defence). ``rows()`` returns every interval oldest first;
the live ledger (``telemetry/ledger.py``) replays them with the ledger file to get the balances.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, insert, select

from swen.domain.clock import utcnow
from swen.store.repository import Store
from swen.store.tables import credit_burns

ORIGIN_FLAG = "credit_ledger_origin"
"""The ledger's start (ISO time), kept from the first call on, before the first interval is recorded."""
EXPIRIES_FLAG = "credit_ledger_expiries"
"""The ``credit_expiry`` scenarios that fired: [{provider, at}], oldest first."""


@dataclass(frozen=True)
class BurnRow:
    """One burn interval ``[interval_start, interval_start + interval_s)`` of the platform clock."""

    interval_start: datetime
    interval_s: float
    burn: Mapping[str, float]
    """What the services placed on each provider cost in the interval (USD)."""
    applied: Mapping[str, float]
    """Credit applied per provider: ``min(balance, burn)``."""
    balance: Mapping[str, float]
    """Balance per provider after the interval."""
    recorded_at: datetime = field(default_factory=utcnow)


class CreditBurnRepository:
    def __init__(self, store: Store) -> None:
        self._store = store

    def record(self, rows: Sequence[BurnRow]) -> bool:
        """Record ``rows`` (oldest first) unless the first is already recorded; False when it was
        (another process got there first: nothing is written)."""
        if not rows:
            return True
        with self._store.transaction() as conn:
            newest = conn.execute(select(func.max(credit_burns.c.interval_start))).scalar()
            if newest is not None and newest >= rows[0].interval_start:
                return False
            conn.execute(
                insert(credit_burns),
                [
                    {
                        "interval_start": r.interval_start,
                        "interval_s": r.interval_s,
                        "burn": _floats(r.burn),
                        "applied": _floats(r.applied),
                        "balance": _floats(r.balance),
                        "recorded_at": r.recorded_at,
                    }
                    for r in rows
                ],
            )
        return True

    def origin(self) -> datetime | None:
        """When the ledger started (its first interval's start), once a ledger has started."""
        value = self._store.get_flag(ORIGIN_FLAG)
        return None if value is None else datetime.fromisoformat(value)

    def start(self, origin: datetime) -> datetime:
        """Start the ledger at ``origin`` unless it has started; returns the ledger's origin."""
        current = self.origin()
        if current is not None:
            return current
        self._store.set_flag(ORIGIN_FLAG, origin.isoformat())
        return origin

    def expiries(self) -> list[tuple[str, datetime]]:
        """(provider, time) of the ``credit_expiry`` scenarios that fired on the live platform."""
        raw = self._store.get_flag(EXPIRIES_FLAG) or []
        return [(str(e["provider"]), datetime.fromisoformat(e["at"])) for e in raw]

    def record_expiry(self, provider: str, at: datetime) -> None:
        """A ``credit_expiry`` scenario fired (written by the simulator, the only writer)."""
        known = self._store.get_flag(EXPIRIES_FLAG) or []
        self._store.set_flag(EXPIRIES_FLAG, [*known, {"provider": provider, "at": at.isoformat()}])

    def rows(self, *, since: datetime | None = None) -> list[BurnRow]:
        """Every recorded interval (starting at or after ``since``), oldest first."""
        query = select(credit_burns).order_by(credit_burns.c.interval_start)
        if since is not None:
            query = query.where(credit_burns.c.interval_start >= since)
        with self._store.reading("reading the credit ledger") as conn:
            found = conn.execute(query).all()
        return [
            BurnRow(
                interval_start=row.interval_start,
                interval_s=float(row.interval_s),
                burn=dict(row.burn),
                applied=dict(row.applied),
                balance=dict(row.balance),
                recorded_at=row.recorded_at,
            )
            for row in found
        ]

    def latest(self) -> BurnRow | None:
        """The newest recorded interval."""
        query = select(credit_burns).order_by(credit_burns.c.interval_start.desc()).limit(1)
        with self._store.reading("reading the credit ledger") as conn:
            row = conn.execute(query).first()
        if row is None:
            return None
        return BurnRow(
            row.interval_start,
            float(row.interval_s),
            dict(row.burn),
            dict(row.applied),
            dict(row.balance),
            row.recorded_at,
        )


def _floats(values: Mapping[str, float]) -> dict[str, float]:
    """Plain floats for the JSON columns (exact values: the replay reproduces the balances)."""
    return {str(k): float(v) for k, v in values.items()}
