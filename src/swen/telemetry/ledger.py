"""The live platform's credit ledger: the ledger file burnt by where services run, kept in the store.

The engine (the leader, ``loop.py``) calls :meth:`LiveLedger.catch_up` each cycle with the platform
clock (the newest telemetry time) and where every service runs (the store's recorded placements, the
fleet file's for a service never moved). Every burn interval (``SWEN_CREDITS_INTERVAL_S`` of platform
time, aligned to multiples of it since the epoch) that has ended is burnt through the one burn code
(``telemetry.credits.CreditBook``, the backtest's too): each service costs its catalog list price at
its placement (the cheapest offer that fits its shape) x replicas x the interval's hours, on its
provider. The intervals are recorded in the store (``store.credits``) in one transaction, each once:
a crash before the commit burns them again at the next start, never twice, and a second writer's
copy is refused. On start the ledger replays the recorded intervals with the ledger file, so a
restart keeps the balances (and an edited ledger file, e.g. a new grant, applies from the ledger's
start).

A ``credit_expiry`` scenario (``swen scenario inject credit_expiry``) fires in the simulator, which
records it in the store; the ledger ends that provider's started grants at the first interval that
starts at or after it (and again on every replay).

A long gap (the engine stopped) is caught up with the placements of the moment it resumes, at most
``MAX_CATCH_UP`` intervals per call. The engine's credit factor reads :meth:`balances` (``overlay``
writes them into the window's ``credits_usd``); the simulator publishes the same balances in its
samples; ``swen credits`` and ``GET /credits`` show :meth:`status`.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from swen.config import Settings
from swen.domain.arrays import FloatArray
from swen.domain.models import Placement, Service
from swen.domain.providers import PROVIDERS
from swen.store.credits import BurnRow, CreditBurnRepository
from swen.store.repository import Store
from swen.telemetry.catalog import Catalog, load_catalog
from swen.telemetry.credit_file import CreditLedgerFile, Grant, load_credit_ledger
from swen.telemetry.credits import CreditBook, GrantState, provider_burn

_log = logging.getLogger(__name__)
MAX_CATCH_UP = 10_000
"""Intervals recorded by one ``catch_up`` at most (the rest at the next call)."""
RATE_WINDOW = timedelta(hours=1)
"""The burn rate is the spend of the last hour of recorded intervals (a move shows within the hour)."""


def interval_floor(at: datetime, interval_s: float) -> datetime:
    """The start of the burn interval holding ``at`` (multiples of ``interval_s`` since the epoch)."""
    epoch = at.timestamp()
    return datetime.fromtimestamp(math.floor(epoch / interval_s) * interval_s, tz=UTC)


def hourly_costs(
    services: Sequence[Service],
    placements: Mapping[str, Placement],
    catalog: Catalog,
    warned: set[tuple[str, Placement]] | None = None,
) -> dict[str, tuple[str, float]]:
    """Service -> (provider, list price per hour x replicas) where it runs (``placements``, else its
    fleet placement). A placement the catalog has no fitting offer for costs nothing (logged)."""
    out: dict[str, tuple[str, float]] = {}
    for service in services:
        placement = placements.get(service.name, service.fleet_placement)
        offer = catalog.best_offer(service.shape, placement)
        if offer is None:
            if warned is None or (service.name, placement) not in warned:
                _log.warning(
                    "credits: no catalog offer for %s on %s; it burns nothing", service.name, placement
                )
            if warned is not None:
                warned.add((service.name, placement))
            continue
        out[service.name] = (placement.provider, offer.price_hour_usd * service.replicas)
    return out


@dataclass(frozen=True)
class GrantStatus:
    name: str
    provider: str
    account: str | None
    amount_usd: float
    starts_at: datetime
    expires_at: datetime | None
    refill_usd: float
    refill_every_days: float | None
    balance_usd: float
    status: str
    """pending | active | expired."""


@dataclass(frozen=True)
class ProviderCredits:
    provider: str
    balance_usd: float
    burn_usd_per_day: float
    """What the services on the provider cost per day (over the last hour of recorded intervals)."""
    credit_usd_per_day: float
    """Credit applied per day over the same span (burn capped by the balance)."""
    next_expiry: datetime | None
    """The soonest expiry among the provider's active grants."""
    runs_out_at: datetime | None
    """When the balance reaches 0 at the current burn rate (None: no balance or no burn)."""
    expires_first: bool
    """The next expiry comes before the run-out: part of the balance will lapse unused."""


@dataclass(frozen=True)
class CreditsStatus:
    """What ``swen credits`` and ``GET /credits`` show (``to_dict``: the JSON both give)."""

    source: str
    interval_s: float
    started_at: datetime | None
    """The ledger's origin (its first burn interval); None before the first was recorded."""
    through: datetime | None
    """The end of the newest recorded interval."""
    intervals: int
    providers: list[ProviderCredits]
    grants: list[GrantStatus]

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = _jsonable(dataclasses.asdict(self))
        return out


