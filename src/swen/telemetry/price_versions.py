"""Price catalog versions: which prices are in force, and refreshing them from a catalog file.

* ``active_catalog(store)``: the active version and its :class:`~swen.telemetry.catalog.Catalog`. The
  packaged ``prices.csv`` is version 1, recorded on first use; a newer packaged file (an upgrade of
  SWEN) becomes the next version while the active one is packaged (a refreshed catalog is never
  replaced behind the operator's back).
* ``refresh(store, data, source)``: what ``swen catalog refresh --from FILE`` runs (the API only reads
  versions). The file is a price catalog in the shipped format (SkyPilot catalog rows aggregated per region:
  ``provider,region,instance_type,vcpus,memory_gib,gpu_name,gpu_count,price_hour_usd,
  spot_price_hour_usd,source``; extra columns are ignored). It replaces the prices of the providers
  it names; the other providers' prices carry over from the active version. Everything is validated
  before anything is written (an error names the file, the line and the column); the new version is
  then recorded in one transaction with its audit event.
* ``CatalogFollower``: what the engine loop and the simulator hold: the catalog of the active
  version, reloaded when a refresh made another version active.

Only AWS and GCP prices can be refreshed: the Alibaba offers are synthetic
(``alibaba_simulated.csv``, derived from AWS prices, SOURCES.md) and stay packaged, as do the
latency and egress tables.
"""

from __future__ import annotations

import csv
import hashlib
import io
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import TYPE_CHECKING

from swen.domain.errors import ConflictError, InvalidInputError, TelemetryError
from swen.domain.models import Placement, Service
from swen.store.catalogs import PACKAGED, REFRESH, CatalogVersion, CatalogVersions
from swen.telemetry.catalog import DATA_FILES, PRICE_COLUMNS, Catalog, load_catalog

if TYPE_CHECKING:
    from swen.store.repository import Store

_log = logging.getLogger(__name__)
PACKAGED_SOURCE = "swen/data/prices.csv (packaged)"
MAX_SOURCE_LENGTH = 1024
MAX_FILE_BYTES = 64 * 1024 * 1024
_PriceKey = tuple[str, str, str, str, str]
"""(provider, region, instance_type, gpu_name, gpu_count) of one prices row."""


def _packaged(name: str) -> str:
    return resources.files("swen").joinpath("data", name).read_text(encoding="utf-8")


def packaged_prices() -> str:
    return _packaged("prices.csv")


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def build_catalog(prices: str, label: str = "prices.csv") -> Catalog:
    """A catalog with these AWS/GCP prices and the packaged synthetic Alibaba offers and network data."""
    others = [_packaged(name) for name in DATA_FILES[1:]]
    return Catalog.from_texts(prices, *others, prices_label=label)


@lru_cache(maxsize=4)
def _stored_catalog(prices: str) -> Catalog:
    """Catalogs are immutable: processes share one per prices text (the packaged one with load_catalog)."""
    return load_catalog() if prices == packaged_prices() else build_catalog(prices)


# --- the active version --------------------------------------------------------------------------
def ensure_recorded(store: Store) -> CatalogVersion:
    """The active version, recording the packaged prices first when none is recorded (version 1) or
    when the active version is an older packaged file."""
    versions = CatalogVersions(store)
    active = versions.active()
    text = packaged_prices()
    digest = sha256_hex(text.encode("utf-8"))
    if active is not None and (active.kind != PACKAGED or active.sha256 == digest):
        return active
    try:
        return versions.record(
            kind=PACKAGED,
            source=PACKAGED_SOURCE,
            sha256=digest,
            providers=sorted(_providers(text)),
            offers=_count_rows(text),
            prices=text,
            based_on=None if active is None else active.id,
        )
    except ConflictError:  # another process recorded it (or a refresh) meanwhile: use theirs
        newest = versions.active()
        assert newest is not None
        return newest


def catalog_of(store: Store, version_id: int) -> Catalog:
    """The catalog of a stored version (its prices as they were in force)."""
    return _stored_catalog(CatalogVersions(store).prices(version_id))


@dataclass(frozen=True)
class ActiveCatalog:
    version: CatalogVersion
    catalog: Catalog


