"""Dashboard fixtures (see dashboard_env.py): a real API on a seeded temporary store."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from dashboard_env import LiveApi, seed, serve


@pytest.fixture(scope="session")
def live_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApi]:
    """Read-only tests share one seeded platform and API (seeding runs terraform: a few seconds)."""
    platform = seed(tmp_path_factory.mktemp("dash") / "home")
    yield from serve(platform)


@pytest.fixture
def fresh_api(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LiveApi]:
    """A platform of its own for a test that writes (approve, reject)."""
    platform = seed(tmp_path / "home", steps=6)
    monkeypatch.setenv("TF_CLI_CONFIG_FILE", str(tmp_path / "empty.tfrc"))
    yield from serve(platform)


@pytest.fixture
def empty_api(tmp_path: Path) -> Iterator[LiveApi]:
    """A real API on a store with nothing in it but two keys (a platform that has just been set up)."""
    from swen.demo.seed import SeededPlatform, demo_settings
    from swen.domain.keys import Role
    from swen.store.keys import ApiKeyRepository
    from swen.store.repository import Store

    settings = demo_settings(tmp_path / "home")
    settings.home.mkdir()
    with Store.open(settings) as store:
        keys = ApiKeyRepository(store)
        viewer, operator = keys.create("v", Role.VIEWER)[1], keys.create("o", Role.OPERATOR)[1]
    yield from serve(SeededPlatform(settings, viewer, operator, None, 0, 0))
