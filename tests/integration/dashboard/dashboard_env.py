"""Dashboard test helpers: a real API (uvicorn in a thread) on a temporary store seeded by the real
simulator, engine loop, committer and pipeline (``swen.demo.seed``); AppTest runs the real app."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import uvicorn
from streamlit.testing.v1 import AppTest

from swen.api.app import create_app
from swen.demo.harness import free_port
from swen.demo.seed import SeededPlatform, seed_demo
from swen.store.repository import Store

APP = str(Path(__file__).resolve().parents[3] / "src" / "swen" / "dashboard" / "app.py")
TABS = ("Overview", "AI Decisions", "Incidents", "Cost Analysis", "Telemetry", "Live Feed")


@dataclass
class LiveApi:
    url: str
    platform: SeededPlatform
    store: Store


def serve(platform: SeededPlatform) -> Iterator[LiveApi]:
    store = Store.open(platform.settings, migrate=False)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(platform.settings, store=store), host="127.0.0.1", port=port, log_level="error"
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the API did not start")
        time.sleep(0.02)
    try:
        yield LiveApi(f"http://127.0.0.1:{port}", platform, store)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        store.close()


def seed(home: Path, **kwargs: object) -> SeededPlatform:
    tf_config = home.parent / "empty.tfrc"
    tf_config.write_text("")
    with pytest.MonkeyPatch.context() as mp:
        for key in [k for k in os.environ if k.startswith("SWEN_") and k != "SWEN_TEST_PG_URL"]:
            mp.delenv(key)
        mp.setenv("TF_CLI_CONFIG_FILE", str(tf_config))
        return seed_demo(home, **kwargs)  # type: ignore[arg-type]


def make_app(api_url: str, key: str | None, monkeypatch: pytest.MonkeyPatch, *, tab: str) -> AppTest:
    """The real dashboard script pointed at ``api_url`` with ``key``, opened on ``tab``."""
    monkeypatch.setenv("SWEN_API_URL", api_url)
    if key is None:
        monkeypatch.delenv("SWEN_API_KEY", raising=False)
    else:
        monkeypatch.setenv("SWEN_API_KEY", key)
    at = AppTest.from_file(APP, default_timeout=60)
    at.session_state["tab"] = tab
    return at
