"""`swen api` (and so `swen up`) logs no line per request unless SWEN_ACCESS_LOG=true: the dashboard's
refreshes used to fill three quarters of `swen up`'s output."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import uvicorn

from swen.cli.web_cmds import serve_api
from swen.config import load_settings


@pytest.fixture
def uvicorn_kwargs(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    seen: dict[str, Any] = {}

    def run(app: object, **kwargs: Any) -> None:
        seen.update(kwargs)

    monkeypatch.setattr(uvicorn, "run", run)
    return seen


def test_no_access_log_by_default(uvicorn_kwargs: dict[str, Any], swen_home: Path) -> None:
    serve_api(load_settings(home=swen_home))
    assert uvicorn_kwargs["access_log"] is False


def test_the_access_log_on_request(
    uvicorn_kwargs: dict[str, Any], swen_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SWEN_ACCESS_LOG", "true")
    serve_api(load_settings(home=swen_home))
    assert uvicorn_kwargs["access_log"] is True
