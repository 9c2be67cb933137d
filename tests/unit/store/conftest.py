"""Store fixture: a migrated store on each backend (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from swen.store.repository import Store


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    s = Store.from_url(database_url)
    try:
        yield s
    finally:
        s.close()
