"""Store fixture: a migrated store on each backend (SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest

from swen.store.repository import Store


@pytest.fixture
def store(any_store: Store) -> Store:
    """The store tests' name for ``any_store`` (tests/conftest.py)."""
    return any_store
