"""API keys: hashed storage, roles, revocation, constant-time secret comparison."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from swen.domain.errors import InvalidInputError, NotFoundError
from swen.domain.events import EventType
from swen.domain.keys import KEY_PREFIX, Role, hash_key, secrets_equal
from swen.store.keys import ApiKeyRepository
from swen.store.repository import Store
from swen.store.tables import api_keys


def test_roles_are_ordered() -> None:
    assert Role.ADMIN.allows(Role.OPERATOR) and Role.ADMIN.allows(Role.VIEWER)
    assert Role.OPERATOR.allows(Role.VIEWER) and not Role.OPERATOR.allows(Role.ADMIN)
    assert not Role.VIEWER.allows(Role.OPERATOR)
    with pytest.raises(InvalidInputError, match="viewer, operator, admin"):
        Role.parse("root")


def test_created_key_is_stored_only_as_hash_and_prefix(store: Store) -> None:
    repo = ApiKeyRepository(store)
    record, key = repo.create("dashboard", "operator")
    assert key.startswith(KEY_PREFIX) and len(key) > 40
    assert record.prefix == key[:12] and record.role is Role.OPERATOR
    with store.engine.connect() as conn:
        row = conn.execute(select(api_keys)).one()
    assert row.key_hash == hash_key(key)
    assert key not in {str(v) for v in row._mapping.values()}
    events = store.events_after(0, types=[EventType.API_KEY])
    assert len(events) == 1 and key not in str(events[0].payload)
    assert events[0].payload["prefix"] == record.prefix


def test_authenticate_and_revoke(store: Store) -> None:
    repo = ApiKeyRepository(store)
    record, key = repo.create("ci", Role.VIEWER)
    found = repo.authenticate(key)
    assert found is not None and found.id == record.id
    assert repo.authenticate(key + "x") is None
    assert repo.authenticate("") is None
    revoked = repo.revoke(record.id)
    assert revoked.revoked_at is not None and not revoked.active
    assert repo.authenticate(key) is None
    assert repo.revoke(record.id).revoked_at == revoked.revoked_at  # idempotent
    assert [k.id for k in repo.list()] == [record.id]
    with pytest.raises(NotFoundError):
        repo.revoke(9999)


def test_every_key_is_different(store: Store) -> None:
    repo = ApiKeyRepository(store)
    keys = {repo.create(f"k{i}", Role.VIEWER)[1] for i in range(5)}
    assert len(keys) == 5


@pytest.mark.parametrize("name", ["", "   ", "x" * 129, "tab\there"])
def test_bad_key_names_are_refused(store: Store, name: str) -> None:
    with pytest.raises(InvalidInputError):
        ApiKeyRepository(store).create(name, Role.VIEWER)
    assert ApiKeyRepository(store).list() == []


def test_secrets_equal() -> None:
    assert secrets_equal("abc", "abc")
    assert not secrets_equal("abc", "abd")
    assert not secrets_equal(None, "abc")
    assert not secrets_equal("abc", None)
    assert not secrets_equal("", "")
