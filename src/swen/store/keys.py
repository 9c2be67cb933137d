"""API keys repository: create (returns the secret once), list, revoke, authenticate.

Only the SHA-256 of a key and its short prefix are stored (see ``swen.domain.keys``). Creating and
revoking a key appends an ``api_key`` event to the audit log (name, role and prefix, never the key).
A revocation also notifies ``swen_keys`` (``store.notify``) so that API replicas drop the key at once.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Row, insert, select, update

from swen.domain.clock import utcnow
from swen.domain.errors import InvalidInputError, NotFoundError
from swen.domain.events import EventType
from swen.domain.keys import Role, generate_key, hash_key, key_prefix
from swen.store.notify import KEYS_CHANNEL, notify
from swen.store.repository import Store
from swen.store.tables import api_keys

MAX_NAME_LENGTH = 128


@dataclass(frozen=True, slots=True)
class ApiKeyRecord:
    id: int
    name: str
    role: Role
    prefix: str
    created_at: datetime
    revoked_at: datetime | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


def _record(row: Row[tuple[object, ...]]) -> ApiKeyRecord:
    m = row._mapping
    return ApiKeyRecord(
        id=int(m["id"]),
        name=str(m["name"]),
        role=Role(m["role"]),
        prefix=str(m["prefix"]),
        created_at=m["created_at"],
        revoked_at=m["revoked_at"],
    )


def _validate_name(name: str) -> str:
    cleaned = name.strip()
    if not cleaned or len(cleaned) > MAX_NAME_LENGTH or not cleaned.isprintable():
        raise InvalidInputError(
            f"invalid key name {name!r}",
            hint=f"use 1-{MAX_NAME_LENGTH} printable characters, e.g. 'dashboard' or 'alice-laptop'",
        )
    return cleaned


class ApiKeyRepository:
    """API keys in the ``api_keys`` table of one store."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def create(self, name: str, role: Role | str) -> tuple[ApiKeyRecord, str]:
        """Create a key; returns the record and the plaintext key (the only time it exists)."""
        role = role if isinstance(role, Role) else Role.parse(role)
        name = _validate_name(name)
        key = generate_key()
        now = utcnow()
        values = {
            "name": name,
            "role": role.value,
            "prefix": key_prefix(key),
            "key_hash": hash_key(key),
            "created_at": now,
            "revoked_at": None,
        }
        with self._store.transaction() as conn:
            inserted = conn.execute(insert(api_keys).values(**values).returning(api_keys.c.id))
            key_id = int(inserted.scalar_one())
            event = {
                "action": "created",
                "id": key_id,
                "name": name,
                "role": role.value,
                "prefix": values["prefix"],
            }
            self._store.append_event(EventType.API_KEY, event, conn=conn)
        record = ApiKeyRecord(key_id, name, role, str(values["prefix"]), now, None)
        return record, key

    def list(self) -> list[ApiKeyRecord]:
        with self._store.reading("listing API keys") as conn:
            rows = conn.execute(select(api_keys).order_by(api_keys.c.id)).all()
        return [_record(r) for r in rows]

    def get(self, key_id: int) -> ApiKeyRecord:
        with self._store.reading("reading an API key") as conn:
            row = conn.execute(select(api_keys).where(api_keys.c.id == key_id)).first()
        if row is None:
            raise NotFoundError(f"no API key with id {key_id}", hint="see `swen keys list`")
        return _record(row)

    def revoke(self, key_id: int) -> ApiKeyRecord:
        """Revoke a key (idempotent); NotFoundError when the id does not exist."""
        current = self.get(key_id)
        if not current.active:
            return current
        now = utcnow()
        with self._store.transaction() as conn:
            conn.execute(
                update(api_keys)
                .where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
                .values(revoked_at=now)
            )
            event = {"action": "revoked", "id": key_id, "name": current.name, "prefix": current.prefix}
            self._store.append_event(EventType.API_KEY, event, conn=conn)
            notify(conn, KEYS_CHANNEL, str(key_id))  # every API replica drops the key on commit
        return self.get(key_id)

    def authenticate(self, presented: str) -> ApiKeyRecord | None:
        """The active key matching ``presented``, else None (the hash is compared in constant time)."""
        digest = hash_key(presented)
        with self._store.reading("checking an API key") as conn:
            row = conn.execute(
                select(api_keys).where(api_keys.c.key_hash == digest, api_keys.c.revoked_at.is_(None))
            ).first()
        if row is None or not hmac.compare_digest(str(row._mapping["key_hash"]), digest):
            return None
        return _record(row)