def peek_catalog(store: Store) -> Catalog:
    """The catalog ``ensure_recorded`` would make active, without writing anything (to validate input
    files before a process records its first use)."""
    active = CatalogVersions(store).active()
    digest = sha256_hex(packaged_prices().encode("utf-8"))
    if active is None or (active.kind == PACKAGED and active.sha256 != digest):
        return load_catalog()
    return catalog_of(store, active.id)


def active_catalog(store: Store) -> ActiveCatalog:
    version = ensure_recorded(store)
    return ActiveCatalog(version, catalog_of(store, version.id))


class CatalogFollower:
    """The active version's catalog, reloaded when another version becomes active (``poll``)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        active = active_catalog(store)
        self.version, self.catalog = active.version, active.catalog

    @property
    def version_id(self) -> int:
        return self.version.id

    def poll(self) -> Catalog | None:
        """The new catalog when another version became active since the last look, else None."""
        newest = CatalogVersions(self.store).active_id()
        if newest is None or newest == self.version.id:
            return None
        try:
            catalog = catalog_of(self.store, newest)
        except TelemetryError as exc:  # refresh validated it; a stored version no longer loading is a bug
            _log.error(
                "catalog version %s does not load, keeping version %s: %s", newest, self.version.id, exc
            )
            return None
        self.version, self.catalog = CatalogVersions(self.store).get(newest), catalog
        _log.info("prices: catalog version %s is now in force (%s)", newest, self.version.source)
        return catalog


# --- refresh -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PriceChanges:
    """How a version's prices differ from the one it replaced (rows keyed by provider, region,
    instance type and GPU)."""

    changed: int
    added: int
    removed: int
    examples: tuple[str, ...]
    """A few changed prices, e.g. ``aws/us-west-2 c5.2xlarge 0.34 -> 0.2``."""

    def describe(self) -> str:
        text = f"{self.changed} price(s) changed, {self.added} row(s) added, {self.removed} removed"
        return text + (f" (e.g. {'; '.join(self.examples)})" if self.examples else "")


@dataclass(frozen=True)
class RefreshResult:
    version: CatalogVersion
    previous: CatalogVersion
    changes: PriceChanges
    unchanged: bool = False
    """The file's prices equal the active version's: nothing was recorded."""


def refresh(
    store: Store,
    data: bytes,
    source: str,
    *,
    label: str | None = None,
    services: Sequence[Service] | None = None,
) -> RefreshResult:
    """Validate ``data`` (a prices file) and record it as the next, active version.

    ``source`` is recorded (the file name or URL given); ``label`` names the file in errors (default:
    ``source``). ``services`` (default: the store's) must each still have an offer where they run.
    Raises InvalidInputError (nothing written) on a bad file, ConflictError when another refresh was
    recorded meanwhile.
    """
    source = _checked_source(source)
    label = label or source
    text = _decoded(data, label)
    _validated(text, label)  # the file alone first: errors carry the file's own line numbers
    new_rows, providers = _rows_and_providers(text, label)
    previous = ensure_recorded(store)
    old_text = CatalogVersions(store).prices(previous.id)
    merged = _merged(old_text, new_rows, providers)
    catalog = _validated(merged, label)
    _check_services(catalog, store, services, label)
    old, new = _keyed(_dict_rows(old_text)), _keyed(_dict_rows(merged))
    if _row_set(old_text) == _row_set(merged):
        return RefreshResult(previous, previous, _changes(old, new), unchanged=True)
    version = CatalogVersions(store).record(
        kind=REFRESH,
        source=source,
        sha256=sha256_hex(data),
        providers=sorted(providers),
        offers=_count_rows(merged),
        prices=merged,
        based_on=previous.id,
    )
    return RefreshResult(version, previous, _changes(old, new))


def _validated(text: str, label: str) -> Catalog:
    try:
        return build_catalog(text, label)
    except (TelemetryError, csv.Error) as exc:
        message = exc.message if isinstance(exc, TelemetryError) else f"{label}: not CSV: {exc}"
        hint = exc.hint if isinstance(exc, TelemetryError) else None
        raise InvalidInputError(
            message,
            hint=hint or f"the first line must be the header {','.join(PRICE_COLUMNS)}",
        ) from None


def _checked_source(source: str) -> str:
    cleaned = source.strip()
    if not cleaned or len(cleaned) > MAX_SOURCE_LENGTH or not cleaned.isprintable():
        raise InvalidInputError(
            f"invalid catalog source {source[:80]!r}",
            hint="give the file name or URL the prices came from "
            f"(1-{MAX_SOURCE_LENGTH} printable characters)",
        )
    return cleaned


def _decoded(data: bytes, label: str) -> str:
    if len(data) > MAX_FILE_BYTES:
        raise InvalidInputError(
            f"{label}: {len(data)} bytes is more than a price catalog ({MAX_FILE_BYTES} bytes at most)",
            hint="give one provider's aggregated prices file (the shipped prices.csv format)",
        )
    try:
        return data.decode("utf-8-sig").replace("\r\n", "\n")
    except UnicodeDecodeError as exc:
        raise InvalidInputError(
            f"{label}: byte {exc.start} is not UTF-8", hint="save the catalog as UTF-8 CSV"
        ) from None


def _rows_and_providers(text: str, label: str) -> tuple[list[dict[str, str]], set[str]]:
    rows = _dict_rows(text)
    if not rows:
        raise InvalidInputError(
            f"{label}: no price rows after the header",
            hint="give at least one row per instance type and region",
        )
    return rows, {row["provider"].strip() for row in rows}


def _merged(old_text: str, new_rows: Iterable[Mapping[str, str]], providers: set[str]) -> str:
    """The active version's rows of the providers the file does not name, then the file's rows."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(PRICE_COLUMNS), lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    for row in _dict_rows(old_text):
        if row["provider"] not in providers:
            writer.writerow(row)
    for new in new_rows:
        writer.writerow(new)
    return out.getvalue()


def _dict_rows(text: str) -> list[dict[str, str]]:
    return [{c: row.get(c) or "" for c in PRICE_COLUMNS} for row in csv.DictReader(io.StringIO(text))]


def _row_set(text: str) -> list[tuple[str, ...]]:
    return sorted(tuple(row[c] for c in PRICE_COLUMNS) for row in _dict_rows(text))


def _providers(text: str) -> set[str]:
    return {row["provider"] for row in _dict_rows(text)}


def _count_rows(text: str) -> int:
    return len(_dict_rows(text))


def _keyed(rows: Iterable[Mapping[str, str]]) -> dict[_PriceKey, str]:
    return {
        (r["provider"], r["region"], r["instance_type"], r["gpu_name"], r["gpu_count"]): r["price_hour_usd"]
        for r in rows
    }


def _changes(old: Mapping[_PriceKey, str], new: Mapping[_PriceKey, str]) -> PriceChanges:
    changed = sorted(k for k in old.keys() & new.keys() if float(old[k]) != float(new[k]))
    examples = tuple(f"{k[0]}/{k[1]} {k[2] or f'{k[4]}x {k[3]}'} {old[k]} -> {new[k]}" for k in changed[:3])
    return PriceChanges(len(changed), len(new.keys() - old.keys()), len(old.keys() - new.keys()), examples)


def _check_services(catalog: Catalog, store: Store, services: Sequence[Service] | None, label: str) -> None:
    """Every service must still have an offer where it runs (the fleet file's and the applied
    placement): the simulator could not price it otherwise."""
    services = list(store.list_services() if services is None else services)
    applied = store.get_placements()
    missing = []
    for service in services:
        for placement in {service.fleet_placement, applied.get(service.name, service.fleet_placement)}:
            if not _priced(catalog, service, placement):
                missing.append(f"{service.name} on {placement}")
    if missing:
        raise InvalidInputError(
            f"{label}: no offer left for {', '.join(missing[:5])}"
            + (f" and {len(missing) - 5} more" if len(missing) > 5 else ""),
            hint="a refresh must keep a price for every instance where a service runs; add those rows",
        )


def _priced(catalog: Catalog, service: Service, placement: Placement) -> bool:
    return catalog.best_offer(service.shape, placement) is not None
