"""Core commands: init, up, simulate, engine, scenario, decisions, explain, audit."""

from __future__ import annotations

import typer

from swen import __version__


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""

    @app.command()
    def version() -> None:
        """Print the SWEN version."""
        typer.echo(__version__)
