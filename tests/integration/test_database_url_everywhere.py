"""`SWEN_DATABASE_URL` works for every command: with it set to PostgreSQL, each command that uses state
reads and writes that database (they see what the others wrote there) and none opens or creates the
SQLite file under SWEN_HOME. Without it, a read command on a home with no state says so."""

from __future__ import annotations

from pathlib import Path

from support.processes import run_swen, swen_env

READS = [
    ("services",), ("decisions",), ("decisions", "--json"), ("explain", "service-1"),
    ("audit", "verify"), ("mr", "list"), ("pipeline", "lock"), ("incident", "list"),
    ("automation", "status"), ("keys", "list"),
]  # fmt: skip
"""Commands that only read state (run after the writes below)."""


def test_every_command_uses_the_database_url_and_never_sqlite(pg_url: str, tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = swen_env(home, database_url=pg_url, sim_speed="60")
    writes = [
        ("init",),
        ("simulate", "--once", "--seed", "7"),
        ("simulate", "--once", "--seed", "8"),
        ("engine", "--once", "--no-act"),
        ("pipeline", "sync"),
        ("scenario", "inject", "outage", "--provider", "aws", "--duration", "60"),
        ("automation", "pause", "--by", "ops", "--reason", "rehearsal"),
        ("keys", "create", "--role", "viewer", "--name", "ci"),
    ]
    for args in writes + READS:
        done = run_swen(env, *args)
        assert done.returncode == 0, (args, done.stdout[-1500:], done.stderr[-1500:])
        assert not (home / "swen.db").exists(), f"`swen {' '.join(args)}` created the SQLite file"
        assert not list(home.glob("swen.db*")), args
    status = run_swen(env, "automation", "status")
    assert "rehearsal" in status.stdout  # written by one process, read by another through PostgreSQL
    keys = run_swen(env, "keys", "list")
    assert " ci " in keys.stdout
    services = run_swen(env, "services")
    assert "service-1" in services.stdout

    # the same home without the URL has no state of its own: the data went to PostgreSQL only
    plain = swen_env(home)
    done = run_swen(plain, "decisions")
    assert done.returncode == 3 and "no SWEN state in" in done.stderr, done.stderr
