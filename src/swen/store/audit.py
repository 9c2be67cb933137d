"""The hash chain of the append-only events table.

Every row stores ``prev_hash`` (the ``hash`` of the row before it; 64 zeros for the first row) and
``hash = sha256(canonical JSON of [prev_hash, id, ts ISO-8601, type, service, decision_id, payload])``
where ``payload`` is the canonical payload JSON exactly as stored (sorted keys, no spaces, UTF-8).
Ids are assigned by the appender as ``last id + 1`` while it holds the append lock (SQLite
``BEGIN IMMEDIATE``, PostgreSQL ``pg_advisory_xact_lock``), so a valid chain has consecutive ids
starting at 1. ``verify_audit`` recomputes every hash and therefore detects an edited row (content no
longer matches its hash), an edited hash (the next row's ``prev_hash`` no longer matches, or the row's
own recomputed hash differs) and a deleted row (a gap in the ids and a broken ``prev_hash`` link).
Deleting rows at the very end of the log cannot be seen from the chain alone, so every append also
records the head of the chain (id and hash) in the flag ``audit.head`` (``state.AuditHead``) in the same
transaction; ``verify`` checks the walked chain reaches that head. (Someone able to rewrite the whole
table and that flag consistently is not stopped by any in-database chain; export the head elsewhere.)
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic_core import PydanticSerializationError, to_jsonable_python
from sqlalchemy import Connection, Engine, Row, func, select

from swen.domain.clock import utcnow
from swen.domain.errors import InvalidInputError, StateError
from swen.domain.events import EventType
from swen.store.db import insert_rows
from swen.store.notify import EVENTS_CHANNEL, notify
from swen.store.records import AuditReport, EventRecord, from_row
from swen.store.state import AuditHead, read_state, write_state
from swen.store.tables import events

GENESIS_HASH = "0" * 64
RESERVED_FLAG_PREFIX = "audit."
_VERIFY_CHUNK = 5000


def canonical_payload(payload: dict[str, Any]) -> str:
    """The payload as canonical JSON text (sorted keys, compact); datetimes/enums/models are converted."""
    if not isinstance(payload, dict):
        raise InvalidInputError(f"an event payload must be a JSON object, got {type(payload).__name__}")
    try:
        jsonable = to_jsonable_python(payload)
        text = json.dumps(
            jsonable, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
        )
        text.encode("utf-8")  # lone surrogates cannot be stored or hashed (UnicodeEncodeError)
        return text
    except (PydanticSerializationError, TypeError, ValueError) as exc:
        raise InvalidInputError(
            f"event payload cannot be stored as JSON: {exc}",
            hint="use plain JSON values (finite numbers, strings, lists, objects)",
        ) from exc


def compute_hash(
    *,
    prev_hash: str,
    event_id: int,
    ts: datetime,
    type_: str,
    service: str | None,
    decision_id: str | None,
    payload_json: str,
) -> str:
    material = [
        prev_hash,
        event_id,
        ts.astimezone(UTC).isoformat(),
        type_,
        service,
        decision_id,
        payload_json,
    ]
    encoded = json.dumps(material, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return hashlib.sha256(encoded).hexdigest()


def append(
    conn: Connection,
    type_: EventType | str,
    payload: dict[str, Any],
    *,
    service: str | None = None,
    decision_id: str | None = None,
    ts: datetime | None = None,
) -> EventRecord:
    """Append one event on ``conn``. The caller must hold the append lock (db.write_transaction)."""
    type_value = EventType(type_).value
    payload_json = canonical_payload(payload)
    when = (ts or utcnow()).astimezone(UTC)
    last = conn.execute(select(events.c.id, events.c.hash).order_by(events.c.id.desc()).limit(1)).first()
    event_id, prev_hash = (1, GENESIS_HASH) if last is None else (int(last.id) + 1, str(last.hash))
    digest = compute_hash(
        prev_hash=prev_hash,
        event_id=event_id,
        ts=when,
        type_=type_value,
        service=service,
        decision_id=decision_id,
        payload_json=payload_json,
    )
    conn.execute(
        events.insert().values(
            id=event_id,
            ts=when,
            type=type_value,
            service=service,
            decision_id=decision_id,
            payload=payload_json,
            prev_hash=prev_hash,
            hash=digest,
        )
    )
    write_state(conn, AuditHead(id=event_id, hash=digest), at=when)
    notify(conn, EVENTS_CHANNEL, str(event_id))  # live feeds of every API replica wake on commit
    return EventRecord(
        id=event_id,
        ts=when,
        type=type_value,
        service=service,
        decision_id=decision_id,
        payload=json.loads(payload_json),
        hash=digest,
    )


@dataclass(frozen=True)
class NewEvent:
    """One event for :func:`append_many`."""

    type: EventType | str
    payload: dict[str, Any]
    service: str | None = None
    decision_id: str | None = None


def append_many(conn: Connection, items: Sequence[NewEvent], *, ts: datetime | None = None) -> int:
    """Append ``items`` in order, each its own row on the chain, in a few statements whatever their
    number: one read of the chain's head, the hashes computed here in one pass, one multi-row INSERT
    (``db.insert_rows``), one write of the recorded head and one notification. The rows are those
    ``append`` would write one at a time at the same time ``ts``. Every payload is checked before
    anything is written. The caller must hold the append lock (db.write_transaction). Returns the id
    of the last event (the head's id unchanged when ``items`` is empty)."""
    prepared = [
        (EventType(item.type).value, canonical_payload(item.payload), item) for item in items
    ]  # a bad type or payload raises here, before any write
    when = (ts or utcnow()).astimezone(UTC)
    last = conn.execute(select(events.c.id, events.c.hash).order_by(events.c.id.desc()).limit(1)).first()
    event_id, prev_hash = (0, GENESIS_HASH) if last is None else (int(last.id), str(last.hash))
    if not prepared:
        return event_id
    rows: list[dict[str, Any]] = []
    for type_value, payload_json, item in prepared:
        event_id += 1
        digest = compute_hash(
            prev_hash=prev_hash,
            event_id=event_id,
            ts=when,
            type_=type_value,
            service=item.service,
            decision_id=item.decision_id,
            payload_json=payload_json,
        )
        rows.append(
            {
                "id": event_id,
                "ts": when,
                "type": type_value,
                "service": item.service,
                "decision_id": item.decision_id,
                "payload": payload_json,
                "prev_hash": prev_hash,
                "hash": digest,
            }
        )
        prev_hash = digest
    insert_rows(conn, events, rows)
    write_state(conn, AuditHead(id=event_id, hash=prev_hash), at=when)
    notify(conn, EVENTS_CHANNEL, str(event_id))  # the live feeds wake once and read every new event
    return event_id


def newest_event_id(conn: Connection) -> int:
    """The id of the newest event (0 when the log is empty)."""
    return int(conn.execute(select(func.coalesce(func.max(events.c.id), 0))).scalar_one())


def event_ids_after(conn: Connection, after_id: int) -> list[int]:
    """Ids of the events after ``after_id`` (e.g. appended by this transaction), oldest first."""
    appended = select(events.c.id).where(events.c.id > after_id).order_by(events.c.id)
    return [int(i) for i in conn.execute(appended).scalars()]


def record_from_row(row: Row[Any]) -> EventRecord:
    return from_row(EventRecord, row, id=int(row.id), payload=json.loads(row.payload))


def _rows(engine: Engine) -> Iterator[Row[Any]]:
    after = 0
    while True:
        with engine.connect() as conn:
            chunk = conn.execute(
                select(events).where(events.c.id > after).order_by(events.c.id).limit(_VERIFY_CHUNK)
            ).all()
        if not chunk:
            return
        yield from chunk
        after = int(chunk[-1].id)


def _problem(row: Row[Any], expected_id: int, prev_hash: str) -> str | None:
    row_id = int(row.id)
    if row_id != expected_id:
        if expected_id == 1:
            return f"the chain starts at id {row_id}, not 1: rows 1..{row_id - 1} were deleted"
        return f"rows {expected_id}..{row_id - 1} are missing (deleted) before row {row_id}"
    if row.prev_hash != prev_hash:
        return f"row {row_id}: prev_hash does not match the hash of the row before it"
    recomputed = compute_hash(
        prev_hash=row.prev_hash,
        event_id=row_id,
        ts=row.ts,
        type_=row.type,
        service=row.service,
        decision_id=row.decision_id,
        payload_json=row.payload,
    )
    if recomputed != row.hash:
        return f"row {row_id}: content does not match its hash (the row or its hash was edited)"
    return None


def _recorded_head(engine: Engine) -> AuditHead | None:
    with engine.connect() as conn:
        try:
            return read_state(conn, AuditHead)
        except StateError:
            return None  # an unreadable head is treated as none: the chain itself is still checked


def verify(engine: Engine) -> AuditReport:
    """Walk the whole chain in id order; stop at the first row that does not check out."""
    head = _recorded_head(engine)  # read first: rows appended during the walk come after it
    checked = 0
    expected_id, prev_hash = 1, GENESIS_HASH
    for row in _rows(engine):
        problem = _problem(row, expected_id, prev_hash)
        if problem is None and head is not None and int(row.id) == head.id and row.hash != head.hash:
            problem = f"row {row.id}: hash differs from the recorded head of the log (rewritten)"
        if problem is not None:
            return AuditReport(ok=False, checked=checked, first_bad_id=int(row.id), problem=problem)
        checked += 1
        expected_id, prev_hash = int(row.id) + 1, row.hash
    if head is not None and head.id >= expected_id:
        problem = (
            f"the log ends at id {expected_id - 1} but its recorded head is id {head.id}: rows were deleted"
        )
        return AuditReport(ok=False, checked=checked, first_bad_id=expected_id, problem=problem)
    return AuditReport(ok=True, checked=checked)
