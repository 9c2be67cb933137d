"""API fixtures: a migrated SQLite store, one key per role, an app and a test client."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from swen.api.app import create_app
from swen.config import Settings
from swen.domain.keys import Role
from swen.store.keys import ApiKeyRepository
from swen.store.repository import Store


@pytest.fixture
def api_settings(swen_home: Path) -> Settings:
    return Settings(
        home=swen_home,
        gitlab_webhook_secret="gitlab-secret-for-tests",  # type: ignore[arg-type]
        alert_token="alert-token-for-tests",  # type: ignore[arg-type]
    )


@pytest.fixture(scope="session")
def migrated_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated SQLite database per test session; each test gets a copy (migrating is slow)."""
    path = tmp_path_factory.mktemp("template") / "swen.db"
    Store.from_url(f"sqlite:///{path}").close()
    return path


@pytest.fixture
def store(api_settings: Settings, migrated_db: Path) -> Iterator[Store]:
    target = api_settings.home / "swen.db"
    shutil.copyfile(migrated_db, target)
    s = Store.open(api_settings, migrate=False)
    try:
        yield s
    finally:
        s.close()


@pytest.fixture
def keys(store: Store) -> dict[Role, str]:
    repo = ApiKeyRepository(store)
    return {role: repo.create(f"{role.value}-key", role)[1] for role in Role}


@pytest.fixture
def app(api_settings: Settings, store: Store) -> FastAPI:
    return create_app(api_settings, store=store)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as c:
        yield c
