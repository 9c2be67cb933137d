"""The Makefile's setup: `make run` installs SWEN without the dev tools and shows pip's progress;
`make test` (and lint, typecheck) install the dev extras, and a runtime-only install never counts as
one. Checked with `make -n` (prints the recipe, runs nothing) in a copy of the Makefile."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="needs GNU make")


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of the Makefile and pyproject.toml with a venv whose python exists, pyproject older."""
    shutil.copy(ROOT / "Makefile", tmp_path / "Makefile")
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    python = tmp_path / ".venv" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text("#!/bin/sh\n", encoding="utf-8")
    python.chmod(0o755)
    os.utime(tmp_path / "pyproject.toml", (1_000_000_000, 1_000_000_000))
    return tmp_path


def _plan(project: Path, target: str) -> list[str]:
    """The commands `make TARGET` would run (dry run)."""
    # `make test` runs this test inside make: drop the parent's make variables, or the dry run prints
    # "make[1]: Entering/Leaving directory" lines around the recipe
    env = {k: v for k, v in os.environ.items() if k not in {"MAKEFLAGS", "MAKELEVEL", "MFLAGS"}}
    done = subprocess.run(
        ["make", "--no-print-directory", "-n", target],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout.splitlines()


def _installs(lines: list[str]) -> list[str]:
    return [line for line in lines if "pip install" in line and "-U pip" not in line]


def test_run_installs_the_runtime_only_with_progress(project: Path) -> None:
    plan = _plan(project, "run")
    installs = _installs(plan)
    assert installs == [".venv/bin/pip install -e ."], plan
    assert not any(" -q" in line for line in plan if "pip install" in line), "pip must show progress"
    assert plan[-1] == ".venv/bin/swen up"


def test_rehearsal_runs_the_production_topology_on_the_runtime_install(project: Path) -> None:
    plan = _plan(project, "rehearsal")
    assert _installs(plan) == [".venv/bin/pip install -e ."], plan
    assert plan[-1] == ".venv/bin/swen up --production"


def test_test_targets_install_the_dev_extras(project: Path) -> None:
    for target in ("lint", "typecheck", "setup"):
        assert _installs(_plan(project, target)) == [".venv/bin/pip install -e '.[dev]'"], target


def test_a_runtime_install_does_not_satisfy_the_dev_targets(project: Path) -> None:
    (project / ".venv" / ".runtime-stamp").touch()  # as `make run` leaves it
    assert _installs(_plan(project, "run")) == []  # up to date
    assert _installs(_plan(project, "lint")) == [".venv/bin/pip install -e '.[dev]'"]


def test_a_dev_install_satisfies_run(project: Path) -> None:
    plan = _plan(project, "setup")
    assert "touch .venv/.installed-stamp .venv/.runtime-stamp" in plan  # the dev recipe marks both
    (project / ".venv" / ".installed-stamp").touch()
    (project / ".venv" / ".runtime-stamp").touch()
    assert _installs(_plan(project, "run")) == []
    assert _installs(_plan(project, "lint")) == []


def test_a_changed_pyproject_reinstalls(project: Path) -> None:
    for stamp in (".installed-stamp", ".runtime-stamp"):
        (project / ".venv" / stamp).touch()
        os.utime(project / ".venv" / stamp, (1_000_000_100, 1_000_000_100))
    os.utime(project / "pyproject.toml")  # now: newer than both stamps
    assert _installs(_plan(project, "run")) == [".venv/bin/pip install -e ."]
    assert _installs(_plan(project, "lint")) == [".venv/bin/pip install -e '.[dev]'"]


def _marker_expression(project: Path, target: str) -> str:
    """The ``-m`` expression of the pytest command `make TARGET` runs."""
    line = next(line for line in _plan(project, target) if "bin/pytest" in line)
    args = shlex.split(line.split("&&")[-1])
    return args[args.index("-m") + 1]


def _collected(*marker_args: str) -> set[str]:
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", *marker_args,
         "tests/integration/test_rehearsal.py"],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode in (0, 5), done.stdout + done.stderr  # 5: nothing selected
    return {line.split("::")[-1] for line in done.stdout.splitlines() if "::" in line}


def test_make_test_and_make_rehearsal_test_split_the_rehearsal_tests(project: Path) -> None:
    """The slow rehearsal (every process started for real) runs in `make rehearsal-test`, a step of its
    own in .ci/run; the quick checks of what stops it before anything starts stay in `make test`."""
    everything = _collected()
    in_test = _collected("-m", _marker_expression(project, "test"))
    in_rehearsal = _collected("-m", _marker_expression(project, "rehearsal-test"))
    assert in_rehearsal == {
        "test_killing_one_api_replica_under_load_fails_only_the_requests_in_flight",
        "test_the_rehearsal_starts_every_role_on_a_private_cluster_and_stops_cleanly",
    }
    assert in_test and not in_test & in_rehearsal and in_test | in_rehearsal == everything
    ci = (ROOT / ".ci" / "run").read_text()
    assert ci.index("make test ||") < ci.index("make rehearsal-test ||") < ci.index("make image-test ||")
