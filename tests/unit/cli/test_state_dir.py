"""Which state a command uses: a note on stderr when SWEN_HOME is not set, and commands that read state
never create it (no ./var, no empty database): they exit with "no SWEN state in ...".

``swen`` runs in-process through its console entry point (``swen.cli.main``), as a user runs it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from support.cli import Swen, make_swen
from swen.config import Settings
from swen.store.db import display_url, has_schema
from swen.store.repository import Store


@pytest.fixture
def swen(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Swen:
    return make_swen(capsys, monkeypatch)


READ_COMMANDS = [
    ["decisions"],
    ["decisions", "--json"],
    ["services"],
    ["explain", "service-2"],
    ["mr", "list"],
    ["mr", "show", "1"],
    ["audit", "verify"],
    ["incident", "list"],
    ["incident", "show", "1"],
    ["automation", "status"],
    ["pipeline", "show", "1"],
    ["pipeline", "lock"],
    ["keys", "list"],
]


@pytest.mark.parametrize("command", READ_COMMANDS, ids=" ".join)
def test_a_read_command_without_state_creates_nothing(
    swen: Swen, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: list[str]
) -> None:
    monkeypatch.chdir(tmp_path)  # SWEN_HOME is not set (conftest): the default ./var
    run = swen(*command)
    home = tmp_path / "var"
    assert run.code == 3, run
    assert run.err.splitlines() == [
        f"using state in {home} (the default ./var; set SWEN_HOME to choose)",
        f"error: no SWEN state in {home}: run `swen init` or set SWEN_HOME",
    ]
    assert run.out == ""
    assert not home.exists()


@pytest.mark.parametrize(
    "command",
    [["automation", "pause", "--reason", "x"], ["keys", "create", "--role", "viewer", "--name", "n"]],
)
def test_a_write_command_does_not_create_state_elsewhere(
    swen: Swen, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: list[str]
) -> None:
    """Pausing automation in a new ./var would leave the running platform unpaused: refused."""
    monkeypatch.chdir(tmp_path)
    run = swen(*command)
    assert run.code == 3 and f"error: no SWEN state in {tmp_path / 'var'}" in run.err
    assert not (tmp_path / "var").exists()


def test_an_explicit_home_gets_no_note_and_is_not_created(
    swen: Swen, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "elsewhere"
    monkeypatch.setenv("SWEN_HOME", str(home))
    run = swen("decisions")
    assert run.code == 3
    assert run.err.splitlines() == [f"error: no SWEN state in {home}: run `swen init` or set SWEN_HOME"]
    assert not home.exists()


def test_an_empty_database_file_is_no_state(
    swen: Swen, swen_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (swen_home / "swen.db").touch()  # e.g. left by an interrupted first start
    monkeypatch.setenv("SWEN_HOME", str(swen_home))
    run = swen("mr", "list")
    assert run.code == 3 and f"no SWEN state in {swen_home}" in run.err
    assert (swen_home / "swen.db").stat().st_size == 0  # still untouched


def test_with_state_the_note_stays_on_stderr(
    swen: Swen, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    Store.open(Settings(home=tmp_path / "var")).close()
    run = swen("decisions", "--json")
    assert run.code == 0, run
    assert json.loads(run.out) == []  # stdout stays machine-readable
    assert run.err.splitlines() == [
        f"using state in {tmp_path / 'var'} (the default ./var; set SWEN_HOME to choose)"
    ]


def test_a_home_from_the_settings_file_counts_as_chosen(
    swen: Swen, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "state"
    Store.open(Settings(home=home)).close()
    config = tmp_path / "swen.yaml"
    config.write_text(f"home: {home}\n", encoding="utf-8")
    monkeypatch.setenv("SWEN_CONFIG", str(config))
    run = swen("decisions")
    assert run.code == 0, run
    assert "using state" not in run.err


def test_init_creates_the_state_and_says_where(
    swen: Swen, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    run = swen("init")
    assert run.code == 0, run
    assert (
        run.err.splitlines()[0]
        == f"using state in {tmp_path / 'var'} (the default ./var; set SWEN_HOME to choose)"
    )
    assert (tmp_path / "var" / "swen.db").is_file()
    listed = swen("decisions")
    assert listed.code == 0 and "no decisions yet" in listed.out


def test_an_empty_postgresql_database_is_no_state(
    swen: Swen, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SWEN_DATABASE_URL", pg_url)
    monkeypatch.setenv("SWEN_HOME", "/nonexistent-swen-home")
    run = swen("audit", "verify")
    assert run.code == 3, run
    assert run.err.splitlines() == [
        f"error: no SWEN state in {display_url(pg_url)}: run `swen init` or set SWEN_HOME"
        " (or SWEN_DATABASE_URL)"
    ]
    with Store.from_url(pg_url, migrate=False) as store:  # no schema was created
        assert not has_schema(store.engine)
