"""``swen dashboard``: run the Streamlit dashboard (joined into ``swen up``).

The dashboard reads only the API. Its settings reach it through the environment: SWEN_API_URL (from
SWEN_API_URL or SWEN_API_HOST/PORT) and SWEN_API_KEY. Without SWEN_API_KEY the command provisions a
key for the local dashboard once (role operator, so a person at this machine can approve merge
requests), keeps it in ``$SWEN_HOME/dashboard.key`` (mode 0600) and reuses it while it is valid.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from swen.cli.state import state_settings
from swen.config import Settings
from swen.domain.errors import ConfigError

KEY_FILE = "dashboard.key"
AUTO_KEY_NAME = "dashboard (auto)"


def app_path() -> Path:
    return Path(__file__).resolve().parent.parent / "dashboard" / "app.py"


def dashboard_command(
    settings: Settings, key: str | None, *, host: str | None = None, port: int | None = None
) -> tuple[list[str], dict[str, str]]:
    """The argv and environment that run the dashboard with ``settings`` (pure: nothing is started)."""
    argv = [
        sys.executable, "-m", "streamlit", "run", str(app_path()),
        "--server.address", host or settings.dashboard_host,
        "--server.port", str(port or settings.dashboard_port),
        "--server.headless", "true",
        "--browser.gatherUsageStats", "false",
        "--server.fileWatcherType", "none",
        "--client.toolbarMode", "minimal",
    ]  # fmt: skip
    env = {**os.environ, "SWEN_API_URL": settings.resolved_api_url}
    if key:
        env["SWEN_API_KEY"] = key
    return argv, env


def local_dashboard_key(settings: Settings) -> str:
    """The key in ``$SWEN_HOME/dashboard.key`` if it still works, else a new operator key saved there."""
    from swen.domain.keys import Role
    from swen.store.keys import ApiKeyRepository
    from swen.store.repository import Store

    path = settings.home / KEY_FILE
    with Store.open(settings) as store:
        repo = ApiKeyRepository(store)
        if path.is_file():
            saved = path.read_text(encoding="utf-8").strip()
            if saved and repo.authenticate(saved) is not None:
                return saved
        _, key = repo.create(AUTO_KEY_NAME, Role.OPERATOR)
    settings.home.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(key + "\n")
    return key


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""

    @app.command("dashboard")
    def dashboard_cmd(
        host: Annotated[
            str | None, typer.Option(help="Bind address (default SWEN_DASHBOARD_HOST, 127.0.0.1).")
        ] = None,
        port: Annotated[
            int | None, typer.Option(min=1, max=65535, help="Port (default SWEN_DASHBOARD_PORT, 8501).")
        ] = None,
    ) -> None:
        """Serve the Streamlit dashboard (reads the API at SWEN_API_URL with SWEN_API_KEY)."""
        settings = state_settings()
        if settings.api_key is not None:
            key = settings.api_key.get_secret_value()
        else:
            key = local_dashboard_key(settings)
            Console(stderr=True, soft_wrap=True, highlight=False).print(
                f"dashboard: no SWEN_API_KEY set; using the local operator key in {settings.home / KEY_FILE}"
            )
        host, port = host or settings.dashboard_host, port or settings.dashboard_port
        argv, env = dashboard_command(settings, key, host=host, port=port)
        if not app_path().is_file():
            raise ConfigError(f"the dashboard script is missing at {app_path()}", hint="reinstall SWEN")
        Console(stderr=True, soft_wrap=True, highlight=False).print(
            f"dashboard: http://{host}:{port} reading the API at {settings.resolved_api_url}"
        )
        sys.stdout.flush()
        sys.stderr.flush()
        os.execve(sys.executable, argv, env)  # SIGTERM from `swen up` reaches Streamlit directly
