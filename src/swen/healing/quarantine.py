"""Quarantine: (service or ``*``, placement) pairs the engine must not pick until a simulated time.

Like SkyPilot's failover, which blocks the region that was just preempted because failures recur
there, self-healing quarantines the (provider, region) an outage hit for every service (``*``) and,
for a latency or cost spike or a failed remediation target, for that service only. Entries live in
the store state ``QuarantineList`` (key ``healing.quarantine``) and expire at ``until`` (simulated
time, i.e. sample timestamps), so an accelerated clock ages them as fast as the telemetry.

A wildcard entry is never applied to a service that currently runs on the placement: quarantine
only keeps services from moving *into* it. Whether a service already there must leave is decided by
its own incident (its own telemetry), not by its neighbour's outage.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from swen.domain.errors import StateError
from swen.domain.models import Placement
from swen.engine.constraints import WILDCARD
from swen.store.repository import Store
from swen.store.state import QuarantinedPlacement, QuarantineList

_log = logging.getLogger(__name__)

QUARANTINE_FLAG = QuarantineList.key


@dataclass(frozen=True)
class QuarantineEntry:
    service: str
    """A service name, or ``*`` for every service."""
    placement: str
    """Placement key ``provider/region``."""
    until: datetime
    reason: str = ""
    incident_id: int | None = None

    def active(self, now: datetime) -> bool:
        return now < self.until

    def to_record(self) -> QuarantinedPlacement:
        return QuarantinedPlacement(**asdict(self))

    def to_dict(self) -> dict[str, Any]:
        return self.to_record().model_dump(mode="json")

    @classmethod
    def from_record(cls, record: QuarantinedPlacement) -> QuarantineEntry:
        return cls(**record.model_dump())


class Quarantine:
    """Quarantine list kept in the store (``QuarantineList``; expired entries are dropped on every write)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def entries(self, now: datetime | None = None) -> list[QuarantineEntry]:
        """Stored entries (only the active ones at ``now`` when given); a damaged list blocks nothing."""
        try:
            stored = self.store.load_state(QuarantineList) or QuarantineList()
        except StateError as exc:
            _log.warning("ignoring the stored quarantine list: %s", exc)
            stored = QuarantineList()
        entries = [QuarantineEntry.from_record(record) for record in stored.entries]
        return [e for e in entries if now is None or e.active(now)]

    def add(
        self,
        service: str,
        placement: Placement | str,
        *,
        now: datetime,
        duration_s: float,
        reason: str,
        incident_id: int | None = None,
    ) -> QuarantineEntry:
        """Quarantine until ``now + duration_s`` (extends an existing entry for the same pair)."""
        key = placement.key if isinstance(placement, Placement) else placement
        entry = QuarantineEntry(
            service=service,
            placement=key,
            until=now + timedelta(seconds=duration_s),
            reason=reason,
            incident_id=incident_id,
        )
        kept = [e for e in self.entries(now) if (e.service, e.placement) != (service, key)]
        old = [e for e in self.entries(now) if (e.service, e.placement) == (service, key)]
        if old and old[0].until > entry.until:
            entry = old[0]
        self.store.save_state(QuarantineList(entries=[e.to_record() for e in [*kept, entry]]))
        return entry

    def engine_pairs(
        self, now: datetime, current: Mapping[str, Placement], services: Sequence[str]
    ) -> list[tuple[str, str]]:
        """``EngineInputs.quarantined`` for ``services`` at ``now`` (wildcards expanded, see above)."""
        return engine_pairs(self.entries(now), current, services)


def engine_pairs(
    entries: Iterable[QuarantineEntry], current: Mapping[str, Placement], services: Sequence[str]
) -> list[tuple[str, str]]:
    """Expand active entries into (service, placement key) pairs.

    A wildcard applies to every service except those currently running on the placement.
    """
    pairs: set[tuple[str, str]] = set()
    for entry in entries:
        if entry.service == WILDCARD:
            for name in services:
                where = current.get(name)
                if where is None or where.key != entry.placement:
                    pairs.add((name, entry.placement))
        else:
            pairs.add((entry.service, entry.placement))
    return sorted(pairs)
