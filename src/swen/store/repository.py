"""The Store facade: services, placements, telemetry, decisions, the audit log and flags.

One object per process, built from settings (``Store.open``) or a URL (``Store.from_url``). Every
write is one transaction: it happens completely or not at all. Writes that append to the audit log
are serialised across processes (see ``db.write_transaction``). SQLAlchemy errors become
``StoreError``; a missing id becomes ``NotFoundError``; an illegal lifecycle step ``ConflictError``.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    Select,
    String,
    and_,
    bindparam,
    column,
    delete,
    func,
    select,
    text,
    true,
    update,
    values,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import ARRAY

from swen.config import Settings
from swen.domain.clock import aware_utc, utcnow
from swen.domain.decision import ALLOWED_TRANSITIONS, TERMINAL_STATUSES, Decision, DecisionStatus
from swen.domain.errors import ConflictError, InvalidInputError, NotFoundError, StoreError, SwenError
from swen.domain.events import EventType
from swen.domain.models import Placement, Service, TelemetrySample
from swen.domain.names import validate_service_name
from swen.domain.sample_batch import SampleBatch
from swen.domain.sample_columns import SampleColumns
from swen.store import audit, state
from swen.store.db import (
    SQLITE_YIELD_S,
    display_url,
    has_schema,
    insert_rows,
    make_engine,
    migrate,
    sqlite_file,
    upsert,
    write_transaction,
)
from swen.store.errors import translated
from swen.store.ingest import SAMPLE_COLUMNS, insert_sample_batch_rows, insert_sample_rows
from swen.store.leases import Fence, check_fence
from swen.store.locks import LockRows
from swen.store.paging import check_page
from swen.store.records import (
    AuditReport,
    EventRecord,
    LatestPrice,
    PlacementRecord,
    PlacementWrite,
    StoredDecision,
)
from swen.store.state import S, StateModel
from swen.store.tables import (
    decisions,
    events,
    flags,
    placements,
    services,
    telemetry_latest,
    telemetry_samples,
)

Transaction = Connection
"""The open transaction ``Store.transaction()`` yields: pass it as ``conn=`` to repository methods so
their rows and events commit together (callers outside the store need not know it is SQLAlchemy's)."""


def decision_filters(
    *, service: str | None, status: DecisionStatus | None, since: datetime | None
) -> list[ColumnElement[bool]]:
    """Which decisions a page holds (None: any), for the page and for its total alike."""
    d = decisions.c
    filters: list[ColumnElement[bool]] = []
    if service is not None:
        filters.append(d.service == service)
    if status is not None:
        filters.append(d.status == DecisionStatus(status).value)
    if since is not None:
        filters.append(d.created_at >= aware_utc(since, "since"))
    return filters


LATEST_PLACES_PER_QUERY = 5000
"""Places per query of ``latest_prices_at`` (3 bound values each: within SQLite's limit)."""


def _unnested_places(places: Sequence[tuple[str, str, str]]) -> Any:
    """``unnest(<services>, <providers>, <regions>) AS places(s, p, r)``: three bound arrays."""
    columns = list(zip(*places, strict=True))
    arrays = [
        bindparam(f"places_{c}", list(v), type_=ARRAY(String)) for c, v in zip("spr", columns, strict=True)
    ]
    return func.unnest(*arrays).table_valued("s", "p", "r").render_derived(name="places")


def _latest_prices_pg(places: Sequence[tuple[str, str, str]], wanted: Sequence[Any]) -> Select[Any]:
    """``latest_prices_at``'s PostgreSQL read: each place's row of ``telemetry_latest`` in a LATERAL
    subquery (kept a subquery with ``OFFSET 0``), so the primary key is probed per place."""
    t = telemetry_latest.c
    where = _unnested_places(places)
    row = (
        select(*wanted)
        .where(t.service == where.c.s, t.provider == where.c.p, t.region == where.c.r)
        .offset(0)
        .lateral("newest")
    )
    return select(where.c.s, where.c.p, where.c.r, *row.c).select_from(where.join(row, true()))


def _latest_prices(row: Any) -> LatestPrice:
    service, provider, region, ts, instance_type, hourly, simulated = row
    return LatestPrice(service, provider, region, ts, instance_type, hourly, bool(simulated))


def _sample_from_row(row: Any) -> TelemetrySample:
    """A stored sample, trusted: every row was a validated ``TelemetrySample`` when ``insert_samples``
    wrote it, and ``UtcDateTime`` gives its ``ts`` back aware in UTC. Validating again cost the engine
    8 of a 14 s cycle at 1,000 services (77,000 samples read; bench/fleet_live_bench.py)."""
    mapping = row._mapping
    return TelemetrySample.model_construct(**{name: mapping[name] for name in SAMPLE_COLUMNS})


def _stored_decision(row: Any) -> StoredDecision:
    return StoredDecision(
        decision=Decision.model_validate(row.payload),
        status=DecisionStatus(row.status),
        updated_at=row.updated_at,
    )


class ParsedSpecs:
    """Stored service specs parsed once: a row's ``Service`` is reused while its spec is unchanged
    (the stored dict equals the one it was parsed from, so no update is ever missed). The API reads
    the whole fleet per request; validating 10,000 specs again each time was 0.59 s of the 30-day Cost
    Analysis at 10,000 services. ``Service`` is frozen, so sharing one is safe."""

    def __init__(self) -> None:
        self._parsed: dict[str, tuple[Any, Service]] = {}

    def parse(self, name: str, spec: Any) -> Service:
        hit = self._parsed.get(name)
        if hit is not None and hit[0] == spec:
            return hit[1]
        service = Service.model_validate(spec)
        self._parsed[name] = (spec, service)
        return service


class Store:
    """Typed access to the SWEN database (SQLite by default, PostgreSQL when configured)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._local = threading.local()  # per thread: is a write transaction open?
        self.locks = LockRows(self)
        """Rows of named locks (see swen.pipeline.lock)."""
        self._specs = ParsedSpecs()
        self.fence: Fence | None = None
        """Set by an elected process (``swen.leadership``): every write transaction of this Store then
        checks, in that transaction, that the process still holds its lease (``FencedError`` else)."""

    # --- lifecycle ---------------------------------------------------------------------------
    @classmethod
    def open(cls, settings: Settings, *, migrate: bool = True) -> Store:
        return cls.from_url(settings.resolved_database_url, migrate=migrate)

    @classmethod
    def open_existing(cls, settings: Settings) -> Store:
        """Open the store only when it exists: no directory, file or schema is created for a command
        that reads state. NotFoundError ("no SWEN state in ...") otherwise."""
        url = settings.resolved_database_url
        where = settings.home.resolve() if settings.database_url is None else display_url(url)
        missing = NotFoundError(
            f"no SWEN state in {where}: run `swen init` or set SWEN_HOME"
            + (" (or SWEN_DATABASE_URL)" if settings.database_url is not None else "")
        )
        path = sqlite_file(url)
        if path is not None and (not path.is_file() or path.stat().st_size == 0):
            raise missing  # no file, or the empty one an interrupted first start leaves
        engine = make_engine(url)
        if not has_schema(engine):
            engine.dispose()
            raise missing
        _migrate(engine)
        return cls(engine)

    @classmethod
    def from_url(cls, url: str, *, migrate: bool = True) -> Store:
        engine = make_engine(url)
        if migrate:
            _migrate(engine)
        return cls(engine)

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """A serialised write transaction for other repositories that also append events.

        Use ``append_event(..., conn=conn)`` inside it so the row and its event commit together.
        """
        if getattr(self._local, "in_write", False):
            # A second serialised transaction from the same thread would wait for the first forever.
            raise StoreError(
                "a write transaction is already open in this thread",
                hint="do the nested write on the open transaction: pass conn=conn (e.g. append_event)",
            )
        self._local.in_write = True
        try:
            with translated("write transaction"), write_transaction(self.engine) as conn:
                self._check_fence(conn)
                yield conn
        finally:
            self._local.in_write = False

    def let_other_writers_in(self) -> None:
        """Between two write transactions of one long job (an alert storm's batches): on SQLite,
        pause long enough for a writer waiting in SQLite's busy handler (it polls every 100 ms) to
        take the lock, so batches of one job do not starve the others; PostgreSQL queues lock waiters
        itself, so nothing is done there."""
        if self.engine.dialect.name == "sqlite":
            time.sleep(SQLITE_YIELD_S)

    @contextmanager
    def reading(self, what: str) -> Iterator[Connection]:
        """A connection for reads; database errors become ``StoreError("<what> failed: ...")``."""
        with translated(what), self.engine.connect() as conn:
            yield conn

    @contextmanager
    def writing(self, what: str) -> Iterator[Connection]:
        """A plain (not serialised) write transaction, translated like ``reading``.

        For rows no audit event goes with (flags, locks); writes that append an event use
        ``transaction()``.
        """
        with translated(what), self.engine.begin() as conn:
            self._check_fence(conn)
            yield conn

    def _check_fence(self, conn: Connection) -> None:
        fence = self.fence
        if fence is not None:
            check_fence(conn, fence)

    def ping(self) -> None:
        """A round trip to the database; StoreError when it cannot be reached."""
        with self.reading("checking the database") as conn:
            conn.execute(text("SELECT 1"))

    # --- services & placements ---------------------------------------------------------------
    def upsert_services(self, items: Sequence[Service]) -> None:
        """Save ``items`` (a later one of the same name wins) in one executemany: one statement per
        service took 16 s of the simulator's start at 10,000 services on PostgreSQL."""
        now = utcnow()
        latest = {svc.name: svc for svc in items}
        rows = [{"name": n, "spec": s.model_dump(mode="json"), "updated_at": now} for n, s in latest.items()]
        if not rows:
            return
        dialect = postgresql if self.engine.dialect.name == "postgresql" else sqlite
        stmt = dialect.insert(services)
        stmt = stmt.on_conflict_do_update(
            index_elements=["name"], set_={"spec": stmt.excluded.spec, "updated_at": stmt.excluded.updated_at}
        )
        with self.writing("saving services") as conn:
            conn.execute(stmt, rows)

    def list_services(self) -> list[Service]:
        with self.reading("listing services") as conn:
            rows = conn.execute(select(services.c.name, services.c.spec).order_by(services.c.name)).all()
        return [self._specs.parse(row.name, row.spec) for row in rows]

    def get_service(self, name: str) -> Service:
        with self.reading("reading a service") as conn:
            row = conn.execute(select(services.c.spec).where(services.c.name == name)).first()
        if row is None:
            raise NotFoundError(f"unknown service {name!r}", hint="list services with `swen services`")
        return Service.model_validate(row.spec)

    def get_placements(self) -> dict[str, Placement]:
        with self.reading("reading placements") as conn:
            rows = conn.execute(select(placements).order_by(placements.c.service)).all()
        return {row.service: Placement(provider=row.provider, region=row.region) for row in rows}

    def placement_records(self) -> dict[str, PlacementRecord]:
        """Applied placement per service with the decision that put it there and when."""
        with self.reading("reading placements") as conn:
            rows = conn.execute(select(placements).order_by(placements.c.service)).all()
        return {
            row.service: PlacementRecord(
                placement=Placement(provider=row.provider, region=row.region),
                decision_id=row.decision_id,
                applied_at=row.applied_at,
            )
            for row in rows
        }

    def record_placement(
        self, service: str, placement: Placement, *, decision_id: str | None, at: datetime
    ) -> None:
        """Record where ``service`` runs (with no status change: first sight, or a sync of main).

        Only ``swen.moves`` calls this (tests/unit/test_layers.py checks it)."""
        with self.transaction() as conn:
            self._write_placements(conn, [PlacementWrite(service, placement, decision_id, at)])

    def record_placements(self, writes: Sequence[PlacementWrite], *, per_transaction: int = 500) -> None:
        """:meth:`record_placement` for many services (a fleet seen for the first time): each with its
        own audit event as before, ``per_transaction`` of them per transaction (all of a chunk or
        none of it; a crash between chunks leaves the rest unrecorded, to be recorded on the next
        cycle). One transaction each cost 52 s of an engine's first cycle at 1,000 services here.

        A chunk is written in a handful of statements, not about six per placement (see
        ``_write_placements``, the one placement writer: a single placement is a chunk of one, so the
        rows and events are those :meth:`record_placement` one at a time writes;
        tests/unit/store/test_decisions.py compares them).

        Only ``swen.moves`` calls this (tests/unit/test_layers.py checks it)."""
        for start in range(0, len(writes), per_transaction):
            with self.transaction() as conn:
                self._write_placements(conn, writes[start : start + per_transaction])

    def _write_placements(self, conn: Connection, chunk: Sequence[PlacementWrite]) -> None:
        """Record each of ``chunk`` in order with its PLACEMENT event, in one read of the current placements,
        one multi-row upsert (``db.insert_rows``) and one bulk append of the events
        (``audit.append_many``). Every name and time is checked before anything is written; a service
        twice in ``chunk`` gets two events, the second's ``previous`` the first's placement, as one at
        a time."""
        checked = []
        for write in chunk:
            validate_service_name(write.service)
            checked.append((write, aware_utc(write.at, "placement time")))
        names = sorted({write.service for write in chunk})
        p = placements.c
        current = {
            row.service: f"{row.provider}/{row.region}"
            for row in conn.execute(select(p.service, p.provider, p.region).where(p.service.in_(names)))
        }
        rows: dict[str, dict[str, Any]] = {}
        new_events: list[audit.NewEvent] = []
        for write, at in checked:
            rows[write.service] = {
                "service": write.service,
                "provider": write.placement.provider,
                "region": write.placement.region,
                "decision_id": write.decision_id,
                "applied_at": at,
            }
            payload = {
                "placement": write.placement.key,
                "previous": current.get(write.service),
                "applied_at": at.isoformat(),
            }
            current[write.service] = write.placement.key
            new_events.append(audit.NewEvent(EventType.PLACEMENT, payload, write.service, write.decision_id))
        insert_rows(conn, placements, list(rows.values()), upsert_keys=["service"])
        with translated("appending events"):
            audit.append_many(conn, new_events)

    # --- telemetry ---------------------------------------------------------------------------
    def insert_samples(self, samples: Sequence[TelemetrySample]) -> int:
        """Insert validated samples in one transaction (all or none); returns how many."""
        if not samples:
            return 0
        with self._telemetry_transaction() as conn:
            return insert_sample_rows(conn, samples)

    def insert_sample_batch(self, batch: SampleBatch) -> int:
        """Insert one tick given as columns (``domain.sample_batch``; checked when it was built) in one
        transaction (all or none): the same rows ``insert_samples(batch.samples())`` writes; returns
        how many."""
        if not len(batch):
            return 0
        with self._telemetry_transaction() as conn:
            return insert_sample_batch_rows(conn, batch)

    @contextmanager
    def _telemetry_transaction(self) -> Iterator[Connection]:
        # Write lock up front (SQLite BEGIN IMMEDIATE): a deferred transaction that must upgrade a read
        # lock gets SQLITE_BUSY at once under a concurrent writer instead of waiting (busy_timeout).
        with (
            translated("inserting telemetry samples"),
            write_transaction(self.engine, pg_lock_key=None) as conn,
        ):
            yield conn

    def latest_samples(
        self, *, service: str | None = None, provider: str | None = None
    ) -> list[TelemetrySample]:
        """The newest sample of every (service, provider, region), optionally filtered.

        Reads ``telemetry_latest`` (kept by insert_samples), so the cost does not grow with history.
        """
        t = telemetry_latest
        query: Select[Any] = select(t).order_by(t.c.service, t.c.provider, t.c.region)
        if service is not None:
            query = query.where(t.c.service == service)
        if provider is not None:
            query = query.where(t.c.provider == provider)
        with self.reading("reading the latest samples") as conn:
            rows = conn.execute(query).all()
        return [_sample_from_row(row) for row in rows]

    def latest_prices_at(self, places: Sequence[tuple[str, str, str]]) -> list[LatestPrice]:
        """The time and price of the newest sample at each of ``places`` ((service, provider,
        region); those without one are left out): where 10,000 services run is 10,000 rows of the
        110,000 in ``telemetry_latest``, and seven of its columns. PostgreSQL: the places as three
        bound arrays ``unnest``ed (a VALUES list of 30,000 bound values took SQLAlchemy seconds to
        compile), each place's row through the primary key (a LATERAL subquery: a nested loop of
        index scans, 65 ms at 10,000 places where the planner's merge join sorted the whole table,
        175 ms; whole samples as objects took 0.5 s); SQLite: a VALUES list of
        ``LATEST_PLACES_PER_QUERY`` places a query."""
        t = telemetry_latest.c
        wanted = (t.ts, t.instance_type, t.hourly_cost_usd, t.simulated_price)
        out: list[LatestPrice] = []
        with self.reading("reading the latest samples") as conn:
            if conn.dialect.name == "postgresql":
                if places:
                    out.extend(_latest_prices(row) for row in conn.execute(_latest_prices_pg(places, wanted)))
                return out
            for i in range(0, len(places), LATEST_PLACES_PER_QUERY):
                chunk = (
                    values(column("s", String), column("p", String), column("r", String), name="places")
                    .data(list(places[i : i + LATEST_PLACES_PER_QUERY]))
                    .cte("places")  # SQLite has no column list on a VALUES alias
                )
                on = and_(t.service == chunk.c.s, t.provider == chunk.c.p, t.region == chunk.c.r)
                query = select(t.service, t.provider, t.region, *wanted).select_from(
                    telemetry_latest.join(chunk, on)
                )
                out.extend(_latest_prices(row) for row in conn.execute(query))
        return out

    def newest_sample_time(self) -> datetime | None:
        """The platform clock: the newest telemetry timestamp (simulated time under the simulator,
        wall time with real telemetry); None before the first sample."""
        with self.reading("reading the latest samples") as conn:
            value = conn.execute(select(func.max(telemetry_latest.c.ts))).scalar()
        return None if value is None else aware_utc(value, "newest sample time")

    def samples_between(
        self,
        *,
        start: datetime,
        end: datetime,
        service: str | None = None,
        provider: str | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[TelemetrySample]:
        """Samples with ``start <= ts < end`` in time order."""
        check_page(limit, offset)
        t = telemetry_samples
        query: Select[Any] = select(t).where(
            t.c.ts >= aware_utc(start, "start"), t.c.ts < aware_utc(end, "end")
        )
        if service is not None:
            query = query.where(t.c.service == service)
        if provider is not None:
            query = query.where(t.c.provider == provider)
        query = query.order_by(t.c.ts, t.c.id).offset(offset)
        if limit is not None:
            query = query.limit(limit)
        with self.reading("reading samples") as conn:
            rows = conn.execute(query).all()
        return [_sample_from_row(row) for row in rows]

    def sample_columns_between(self, *, start: datetime, end: datetime) -> SampleColumns:
        """Samples with ``start <= ts < end`` in time order, as columns (``domain.sample_columns``):
        the engine's bulk read, one tuple per row and no model object per sample."""
        t = telemetry_samples
        query = (
            select(*(t.c[name] for name in SAMPLE_COLUMNS))
            .where(t.c.ts >= aware_utc(start, "start"), t.c.ts < aware_utc(end, "end"))
            .order_by(t.c.ts, t.c.id)
        )
        with self.reading("reading samples") as conn:
            rows = conn.execute(query).all()
        return SampleColumns.from_rows(rows)

    def purge_samples(self, older_than: datetime) -> int:
        """Delete samples with ``ts < older_than`` (retention); returns how many were deleted."""
        cutoff = aware_utc(older_than, "older_than")
        latest = telemetry_latest
        doomed = (
            select(latest.c.service)
            .where(latest.c.ts < cutoff)
            .order_by(latest.c.service, latest.c.provider, latest.c.region)
            .with_for_update()  # same lock order as insert_samples: no deadlock between the two
        )
        with translated("purging samples"), write_transaction(self.engine, pg_lock_key=None) as conn:
            conn.execute(doomed).all()
            conn.execute(delete(latest).where(latest.c.ts < cutoff))
            result = conn.execute(delete(telemetry_samples).where(telemetry_samples.c.ts < cutoff))
        return int(result.rowcount or 0)

    # --- decisions ---------------------------------------------------------------------------
    def save_decision(self, decision: Decision, *, status: DecisionStatus = DecisionStatus.PROPOSED) -> None:
        """Store a decision and append its DECISION event; saving the same decision again does nothing."""
        with self.transaction() as conn:
            self._save_decision(conn, decision, status)

    def save_decisions(self, batch: Sequence[Decision], *, per_transaction: int = 250) -> None:
        """:meth:`save_decision` for a cycle's recommendations: each with its DECISION event as before,
        ``per_transaction`` of them per transaction (a chunk is stored whole or not at all: a
        ConflictError on one stores none of its chunk). One transaction each cost the engine 62 ms a
        recommendation here, a minute for the thousand a 10,000-service fleet had at once."""
        for start in range(0, len(batch), per_transaction):
            with self.transaction() as conn:
                for decision in batch[start : start + per_transaction]:
                    self._save_decision(conn, decision, DecisionStatus.PROPOSED)

    def _save_decision(self, conn: Connection, decision: Decision, status: DecisionStatus) -> None:
        aware_utc(decision.created_at, "decision.created_at")
        # the engine's decisions leave out ``chosen_by`` (None): a payload stored before the field
        # existed still compares equal when the same decision is saved again after an upgrade
        # (likewise ``catalog_version``, None for a decision made without catalog versions, and
        # ``slo_repair``, False for every decision that is not an SLO repair)
        unset = {f for f in ("chosen_by", "catalog_version") if getattr(decision, f) is None}
        if not decision.slo_repair:
            unset.add("slo_repair")
        payload = decision.model_dump(mode="json", exclude=unset or None)
        existing = conn.execute(select(decisions.c.payload).where(decisions.c.id == decision.id)).first()
        if existing is not None:
            if existing.payload != payload:
                raise ConflictError(
                    f"decision {decision.id!r} is already stored with different content",
                    hint="decisions are immutable; give a new decision a new id",
                )
            return
        now = utcnow()
        conn.execute(decisions.insert().values(**_decision_columns(decision, status, payload, now)))
        event = _decision_event(decision, status)
        self.append_event(
            EventType.DECISION, event, service=decision.service, decision_id=decision.id, conn=conn
        )

    def get_decision(self, decision_id: str) -> StoredDecision:
        with self.reading("reading a decision") as conn:
            row = conn.execute(select(decisions).where(decisions.c.id == decision_id)).first()
        if row is None:
            raise NotFoundError(
                f"unknown decision {decision_id!r}", hint="list decisions with `swen decisions`"
            )
        return _stored_decision(row)

    def get_decisions(
        self, decision_ids: Collection[str], *, per_query: int = 500
    ) -> dict[str, StoredDecision]:
        """The stored decisions among ``decision_ids``, by id (an unknown id is simply absent), read
        ``per_query`` ids at a time: one query where :meth:`get_decision` per id made a restarted
        engine read a 10,000-service fleet's decisions one round trip each."""
        ids = sorted(set(decision_ids))
        out: dict[str, StoredDecision] = {}
        with self.reading("reading decisions") as conn:
            for start in range(0, len(ids), per_query):
                chunk = ids[start : start + per_query]
                for row in conn.execute(select(decisions).where(decisions.c.id.in_(chunk))):
                    out[row.id] = _stored_decision(row)
        return out

    def list_decisions(
        self,
        *,
        service: str | None = None,
        status: DecisionStatus | None = None,
        since: datetime | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[StoredDecision]:
        """Newest first."""
        check_page(limit, offset)
        query = (
            select(decisions)
            .where(*decision_filters(service=service, status=status, since=since))
            .order_by(decisions.c.created_at.desc(), decisions.c.id.desc())
            .limit(limit)
            .offset(offset)
        )
        with self.reading("listing decisions") as conn:
            rows = conn.execute(query).all()
        return [_stored_decision(row) for row in rows]

    def transition(
        self,
        decision_id: str,
        new: DecisionStatus,
        *,
        expected: Collection[DecisionStatus] | None = None,
        detail: dict[str, Any] | None = None,
        placement: PlacementWrite | None = None,
    ) -> StoredDecision:
        """Move a decision to ``new`` and append its DECISION_STATUS event, atomically.

        Compare-and-set: with ``expected``, the decision must be in one of those statuses (else
        ConflictError and nothing is written), so two processes racing for the same step cannot both
        take it. ``detail`` is kept on the row (``transition_detail``). ``placement`` records where the
        service now runs in the same transaction (the apply and its status change commit together).
        Only ``swen.moves`` calls this (tests/unit/test_layers.py checks it).
        """
        with self.transaction() as conn:
            return self.transition_in(
                conn, decision_id, new, expected=expected, detail=detail, placement=placement
            )

    def transition_in(
        self,
        conn: Connection,
        decision_id: str,
        new: DecisionStatus,
        *,
        expected: Collection[DecisionStatus] | None = None,
        detail: dict[str, Any] | None = None,
        placement: PlacementWrite | None = None,
    ) -> StoredDecision:
        """:meth:`transition` inside an open write transaction (other store repositories)."""
        new = DecisionStatus(new)
        row = conn.execute(select(decisions).where(decisions.c.id == decision_id).with_for_update()).first()
        if row is None:
            raise NotFoundError(f"unknown decision {decision_id!r}")
        old = DecisionStatus(row.status)
        if expected is not None and old not in expected:
            wanted = " or ".join(sorted(s.value for s in expected))
            raise ConflictError(
                f"decision {decision_id!r} is {old.value}, not {wanted}: someone else moved it first",
                hint="reload it (`swen decisions`) and act on its current status",
            )
        if new not in ALLOWED_TRANSITIONS[old]:
            allowed = ", ".join(sorted(ALLOWED_TRANSITIONS[old])) or "none (terminal)"
            raise ConflictError(
                f"decision {decision_id!r} cannot go from {old.value} to {new.value}",
                hint=f"allowed from {old.value}: {allowed}",
            )
        now = utcnow()
        details = dict(row.transitions or {})
        details[new.value] = json.loads(audit.canonical_payload({"d": detail or {}}))["d"]
        conn.execute(
            update(decisions)
            .where(decisions.c.id == decision_id)
            .values(status=new.value, updated_at=now, transitions=details)
        )
        payload = {"from": old.value, "to": new.value, "detail": detail or {}}
        self.append_event(
            EventType.DECISION_STATUS, payload, service=row.service, decision_id=decision_id, conn=conn
        )
        if placement is not None:
            self._write_placements(conn, [placement])
        if new in TERMINAL_STATUSES:
            state.drop_decision_state(conn, decision_id, reached=new)
        return StoredDecision(decision=Decision.model_validate(row.payload), status=new, updated_at=now)

    def transition_detail(self, decision_id: str, status: DecisionStatus) -> dict[str, Any]:
        """The detail recorded when ``decision_id`` last entered ``status`` ({} if it never did)."""
        with self.reading("reading a decision") as conn:
            row = conn.execute(select(decisions.c.transitions).where(decisions.c.id == decision_id)).first()
        if row is None:
            raise NotFoundError(f"unknown decision {decision_id!r}")
        detail = (row.transitions or {}).get(DecisionStatus(status).value)
        return dict(detail) if isinstance(detail, dict) else {}

    def decision_history(self, decision_id: str) -> list[EventRecord]:
        query = select(events).where(events.c.decision_id == decision_id).order_by(events.c.id)
        with self.reading("reading decision history") as conn:
            rows = conn.execute(query).all()
        return [audit.record_from_row(row) for row in rows]

    # --- events ------------------------------------------------------------------------------
    def append_event(
        self,
        type: EventType,
        payload: dict[str, Any],
        *,
        service: str | None = None,
        decision_id: str | None = None,
        conn: Connection | None = None,
    ) -> EventRecord:
        """Append one event. Pass ``conn`` from ``Store.transaction()`` to commit it with other rows."""
        if conn is not None:
            with translated("appending an event"):
                return audit.append(conn, type, payload, service=service, decision_id=decision_id)
        audit.canonical_payload(payload)  # reject a bad payload before taking the lock
        with self.transaction() as own:
            return audit.append(own, type, payload, service=service, decision_id=decision_id)

    def events_after(
        self, after_id: int, *, limit: int = 1000, types: Collection[EventType] | None = None
    ) -> list[EventRecord]:
        check_page(limit, 0)
        query = select(events).where(events.c.id > after_id)
        if types is not None:
            query = query.where(events.c.type.in_([EventType(t).value for t in types]))
        query = query.order_by(events.c.id).limit(limit)
        with self.reading("reading events") as conn:
            rows = conn.execute(query).all()
        return [audit.record_from_row(row) for row in rows]

    def verify_audit(self) -> AuditReport:
        with translated("verifying the audit log"):
            return audit.verify(self.engine)

    # --- typed state (swen.store.state) -----------------------------------------------------
    def load_state(self, model: type[S], *, decision_id: str | None = None) -> S | None:
        """The stored ``model`` (None when none is stored); StateError when the stored value is invalid."""
        with self.reading(f"reading state {model.key!r}") as conn:
            return state.read_state(conn, model, decision_id)

    def save_state(self, value: StateModel, *, decision_id: str | None = None) -> None:
        """Store ``value`` under its model's key (per-decision models need ``decision_id``)."""
        if value.reserved:
            raise InvalidInputError(
                f"the state {value.key!r} is written by the store itself", hint="read it with load_state"
            )
        with self.writing(f"saving state {value.key!r}") as conn:
            state.write_state(conn, value, at=utcnow(), decision_id=decision_id)

    def drop_decision_state(self, decision_id: str) -> None:
        """Delete all per-decision state of ``decision_id`` (``transition`` does it at terminal statuses)."""
        with self.writing("dropping decision state") as conn:
            state.drop_decision_state(conn, decision_id)

    # --- flags (untyped; prefer load_state/save_state) ---------------------------------------
    def get_flag(self, key: str, default: Any = None) -> Any:
        with self.reading("reading a flag") as conn:
            row = conn.execute(select(flags.c.value).where(flags.c.key == key)).first()
        return default if row is None else row.value

    def set_flag(self, key: str, value: Any) -> None:
        if not key or len(key) > 128:
            raise InvalidInputError(f"flag key must be 1..128 characters, got {len(key)}")
        if key.startswith(audit.RESERVED_FLAG_PREFIX):
            raise InvalidInputError(
                f"flag key {key!r} is reserved for the audit log",
                hint=f"choose a key that does not start with {audit.RESERVED_FLAG_PREFIX!r}",
            )
        # plain JSON (datetimes, enums, models converted; NaN/inf rejected), as get_flag returns it
        stored = json.loads(audit.canonical_payload({"value": value}))["value"]
        with self.writing("saving a flag") as conn:
            upsert(conn, flags, {"key": key, "value": stored, "updated_at": utcnow()}, ["key"])


def _migrate(engine: Engine) -> None:
    try:
        migrate(engine)
    except SwenError:
        engine.dispose()
        raise


def _decision_columns(
    decision: Decision, status: DecisionStatus, payload: dict[str, Any], now: datetime
) -> dict[str, Any]:
    return {
        "id": decision.id,
        "service": decision.service,
        "created_at": decision.created_at,
        "action": decision.action.value,
        "emergency": decision.emergency,
        "status": DecisionStatus(status).value,
        "from_provider": decision.current.provider,
        "from_region": decision.current.region,
        "to_provider": decision.target.provider,
        "to_region": decision.target.region,
        "confidence": decision.confidence.value,
        "net_savings_monthly_usd": decision.savings.net_monthly_usd,
        "cost_delta_pct": decision.savings.cost_delta_pct,
        "payload": payload,
        "updated_at": now,
    }


def _decision_event(decision: Decision, status: DecisionStatus) -> dict[str, Any]:
    return {
        "status": DecisionStatus(status).value,
        "action": decision.action.value,
        "emergency": decision.emergency,
        "from": decision.current.key,
        "to": decision.target.key,
        "confidence": decision.confidence.value,
        "net_savings_monthly_usd": decision.savings.net_monthly_usd,
        "cost_delta_pct": decision.savings.cost_delta_pct,
        **({"chosen_by": decision.chosen_by} if decision.chosen_by is not None else {}),
        **({"catalog_version": decision.catalog_version} if decision.catalog_version is not None else {}),
    }
