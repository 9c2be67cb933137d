"""`swen keys create|list|revoke` and `swen api` (a real uvicorn on a loopback port)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from swen.cli import app
from swen.config import Settings
from swen.store.keys import ApiKeyRepository
from swen.store.repository import Store


@pytest.fixture
def env(swen_home: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    monkeypatch.setenv("SWEN_HOME", str(swen_home))
    return {**os.environ, "SWEN_HOME": str(swen_home)}


def test_keys_create_list_revoke(env: dict[str, str], swen_home: Path) -> None:
    Store.open(Settings(home=swen_home)).close()  # `swen keys` needs existing state (`swen init`)
    runner = CliRunner()
    created = runner.invoke(app, ["keys", "create", "--role", "operator", "--name", "ci"])
    assert created.exit_code == 0, created.output
    key = created.stdout.strip().splitlines()[-1]
    assert key.startswith("swen_")
    listed = runner.invoke(app, ["keys", "list"])
    assert listed.exit_code == 0 and "operator" in listed.stdout and key[:12] in listed.stdout
    assert key not in listed.stdout
    with Store.from_url(f"sqlite:///{swen_home / 'swen.db'}", migrate=False) as store:
        assert ApiKeyRepository(store).authenticate(key) is not None
        revoked = runner.invoke(app, ["keys", "revoke", "1"])
        assert revoked.exit_code == 0 and "revoked key 1" in revoked.stdout
        assert ApiKeyRepository(store).authenticate(key) is None


def test_keys_create_refuses_a_bad_role(env: dict[str, str]) -> None:
    from swen.domain.errors import InvalidInputError

    result = CliRunner().invoke(app, ["keys", "create", "--role", "root", "--name", "x"])
    assert result.exit_code != 0 and isinstance(result.exception, InvalidInputError)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_swen_api_serves_on_loopback(env: dict[str, str]) -> None:
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "swen", "api", "--port", str(port)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except httpx.TransportError:
                assert proc.poll() is None and time.monotonic() < deadline, "swen api did not start"
                time.sleep(0.2)
        assert r.status_code == 200 and r.json() == {"status": "ok"}
        assert httpx.get(f"http://127.0.0.1:{port}/services").status_code == 401
        assert "swen_http_request_duration_seconds" in httpx.get(f"http://127.0.0.1:{port}/metrics").text
    finally:
        proc.terminate()
        proc.wait(timeout=15)