class LiveLedger:
    def __init__(
        self,
        settings: Settings,
        store: Store,
        catalog: Catalog | None = None,
        *,
        ledger: CreditLedgerFile | None = None,
    ) -> None:
        self.file = ledger if ledger is not None else load_credit_ledger(settings.credits_file)
        self.interval_s = float(settings.credits_interval_s)
        self._catalog = catalog
        self.providers = PROVIDERS.names()
        self.repo = CreditBurnRepository(store)
        self.book: CreditBook | None = None
        self.through: datetime | None = None
        self.intervals = 0
        self._recent: list[BurnRow] = []
        self._expiries: list[tuple[str, datetime]] = []
        self._expired = 0
        """How many of ``_expiries`` (``credit_expiry`` scenarios, oldest first) the book applied."""
        self._warned: set[tuple[str, Placement]] = set()
        self.replay()

    def reprice(self, catalog: Catalog) -> None:
        """Burn the next intervals at ``catalog``'s list prices (a refreshed catalog version)."""
        self._catalog = catalog

    @property
    def catalog(self) -> Catalog:
        """Prices for the burn (loaded when first needed: reading the status needs none)."""
        if self._catalog is None:
            self._catalog = load_catalog()
        return self._catalog

    # --- state -------------------------------------------------------------------------------
    def replay(self) -> None:
        """Rebuild the balances from the recorded intervals and the ledger file."""
        rows = self.repo.rows()
        self.book, self.through, self.intervals, self._recent = None, None, 0, []
        self._expiries, self._expired = sorted(self.repo.expiries(), key=lambda e: e[1]), 0
        origin = self.repo.origin()
        if not rows:
            if origin is not None:  # started, no interval ended yet
                self.book, self.through = CreditBook(self.providers, self.file.grants, origin), origin
            return
        book = CreditBook(self.providers, self.file.grants, origin or rows[0].interval_start)
        for row in rows:
            self._expired = self._expire(book, row.interval_start, self._expired)
            book.burn(self._seconds(book, row.interval_start), self._vector(row.burn))
        self.book = book
        self.through = rows[-1].interval_start + timedelta(seconds=rows[-1].interval_s)
        self.intervals = len(rows)
        self._recent = [r for r in rows if r.interval_start >= self.through - RATE_WINDOW]

    def refresh(self) -> None:
        """Take in the intervals recorded since this ledger last looked (another process's burns):
        only the new rows are read and burnt, so a long-lived reader (the API) stays cheap."""
        if self.book is None or self.through is None or self.intervals == 0:
            self.replay()
            return
        rows = self.repo.rows(since=self.through)
        if not rows:
            return
        if rows[0].interval_start != self.through:  # not the next interval: start over
            self.replay()
            return
        self._expiries = sorted(self.repo.expiries(), key=lambda e: e[1])
        for row in rows:
            self._expired = self._expire(self.book, row.interval_start, self._expired)
            self.book.burn(self._seconds(self.book, row.interval_start), self._vector(row.burn))
        self.through = rows[-1].interval_start + timedelta(seconds=rows[-1].interval_s)
        self.intervals += len(rows)
        self._recent = [r for r in [*self._recent, *rows] if r.interval_start >= self.through - RATE_WINDOW]

    def balances(self, now: datetime | None = None) -> dict[str, float]:
        """Usable balance per provider: the book's, or before the first interval the ledger file's
        opening balances as of ``now``."""
        if self.book is not None:
            return self.book.balances()
        origin = interval_floor(now or datetime.now(UTC), self.interval_s)
        return CreditBook(self.providers, self.file.grants, origin).balances()

    # --- burning -----------------------------------------------------------------------------
    def catch_up(
        self, now: datetime, services: Sequence[Service], placements: Mapping[str, Placement]
    ) -> int:
        """Burn and record every interval that ended by ``now``; returns how many were recorded."""
        if self.through is None or self.book is None:
            origin = self.repo.start(interval_floor(now, self.interval_s))
            self.book, self.through = CreditBook(self.providers, self.file.grants, origin), origin
        start = self.through
        step = timedelta(seconds=self.interval_s)
        if start + step > now:
            return 0
        book = copy.deepcopy(self.book)
        self._expiries = sorted(self.repo.expiries(), key=lambda e: e[1])
        expired = self._expired
        costs = hourly_costs(services, placements, self.catalog, self._warned)
        provider_of = np.asarray([self.providers.index(p) for p, _ in costs.values()], dtype=np.int64)
        hourly = np.asarray([c for _, c in costs.values()], dtype=np.float64)
        burn = provider_burn(len(self.providers), provider_of, hourly * self.interval_s / 3600.0)
        rows: list[BurnRow] = []
        while start + step <= now and len(rows) < MAX_CATCH_UP:
            expired = self._expire(book, start, expired)
            applied = book.burn(self._seconds(book, start), burn)
            rows.append(
                BurnRow(start, self.interval_s, self._mapping(burn), self._mapping(applied), book.balances())
            )
            start += step
        if not self.repo.record(rows):  # another writer recorded them first: take its view
            self.replay()
            return 0
        self.book, self.through, self._expired = book, start, expired
        self.intervals += len(rows)
        self._recent = [r for r in [*self._recent, *rows] if r.interval_start >= start - RATE_WINDOW]
        return len(rows)

    def overlay(self, credits: FloatArray, placements: Sequence[Placement], now: datetime) -> None:
        """Write the balances into a ``services x placements`` credits matrix (the engine window's
        ``credits_usd``): every candidate on a provider sees that provider's balance."""
        balances = self.balances(now)
        for c, placement in enumerate(placements):
            credits[:, c] = balances.get(placement.provider, 0.0)

    # --- reading -----------------------------------------------------------------------------
    def status(self, now: datetime | None = None) -> CreditsStatus:
        """Grants, balances, burn rate, expiry and projected run-out (before the first interval: the
        ledger file as of ``now``)."""
        started = self.book is not None
        book = self.book or CreditBook(
            self.providers, self.file.grants, interval_floor(now or datetime.now(UTC), self.interval_s)
        )
        rate_span_s = sum(r.interval_s for r in self._recent)
        days = rate_span_s / 86400.0
        balances = self.balances(now)
        providers = []
        for p, name in enumerate(self.providers):
            states = [g for g in book.grants if g.provider == p]
            burn = sum(r.burn.get(name, 0.0) for r in self._recent) / days if days else 0.0
            used = sum(r.applied.get(name, 0.0) for r in self._recent) / days if days else 0.0
            if not any(g.provider == name for g in self.file.grants) and not burn:
                continue
            providers.append(self._provider(name, balances.get(name, 0.0), burn, used, states, book))
        grants = [self._grant(g, book) for g in self.file.grants]
        return CreditsStatus(
            source=self.file.source,
            interval_s=self.interval_s,
            started_at=book.origin if started else None,
            through=self.through,
            intervals=self.intervals,
            providers=providers,
            grants=grants,
        )

    def _provider(
        self,
        name: str,
        balance: float,
        burn: float,
        used: float,
        states: Sequence[GrantState],
        book: CreditBook,
    ) -> ProviderCredits:
        expiries = [g.expires_s for g in states if g.active and math.isfinite(g.expires_s)]
        next_expiry = book.origin + timedelta(seconds=min(expiries)) if expiries else None
        runs_out = None
        if balance > 0 and burn > 0 and self.through is not None:
            runs_out = self.through + timedelta(days=balance / burn)
        return ProviderCredits(
            provider=name,
            balance_usd=balance,
            burn_usd_per_day=burn,
            credit_usd_per_day=used,
            next_expiry=next_expiry,
            runs_out_at=runs_out,
            expires_first=next_expiry is not None and (runs_out is None or next_expiry < runs_out),
        )

    def _grant(self, grant: Grant, book: CreditBook) -> GrantStatus:
        state = next((g for g in book.grants if g.grant.name == grant.name), None)
        start = grant.start or book.origin
        return GrantStatus(
            name=grant.name,
            provider=grant.provider,
            account=grant.account,
            amount_usd=grant.amount_usd,
            starts_at=start,
            expires_at=grant.expires_at(start),
            refill_usd=grant.refill.amount_usd if grant.refill else 0.0,
            refill_every_days=grant.refill.every_days if grant.refill else None,
            balance_usd=state.balance if state is not None and state.active else 0.0,
            status=state.status if state is not None else "pending",
        )

    # --- helpers -----------------------------------------------------------------------------
    def _expire(self, book: CreditBook, at: datetime, done: int) -> int:
        """Apply the ``credit_expiry`` scenarios that fired by ``at`` and were not applied yet (the
        first ``done`` were); returns how many are applied now."""
        while done < len(self._expiries) and self._expiries[done][1] <= at:
            provider = self._expiries[done][0]
            if provider in self.providers:
                book.expire_now(self.providers.index(provider))
            done += 1
        return done

    @staticmethod
    def _seconds(book: CreditBook, at: datetime) -> float:
        return (at - book.origin).total_seconds()

    def _vector(self, values: Mapping[str, float]) -> FloatArray:
        return np.asarray([float(values.get(p, 0.0)) for p in self.providers], dtype=np.float64)

    def _mapping(self, values: FloatArray) -> dict[str, float]:
        return dict(zip(self.providers, values.tolist(), strict=True))


def published_balances(
    repo: CreditBurnRepository, ledger: CreditLedgerFile, interval_s: float, now: datetime
) -> dict[str, float]:
    """The balances telemetry publishes: after the newest recorded interval, or before the first one
    the ledger file's opening balances (one small query: the simulator calls it every cycle)."""
    latest = repo.latest()
    if latest is not None:
        return {str(k): float(v) for k, v in latest.balance.items()}
    return CreditBook(PROVIDERS.names(), ledger.grants, interval_floor(now, interval_s)).balances()


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    return value
