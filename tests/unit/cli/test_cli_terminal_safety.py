"""Every command that prints text from outside prints it literally: no terminal escape sequence
reaches the terminal and rich markup is shown, not rendered (see swen.cli.text)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from swen.cli import app
from swen.config import Settings
from swen.domain.errors import InvalidInputError
from swen.domain.keys import Role
from swen.domain.merge_requests import MRKind, StageName
from swen.store.keys import ApiKeyRepository
from swen.store.mrs import MergeRequestRepository, PipelineRepository
from swen.store.repository import Store

HOSTILE = "\x1b]0;owned\x07[bold red]x[/]\x1b[2J"
LITERAL = "[bold red]x[/]"


@pytest.fixture
def cli(swen_home: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("SWEN_HOME", str(swen_home))
    monkeypatch.setenv("COLUMNS", "250")
    return CliRunner()


@pytest.fixture
def store(swen_home: Path) -> Store:
    return Store.open(Settings(home=swen_home))


def assert_literal(output: str) -> None:
    assert "\x1b" not in output and "\x07" not in output and "owned" not in output, repr(output)
    assert LITERAL in output, output


def test_merge_request_text_from_a_host_or_a_reviewer_prints_literally(cli: CliRunner, store: Store) -> None:
    repo = MergeRequestRepository(store)
    mr = repo.create(
        decision_id="d-web-0", service="web", branch="swen/web/d-web-0", host="gitlab",
        title=f"move web {HOSTILE}", description=f"# {HOSTILE}", kind=MRKind.MIGRATION,
    )  # fmt: skip
    repo.update(mr.id, action="approved", approved_by=f"gitlab-user {HOSTILE}", review=f"ok {HOSTILE}")
    runs = PipelineRepository(store)
    run = runs.start_run(mr.id)
    runs.record_stage(run.id, StageName.VALIDATE, "failed", duration_s=0.1, log=f"Error: {HOSTILE}")
    store.close()
    listed = cli.invoke(app, ["mr", "list"])
    assert listed.exit_code == 0, listed.output
    assert_literal(listed.output)
    shown = cli.invoke(app, ["mr", "show", str(mr.id)])
    assert shown.exit_code == 0, shown.output
    assert_literal(shown.output)
    assert f"move web {LITERAL}" in shown.output and f"Error: {LITERAL}" in shown.output


def test_key_names_print_literally(cli: CliRunner, store: Store) -> None:
    # key names are printable text (no escapes), but may look like rich markup
    record, _ = ApiKeyRepository(store).create(f"ci {LITERAL}", Role.VIEWER)
    store.close()
    listed = cli.invoke(app, ["keys", "list"])
    assert listed.exit_code == 0 and f"ci {LITERAL}" in listed.output, listed.output
    revoked = cli.invoke(app, ["keys", "revoke", str(record.id)])
    assert revoked.exit_code == 0 and f"ci {LITERAL}" in revoked.output


def test_an_error_line_prints_its_text_literally(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import swen.cli

    def failing() -> None:
        raise InvalidInputError(f"bad value {HOSTILE}", hint="fix it")

    monkeypatch.setattr(swen.cli, "app", failing)
    with pytest.raises(SystemExit) as exited:
        swen.cli.main()
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert_literal(err)
    assert err.strip() == f"error: bad value {LITERAL} (fix it)"
