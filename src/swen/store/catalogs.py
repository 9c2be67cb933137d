"""Price catalog versions: the packaged prices (version 1, recorded on first use) and every refresh.

Each version keeps the whole prices CSV that was in force (the shipped ``prices.csv`` format), its
source (the file name or URL given), the sha256 of the file as given, and when it was recorded, so the
prices a past decision was made with stay readable after later refreshes (SkyPilot #2780). The newest
version is the active one. Recording a version appends a ``catalog`` audit event in the same
transaction; ids are ``newest + 1`` inside the store's serialised write transaction, and a caller
that read another active version than the one it built on gets a ConflictError, having written
nothing (two refreshes at once: one wins, the other is told to retry).

Parsing and validating a catalog is not done here (``swen.telemetry.price_versions`` does it); this
module only stores and reads.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select

from swen.domain.clock import utcnow
from swen.domain.errors import ConflictError, NotFoundError
from swen.domain.events import EventType
from swen.store.tables import catalog_versions

if TYPE_CHECKING:
    from swen.store.repository import Store

PACKAGED = "packaged"
REFRESH = "refresh"
_SUMMARY = [c for c in catalog_versions.c if c.name != "prices"]


@dataclass(frozen=True)
class CatalogVersion:
    """One stored version (without its prices text; ``CatalogVersions.prices`` reads that)."""

    id: int
    created_at: datetime
    kind: str
    source: str
    sha256: str
    providers: tuple[str, ...]
    offers: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "created_at": self.created_at.isoformat(),
            "kind": self.kind,
            "source": self.source,
            "sha256": self.sha256,
            "providers": list(self.providers),
            "offers": self.offers,
        }


def _version(m: Any) -> CatalogVersion:
    return CatalogVersion(
        id=int(m["id"]),
        created_at=m["created_at"],
        kind=str(m["kind"]),
        source=str(m["source"]),
        sha256=str(m["sha256"]),
        providers=tuple(m["providers"] or ()),
        offers=int(m["offers"]),
    )


class CatalogVersions:
    """The ``catalog_versions`` table."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def active_id(self) -> int | None:
        """The active (newest) version's id, None before the first one is recorded (one cheap query:
        the engine and the simulator ask every cycle)."""
        with self.store.reading("reading the active catalog version") as conn:
            newest = conn.execute(select(func.max(catalog_versions.c.id))).scalar()
        return None if newest is None else int(newest)

    def active(self) -> CatalogVersion | None:
        newest = self.active_id()
        return None if newest is None else self.get(newest)

    def list(self) -> list[CatalogVersion]:
        """Every version, newest first."""
        with self.store.reading("listing catalog versions") as conn:
            rows = conn.execute(select(*_SUMMARY).order_by(catalog_versions.c.id.desc())).all()
        return [_version(r._mapping) for r in rows]

    def get(self, version_id: int) -> CatalogVersion:
        with self.store.reading("reading a catalog version") as conn:
            row = conn.execute(select(*_SUMMARY).where(catalog_versions.c.id == version_id)).first()
        if row is None:
            raise NotFoundError(
                f"unknown catalog version {version_id}", hint="list the versions with `swen catalog list`"
            )
        return _version(row._mapping)

    def prices(self, version_id: int) -> str:
        """The whole prices CSV of a version, as it was in force."""
        with self.store.reading("reading a catalog version's prices") as conn:
            text = conn.execute(
                select(catalog_versions.c.prices).where(catalog_versions.c.id == version_id)
            ).scalar()
        if text is None:
            raise NotFoundError(
                f"unknown catalog version {version_id}", hint="list the versions with `swen catalog list`"
            )
        return str(text)

    def record(
        self,
        *,
        kind: str,
        source: str,
        sha256: str,
        providers: Sequence[str],
        offers: int,
        prices: str,
        based_on: int | None,
    ) -> CatalogVersion:
        """Record the next version (active from now on) and its audit event, in one transaction.

        ``based_on`` is the active version the caller built ``prices`` from (None: there was none);
        when another version was recorded meanwhile, ConflictError and nothing is written.
        """
        now = utcnow()
        with self.store.transaction() as conn:
            newest = conn.execute(select(func.max(catalog_versions.c.id))).scalar()
            newest = None if newest is None else int(newest)
            if newest != based_on:
                raise ConflictError(
                    f"the active catalog version is now {newest}, not {based_on}: another refresh "
                    "was recorded meanwhile",
                    hint="run the refresh again (it builds on the new active version)",
                )
            version = CatalogVersion(
                id=(newest or 0) + 1,
                created_at=now,
                kind=kind,
                source=source,
                sha256=sha256,
                providers=tuple(providers),
                offers=offers,
            )
            conn.execute(
                catalog_versions.insert().values(
                    id=version.id,
                    created_at=now,
                    kind=kind,
                    source=source,
                    sha256=sha256,
                    providers=list(providers),
                    offers=offers,
                    prices=prices,
                )
            )
            self.store.append_event(
                EventType.CATALOG,
                {"version": version.id, **{k: v for k, v in version.as_dict().items() if k != "id"}},
                conn=conn,
            )
        return version
