"""Thin command line (Typer + rich). Each layer registers its commands from its own module."""

from __future__ import annotations

import sys

from rich.console import Console

from swen.cli import (
    backtest_cmds,
    catalog_cmds,
    core_cmds,
    credits_cmds,
    dashboard_cmds,
    gitops_cmds,
    ops_cmds,
    pipeline_cmds,
    queue_cmds,
    telemetry_data_cmds,
    web_cmds,
)
from swen.cli.help import SwenTyper
from swen.cli.text import plain
from swen.domain.errors import SwenError

app = SwenTyper(
    name="swen",
    help="SWEN multi-cloud AIOps: score placements, explain decisions, move services the GitOps way.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
for module in (
    core_cmds,
    gitops_cmds,
    pipeline_cmds,
    web_cmds,
    dashboard_cmds,
    ops_cmds,
    backtest_cmds,
    catalog_cmds,
    credits_cmds,
):
    module.register(app)
queue_cmds.register(app)
telemetry_data_cmds.register(app)


@app.callback()
def _root() -> None:
    """SWEN multi-cloud AIOps platform."""


def main() -> None:
    """Console entry point: SwenErrors become a one-line message and a non-zero exit code."""
    try:
        app()
    except SwenError as exc:
        err = Console(stderr=True)
        err.print(f"[bold red]error:[/] {plain(exc)}", highlight=False, soft_wrap=True)
        sys.exit(exc.exit_code)
