"""Shared fixtures: a temporary SWEN_HOME, settings, a throwaway PostgreSQL database, a store per backend."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from swen.config import Settings
from swen.store.repository import Store

PG_URL = os.environ.get("SWEN_TEST_PG_URL")


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test reads the developer's SWEN_* environment (except the test database URL)."""
    for key in list(os.environ):
        if key.startswith("SWEN_") and key != "SWEN_TEST_PG_URL":
            monkeypatch.delenv(key, raising=False)


@pytest.fixture
def swen_home(tmp_path: Path) -> Path:
    home = tmp_path / "swen-home"
    home.mkdir()
    return home


@pytest.fixture
def settings(swen_home: Path) -> Settings:
    return Settings(home=swen_home)


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL database for one test, dropped afterwards.

    Skipped when no server is configured locally; on CI (CI=true) a missing server is a failure.
    """
    if not PG_URL:
        if os.environ.get("CI"):
            pytest.fail("CI requires PostgreSQL: SWEN_TEST_PG_URL is not set (see scripts/test-services.sh)")
        pytest.skip("no PostgreSQL (set SWEN_TEST_PG_URL or run via `make test`)")
    import psycopg

    name = f"swen_test_{uuid.uuid4().hex[:12]}"
    admin = PG_URL
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = admin.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, swen_home: Path) -> str:
    """Parametrises a test over both backends."""
    if request.param == "sqlite":
        return f"sqlite:///{swen_home / 'swen.db'}"
    url: str = request.getfixturevalue("pg_url")
    return url


@pytest.fixture
def any_store(database_url: str) -> Iterator[Store]:
    """A migrated store on each backend (closed afterwards)."""
    s = Store.from_url(database_url)
    try:
        yield s
    finally:
        s.close()
