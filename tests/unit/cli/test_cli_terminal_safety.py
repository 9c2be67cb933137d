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


# --- the red-team strings, in every view that shows outside text ------------------------------------
PWNED = "\x1b]0;pwned\x07[bold red]x[/]"
"""The finding's two attacks: an OSC that retitles the terminal, and rich markup."""


def assert_shown_literally(output: str) -> None:
    assert "\x1b" not in output and "\x07" not in output and "pwned" not in output, repr(output)
    assert "[bold red]x[/]" in output, output


def test_alert_labels_and_annotations_print_literally_in_incident_show(cli: CliRunner, store: Store) -> None:
    from support.alertmanager import alert, payload
    from support.builders import T0, service
    from swen.observability.alerts import intake

    store.upsert_services([service("web")])
    hostile = alert(
        f"Outage{PWNED}", service="web", starts_at=T0, severity=f"critical{PWNED}", summary=f"down {PWNED}",
        team=PWNED,
    )  # fmt: skip
    (incident_id,) = intake(store, payload([hostile])).incidents_opened
    store.close()
    shown = cli.invoke(app, ["incident", "show", str(incident_id)])
    assert shown.exit_code == 0, shown.output
    assert_shown_literally(shown.output)
    assert f"alert Outage{PWNED[10:]}" in shown.output.replace("\n", "")  # in the timeline, literally
    listed = cli.invoke(app, ["incident", "list"])
    assert listed.exit_code == 0 and "\x1b" not in listed.output and "\x07" not in listed.output


def test_decision_texts_print_literally_in_decisions(
    cli: CliRunner, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    from support.builders import decision, service
    from swen.cli import core_cmds

    # the module's console took its width when first imported; a narrow one wraps inside the markup
    monkeypatch.setattr(core_cmds.console, "width", 250)

    store.upsert_services([service("web")])
    d = decision("d-web-2", service="web", explanation=f"because {PWNED}", reasons=(f"why {PWNED}",))
    store.save_decision(d)
    store.close()
    listed = cli.invoke(app, ["decisions"])
    assert listed.exit_code == 0, listed.output
    assert_shown_literally(listed.output)


def test_the_platform_log_prints_each_event_as_one_literal_line(
    store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    from swen.cli.core_cmds import _event_printer
    from swen.domain.events import EventType

    follow = _event_printer(store)
    store.append_event(
        EventType.DECISION_STATUS,
        {"from": "awaiting_approval", "to": "rejected",
         "detail": {"mr_id": 3, "by": f"gitlab-user {PWNED}",
                    "reason": f"no\n12:00:00 applied   forged {PWNED}"}},
        service="web", decision_id="d-web-3",
    )  # fmt: skip
    store.append_event(
        EventType.INCIDENT,
        {"action": "escalated", "incident_id": 1, "reason": f"label {PWNED}"},
        service="web",
    )
    follow()
    out = capsys.readouterr().out
    assert_shown_literally(out)
    lines = out.strip().splitlines()
    assert len(lines) == 2, out  # a newline in a reason cannot forge a second log line
    assert "rejected by gitlab-user [bold red]x[/]" in lines[0]
    assert " rejected  web MR 3 " in lines[0]  # the aligned columns keep their spacing


def test_log_records_reach_the_terminal_without_escape_sequences(capsys: pytest.CaptureFixture[str]) -> None:
    import logging

    from swen.cli.text import install_safe_log_records

    previous = logging.getLogRecordFactory()
    install_safe_log_records()
    try:
        handler = logging.StreamHandler()
        log = logging.getLogger("swen.test.terminal")
        log.addHandler(handler)
        log.propagate = False
        log.warning("resuming %s failed: %s", "d-1", f"MR title {PWNED}")
        log.removeHandler(handler)
    finally:
        logging.setLogRecordFactory(previous)
    err = capsys.readouterr().err
    assert "\x1b" not in err and "\x07" not in err and "pwned" not in err, repr(err)
    assert "MR title [bold red]x[/]" in err
