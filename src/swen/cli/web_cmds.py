"""API commands: ``swen api`` (uvicorn) and ``swen keys create|list|revoke``."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from swen.cli.help import SwenTyper, choices
from swen.cli.params import KeyIdArgument
from swen.cli.state import open_store, state_settings
from swen.cli.text import clean, install_safe_log_records, plain
from swen.config import Settings
from swen.domain.keys import Role


def serve_api(settings: Settings, *, host: str | None = None, port: int | None = None) -> None:
    """Run the API with uvicorn until interrupted (the app opens and closes its own store)."""
    import uvicorn

    from swen.api.app import create_app

    install_safe_log_records()
    uvicorn.run(
        create_app(settings),
        host=host or settings.api_host,
        port=port or settings.api_port,
        log_level="debug" if settings.debug else "info",
        access_log=settings.access_log,  # one line per request: off unless SWEN_ACCESS_LOG=true
        proxy_headers=False,
        server_header=False,
    )


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""

    @app.command("api")
    def api_cmd(
        host: Annotated[
            str | None, typer.Option(help="Bind address (default SWEN_API_HOST, 127.0.0.1).")
        ] = None,
        port: Annotated[
            int | None, typer.Option(min=1, max=65535, help="Port (default SWEN_API_PORT, 8000).")
        ] = None,
    ) -> None:
        """Serve the HTTP API (REST, /metrics, WebSocket live feed)."""
        serve_api(state_settings(), host=host, port=port)

    keys = SwenTyper(help="API keys: create (shown once), list, revoke.", no_args_is_help=True)
    app.add_typer(keys, name="keys")

    @keys.command("create")
    def keys_create(
        role: Annotated[str, typer.Option(metavar=choices(Role), help="What the key may do.")],
        name: Annotated[str, typer.Option(help="Who or what uses the key, e.g. 'dashboard'.")],
    ) -> None:
        """Create a key; it is printed once and only its hash is stored."""
        from swen.store.keys import ApiKeyRepository

        parsed = Role.parse(role)
        with open_store(state_settings()) as store:
            record, key = ApiKeyRepository(store).create(name, parsed)
        err = Console(stderr=True)
        err.print(
            f"created key {record.id} ({plain(record.name)}, {record.role.value}); it is shown only once:"
        )
        typer.echo(key)

    @keys.command("list")
    def keys_list() -> None:
        """List keys (id, name, role, prefix, created, revoked); never the secret."""
        from swen.store.keys import ApiKeyRepository

        with open_store(state_settings()) as store:
            records = ApiKeyRepository(store).list()
        table = Table("id", "name", "role", "prefix", "created", "revoked")
        for r in records:
            revoked = r.revoked_at.isoformat(timespec="seconds") if r.revoked_at else ""
            table.add_row(
                str(r.id), plain(r.name), r.role.value, plain(r.prefix) + "...",
                r.created_at.isoformat(timespec="seconds"),
                revoked,
            )  # fmt: skip
        Console().print(table)

    @keys.command("revoke")
    def keys_revoke(key_id: KeyIdArgument) -> None:
        """Revoke a key (every API process refuses it within 2 s: keys are cached that long)."""
        from swen.store.keys import ApiKeyRepository

        with open_store(state_settings()) as store:
            record = ApiKeyRepository(store).revoke(key_id)
        typer.echo(f"revoked key {record.id} ({clean(record.name)}, {record.prefix}...)")
