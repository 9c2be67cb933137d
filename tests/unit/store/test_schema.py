"""Schema: the Alembic migration matches the table metadata; opening from settings; SQLite WAL."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from support.builders import T0, telemetry_sample, telemetry_series
from swen.config import Settings
from swen.domain.errors import StoreError
from swen.store.db import alembic_config, make_engine, migrate, write_transaction
from swen.store.partitions import is_partition_name
from swen.store.repository import Store
from swen.store.tables import metadata, telemetry_samples


def include_name(name: str | None, type_: str, parent_names: object) -> bool:
    return not (type_ == "table" and is_partition_name(name))


def test_migration_matches_metadata(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        migrate(engine)
        migrate(engine)  # idempotent
        with engine.connect() as conn:
            opts = {"compare_type": True, "include_name": include_name}
            context = MigrationContext.configure(conn, opts=opts)
            diff = compare_metadata(context, metadata)
        assert diff == []
    finally:
        engine.dispose()


def test_downgrade_to_base_and_back(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        migrate(engine)
        with write_transaction(engine) as conn:
            cfg = alembic_config(database_url)
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "base")
        assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
        migrate(engine)
        assert set(metadata.tables) <= set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_open_from_settings_uses_sqlite_wal_in_home(settings: Settings) -> None:
    store = Store.open(settings)
    try:
        assert (settings.home / "swen.db").exists()
        with store.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert "events" in inspect(store.engine).get_table_names()
    finally:
        store.close()


def test_open_without_migrate_creates_no_tables(settings: Settings) -> None:
    store = Store.open(settings, migrate=False)
    try:
        assert inspect(store.engine).get_table_names() == []
    finally:
        store.close()


def test_upgrade_from_0001_backfills_latest_samples(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        migrate(engine, "0001")
        history = telemetry_series(30)
        late_old = telemetry_sample(ts=T0 - timedelta(hours=1), hourly=9.0)
        rows = [s.model_dump() for s in [*history, late_old]]
        with engine.begin() as conn:
            conn.execute(telemetry_samples.insert(), rows)
        migrate(engine)
    finally:
        engine.dispose()
    store = Store.from_url(database_url)
    try:
        latest = {(s.provider, s.region): s.ts for s in store.latest_samples()}
        assert latest == {
            ("aws", "us-east-1"): T0 + timedelta(seconds=135),
            ("aws", "eu-west-1"): T0 + timedelta(seconds=140),
            ("alibaba", "cn-hangzhou"): T0 + timedelta(seconds=145),
        }
    finally:
        store.close()


def test_upgrade_to_day_partitions_moves_every_row(database_url: str) -> None:
    """Migration 0007 on a database with rows over several days (and on the day boundaries): every row
    keeps its id and values; on PostgreSQL each day's partition holds that day's rows, carries the
    primary key and both indexes, and new rows continue the id sequence."""
    from sqlalchemy import select, text

    from swen.store import partitions

    days = [T0 + timedelta(days=d) for d in range(4)]
    edges = [days[1], days[2] - timedelta(microseconds=1), days[3]]  # midnight and the last microsecond
    stamps = [d + timedelta(hours=h) for d in days for h in (0, 7, 23)] + edges
    old = [telemetry_sample(f"service-{i % 3}", ts=ts, latency=10.0 + i) for i, ts in enumerate(stamps)]
    engine = make_engine(database_url)
    try:
        migrate(engine, "0006")
        with engine.begin() as conn:
            conn.execute(telemetry_samples.insert(), [s.model_dump() for s in old])
            before = conn.execute(select(telemetry_samples).order_by(telemetry_samples.c.id)).all()
        migrate(engine)
        with engine.connect() as conn:
            after = conn.execute(select(telemetry_samples).order_by(telemetry_samples.c.id)).all()
            assert after == before and len(after) == len(stamps)
            if engine.dialect.name != "postgresql":
                return
            assert partitions.is_partitioned(conn)
            held = {p.day: partitions.partition_rows(conn, p) for p in partitions.list_partitions(conn)}
            per_day = {d.date(): sum(1 for ts in stamps if ts.date() == d.date()) for d in days}
            assert {d: held[d] for d in per_day} == per_day == {
                days[0].date(): 3, days[1].date(): 5, days[2].date(): 3, days[3].date(): 4,
            }  # fmt: skip
            name = partitions.partition_name(days[1].date())
            indexes = inspect(conn).get_indexes(name)
            assert {tuple(i["column_names"]) for i in indexes} >= {("service", "ts"), ("ts",)}
            assert inspect(conn).get_pk_constraint(name)["constrained_columns"] == ["id", "ts"]
            parent = inspect(conn).get_pk_constraint("telemetry_samples")
            assert parent["name"] == "pk_telemetry_samples" and parent["constrained_columns"] == ["id", "ts"]
            assert conn.execute(text(f"SELECT to_regclass('{name}')")).scalar() == name
        store = Store.from_url(database_url)
        try:
            store.insert_samples([telemetry_sample("service-9", ts=days[2] + timedelta(hours=1))])
            newest = store.samples_between(start=days[2], end=days[3])
            assert len(newest) == 4
        finally:
            store.close()
        with engine.connect() as conn:
            ids = conn.execute(select(telemetry_samples.c.id).order_by(telemetry_samples.c.id)).scalars()
            ids = list(ids)
            assert ids[-1] > max(row.id for row in before) and len(set(ids)) == len(ids)
    finally:
        engine.dispose()


def test_unreachable_database_is_a_store_error_with_hint() -> None:
    with pytest.raises(StoreError) as info:
        Store.from_url("postgresql://nobody:x@127.0.0.1:9/nothing")
    assert info.value.hint


def test_unknown_url_scheme_is_a_store_error() -> None:
    with pytest.raises(StoreError, match="cannot open database"):
        Store.from_url("nosuchdb://somewhere/x")


def test_missing_schema_is_a_store_error_with_hint(database_url: str) -> None:
    store = Store.from_url(database_url, migrate=False)
    try:
        with pytest.raises(StoreError) as info:
            store.list_services()
        assert info.value.hint is not None and "schema" in info.value.hint
    finally:
        store.close()


def test_unwritable_sqlite_location_is_a_store_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(StoreError, match="cannot open database"):
        Store.from_url(f"sqlite:///{blocker / 'sub' / 'swen.db'}")


def test_telemetry_latest_leaves_room_for_hot_updates_on_postgresql(database_url: str) -> None:
    """Every tick updates each group's row of ``telemetry_latest``: on PostgreSQL its pages keep room
    for in-place (HOT) updates (migration 0012); SQLite has no such setting."""
    from sqlalchemy import text

    engine = make_engine(database_url)
    try:
        migrate(engine)
        if engine.dialect.name != "postgresql":
            return
        with engine.connect() as conn:
            options = conn.execute(
                text("SELECT reloptions FROM pg_class WHERE relname = 'telemetry_latest'")
            ).scalar()
        assert options is not None and "fillfactor=40" in options
    finally:
        engine.dispose()
