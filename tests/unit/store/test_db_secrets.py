"""Database secrets: a URL is shown with its password masked; the SQLite file is owner-only."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from swen.domain.errors import StoreError
from swen.store.db import display_url
from swen.store.repository import Store


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://swen:s3cret@db.internal:5432/swen", "postgresql://swen:***@db.internal:5432/swen"),
        (
            "postgresql+psycopg://u:p%40ss@h/db?sslmode=require&password=s3cret",
            "postgresql+psycopg://u:***@h/db",
        ),
        ("postgresql://h/db", "postgresql://h/db"),
        ("sqlite:////var/lib/swen/swen.db", "sqlite:////var/lib/swen/swen.db"),
        ("not a url", "<unparsable database URL>"),
    ],
)
def test_display_url_masks_the_password_and_drops_the_query(url: str, shown: str) -> None:
    assert display_url(url) == shown


def test_a_url_that_cannot_be_opened_is_reported_without_its_password() -> None:
    with pytest.raises(StoreError) as refused:
        Store.from_url("postgresql+nodriver://swen:s3cret@h/db")
    assert "s3cret" not in str(refused.value) and "swen:***@h/db" in str(refused.value)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_new_sqlite_database_and_its_wal_and_shm_are_owner_only(swen_home: Path) -> None:
    path = swen_home / "state" / "swen.db"
    with Store.from_url(f"sqlite:///{path}") as store:
        store.set_flag("probe", 1)  # a write: the -wal and -shm files exist while the store is open
        files = [path, path.with_name("swen.db-wal"), path.with_name("swen.db-shm")]
        assert all(f.exists() for f in files)
        assert {f.name: mode(f) for f in files} == {f.name: 0o600 for f in files}


def test_an_existing_sqlite_database_keeps_its_mode(swen_home: Path) -> None:
    path = swen_home / "swen.db"
    Store.from_url(f"sqlite:///{path}").close()
    path.chmod(0o640)
    Store.from_url(f"sqlite:///{path}").close()
    assert mode(path) == 0o640
