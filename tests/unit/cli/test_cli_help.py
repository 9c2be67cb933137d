"""``--help`` reads like a manual page: arguments as NAME in the usage line, flags as flags (no
``<bool>``), and every parameter with a fixed set of values lists them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import typer

from support.cli import Swen, make_swen
from swen.backtest.lifecycle import MANUAL_OUTCOMES
from swen.backtest.sweep import SWEEP_KINDS
from swen.cli import app
from swen.cli.backtest_cmds import SWEEP_CHOICES


@pytest.fixture
def swen(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Swen:
    return make_swen(capsys, monkeypatch)


def _command_paths() -> Iterator[list[str]]:
    root = typer.main.get_command(app)
    ctx = typer.Context(root)

    def walk(group: typer.core.TyperGroup, path: list[str]) -> Iterator[list[str]]:
        yield path
        for name in group.list_commands(ctx):
            command = group.get_command(ctx, name)
            if isinstance(command, typer.core.TyperGroup):
                yield from walk(command, [*path, name])
            elif command is not None:
                yield [*path, name]

    assert isinstance(root, typer.core.TyperGroup)
    yield from walk(root, [])


COMMANDS = list(_command_paths())


def test_every_command_is_walked() -> None:
    assert ["explain"] in COMMANDS and ["mr", "list"] in COMMANDS and ["scenario", "inject"] in COMMANDS


@pytest.mark.parametrize("path", COMMANDS, ids=lambda p: " ".join(p) or "swen")
def test_no_help_shows_a_bool_value_or_a_braced_argument(swen: Swen, path: list[str]) -> None:
    run = swen(*path, "--help")
    run.assert_ok()
    assert "<bool>" not in run.out
    usage = next(line for line in run.out.splitlines() if "Usage:" in line)
    assert "{" not in usage


def test_explain_usage_names_its_argument_in_capitals(swen: Swen) -> None:
    run = swen("explain", "--help")
    assert "Usage: swen explain [OPTIONS] SERVICE" in run.out
    assert "{service}" not in run.out
    json_row = next(line for line in run.out.splitlines() if "--json" in line)
    assert json_row.split("--json", 1)[1].lstrip().startswith("Machine-readable output.")


def test_rollback_and_pipeline_show_name_their_arguments(swen: Swen) -> None:
    assert "Usage: swen rollback [OPTIONS] DECISION_ID" in swen("rollback", "--help").out
    assert "Usage: swen pipeline show [OPTIONS] ID" in swen("pipeline", "show", "--help").out


@pytest.mark.parametrize(
    ("path", "listed"),
    [
        (["scenario", "inject"], "<outage|latency_spike|cost_spike|credit_expiry|gpu_stockout>"),
        (["mr", "list"], "<opened|merged|closed|all>"),
        (["backtest"], "<" + "|".join(MANUAL_OUTCOMES) + ">"),
        (["backtest"], "<weights|thresholds>"),
        (["keys", "create"], "<viewer|operator|admin>"),
    ],
)
def test_parameters_with_fixed_values_list_them(swen: Swen, path: list[str], listed: str) -> None:
    assert listed in swen(*path, "--help").out.replace("│\n", "").replace(" ", "")


def test_the_sweep_choices_are_the_backtests_sweep_kinds() -> None:
    assert SWEEP_CHOICES == SWEEP_KINDS


def test_an_unknown_scenario_kind_is_one_line_listing_the_kinds(swen: Swen) -> None:
    swen("scenario", "inject", "nope", "--provider", "aws").assert_one_line_error(
        "unknown scenario kind 'nope' (use one of outage, latency_spike, cost_spike, credit_expiry, "
        "gpu_stockout)"
    )
