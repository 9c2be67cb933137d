"""Running ``swen`` in-process through its console entry point (``swen.cli.main``), as a user runs it:
SwenErrors become one ``error: ...`` line on stderr and a non-zero exit code.

``make_swen(capsys, monkeypatch)`` returns ``swen(*args, env=...) -> Run`` (exit code, stdout, stderr).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Protocol

import pytest

from swen.cli import main


@dataclass
class Run:
    code: int | str | None
    out: str
    err: str

    def assert_ok(self) -> None:
        assert self.code in (0, None), (self.code, self.out, self.err)

    def assert_one_line_error(self, needle: str) -> None:
        assert self.code not in (0, None), (self.code, self.out, self.err)
        assert "Traceback" not in self.out + self.err
        lines = self.err.strip().splitlines()
        assert len(lines) == 1, self.err
        assert lines[0].startswith("error: ") and needle in lines[0], lines[0]


class Swen(Protocol):
    def __call__(self, *args: str, env: dict[str, str] | None = None) -> Run: ...


def make_swen(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Swen:
    """``swen(*args)``: run the command line once and capture what it printed (wide terminal)."""
    monkeypatch.setenv("COLUMNS", "200")

    def run(*args: str, env: dict[str, str] | None = None) -> Run:
        for key, value in (env or {}).items():
            monkeypatch.setenv(key, value)
        monkeypatch.setattr(sys, "argv", ["swen", *args])
        capsys.readouterr()
        code: int | str | None = 0
        try:
            main()
        except SystemExit as exited:
            code = exited.code
        captured = capsys.readouterr()
        return Run(code, captured.out, captured.err)

    return run
