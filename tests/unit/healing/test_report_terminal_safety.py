"""`swen incident show` prints alert text literally: no terminal escape reaches the terminal and rich
markup in a label is shown, not rendered."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from support.alertmanager import alert, payload
from support.builders import service
from swen.cli import app as cli_app
from swen.cli.text import clean, plain
from swen.config import Settings
from swen.observability.alerts import intake
from swen.store.repository import Store

RETITLE = "\x1b]0;owned\x07"
"""OSC 0: sets the terminal's title (and, in some terminals, worse)."""
CLEAR = "\x1b[2J"


def test_alert_labels_with_escapes_and_markup_print_literally(
    swen_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Store.open(Settings(home=swen_home)) as store:
        store.upsert_services([service("web")])
        notification = payload([alert(f"{RETITLE}[bold red]Provider{CLEAR}Outage[/]", service="web")])
        notification["alerts"][0]["labels"]["severity"] = "[link=http://x]critical"
        (incident_id,) = intake(store, notification).incidents_opened
    monkeypatch.setenv("SWEN_HOME", str(swen_home))
    monkeypatch.setenv("COLUMNS", "200")
    shown = CliRunner().invoke(cli_app, ["incident", "show", str(incident_id)])
    assert shown.exit_code == 0, shown.output
    assert "\x1b" not in shown.output and "\x07" not in shown.output and "owned" not in shown.output
    assert "[bold red]ProviderOutage[/]" in shown.output  # in the alerts table and the timeline
    assert "[link=http://x]critical" in shown.output
    listed = CliRunner().invoke(cli_app, ["incident", "list"])
    assert listed.exit_code == 0 and "\x1b" not in listed.output


@pytest.mark.parametrize(
    ("raw", "printed"),
    [
        (f"{RETITLE}name", "name"),
        (f"a{CLEAR}b", "ab"),
        ("\x1b[31mred\x1b[0m", "red"),
        ("\x9b31mred", "red"),
        ("bell\x07 back\x08 del\x7f", "bell back del"),
        ("rtl\u202eevil", "rtlevil"),
        ("two\nlines\tand a tab", "two\nlines\tand a tab"),
        (None, ""),
    ],
)
def test_clean_removes_escape_sequences_and_control_characters(raw: object, printed: str) -> None:
    assert clean(raw) == printed


def test_plain_escapes_rich_markup() -> None:
    assert plain("[bold red]x[/] \x1b[2J") == "\\[bold red]x\\[/] "
