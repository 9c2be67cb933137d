"""Runs the real ``terraform`` binary for one root module (no shell, no prompts, no colour).

Every command gets its own empty CLI configuration file (``TF_CLI_CONFIG_FILE``; the environment on
these machines points it at a missing file), ``TF_IN_AUTOMATION=1``, ``TF_INPUT=0`` and
``CHECKPOINT_DISABLE=1`` (no version check over the network). Failures raise
:class:`TerraformError` (a :class:`~swen.domain.errors.PipelineError`) carrying the stage, the log
and whether a retry may help (state lock held, network trouble).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
import time
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from swen.domain.errors import PipelineError
from swen.domain.models import Placement

DEFAULT_TIMEOUT_S = 600.0

_TRANSIENT_PATTERNS = re.compile(
    r"error acquiring the state lock|state lock|lock info|connection refused|connection reset|"
    r"i/o timeout|timeout awaiting|tls handshake|no such host|temporary failure in name resolution|"
    r"failed to query available provider packages|could not connect|network is unreachable|"
    r"too many requests|\b429\b|\b50[234]\b|throttl|requestlimitexceeded|service unavailable",
    re.IGNORECASE,
)
_STRIPPED_ENV_PREFIXES = ("TF_CLI_ARGS", "TF_DATA_DIR", "TF_CLI_CONFIG_FILE", "TF_INPUT")
"""Inherited variables that would inject arguments or move state behind the runner's back."""
_ERROR_LINE = re.compile(r"^[│\s]*Error: (.+)$", re.MULTILINE)


@dataclass(frozen=True)
class StageOutput:
    """The result of one terraform command."""

    ok: bool
    log: str
    duration_s: float
    command: tuple[str, ...] = ()
    returncode: int = 0


class TerraformError(PipelineError):
    """A terraform command failed. ``log`` holds its combined output."""

    def __init__(
        self,
        message: str,
        *,
        stage: str,
        log: str = "",
        returncode: int | None = None,
        transient: bool = False,
        hint: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint, stage=stage, transient=transient)
        self.log = log
        self.returncode = returncode


class Terraform(Protocol):
    """What the pipeline needs from a terraform runner (the real one is :class:`TerraformRunner`)."""

    def fmt_check(self, *, check: bool = True) -> StageOutput: ...
    def init(self, *, check: bool = True) -> StageOutput: ...
    def validate(self, *, check: bool = True) -> StageOutput: ...
    def plan(self, out: Path, *, check: bool = True) -> StageOutput: ...
    def show_json(self, planfile: Path) -> dict[str, Any]: ...
    def apply(self, planfile: Path, *, check: bool = True) -> StageOutput: ...
    def output_json(self) -> dict[str, Any]: ...


def is_transient(log: str) -> bool:
    """True when terraform's output looks like a lock or network problem that a retry may fix."""
    return bool(_TRANSIENT_PATTERNS.search(log))


def first_error(log: str) -> str | None:
    """The first ``Error: ...`` summary line terraform printed, if any."""
    match = _ERROR_LINE.search(log)
    return match.group(1).strip() if match else None


def _make_cli_config_dir() -> Path:
    path = Path(tempfile.mkdtemp(prefix="swen-terraform-"))
    (path / "terraformrc").write_text("# SWEN: empty Terraform CLI configuration\n", encoding="utf-8")
    return path


class TerraformRunner:
    """Runs terraform in ``root`` (a root module directory).

    ``var_files`` are passed as ``-var-file`` to plan (e.g. the infra repository's
    ``terraform.tfvars``); ``fmt_dir`` is the tree ``fmt_check`` checks (default: ``root``).
    """

    def __init__(
        self,
        root: Path,
        *,
        var_files: Sequence[Path] = (),
        fmt_dir: Path | None = None,
        binary: str = "terraform",
        timeout_s: float = DEFAULT_TIMEOUT_S,
        lock_timeout: str = "0s",
        extra_env: Mapping[str, str] | None = None,
    ) -> None:
        self.root = Path(root).resolve()
        if not self.root.is_dir():
            raise PipelineError(
                f"terraform root {self.root} is not a directory",
                hint="point the runner at a directory holding .tf files (e.g. infra/envs/sim)",
                stage="init",
            )
        self.var_files = tuple(Path(v).resolve() for v in var_files)
        for var_file in self.var_files:
            if not var_file.is_file():
                raise PipelineError(
                    f"variables file {var_file} does not exist",
                    hint="pass the infra repository's terraform.tfvars",
                    stage="plan",
                )
        self.fmt_dir = Path(fmt_dir).resolve() if fmt_dir else self.root
        self.binary = binary
        self.timeout_s = timeout_s
        self.lock_timeout = lock_timeout
        self._extra_env = dict(extra_env or {})
        self._config_dir = _make_cli_config_dir()
        self._finalizer = weakref.finalize(self, shutil.rmtree, self._config_dir, ignore_errors=True)

    # --- lifecycle -------------------------------------------------------------------------------
    def close(self) -> None:
        """Remove the runner's private CLI config directory."""
        self._finalizer()

    def __enter__(self) -> TerraformRunner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def cli_config_file(self) -> Path:
        return self._config_dir / "terraformrc"

    def environment(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(_STRIPPED_ENV_PREFIXES)}
        env.update(
            TF_CLI_CONFIG_FILE=str(self.cli_config_file),
            TF_IN_AUTOMATION="1",
            TF_INPUT="0",
            CHECKPOINT_DISABLE="1",
        )
        env.update(self._extra_env)
        return env

    # --- commands --------------------------------------------------------------------------------
    def fmt_check(self, *, check: bool = True) -> StageOutput:
        """``terraform fmt -check -recursive -diff`` on ``fmt_dir``; lists unformatted files."""
        return self._run(
            "validate", ["fmt", "-check", "-recursive", "-diff", "-no-color", str(self.fmt_dir)], check=check
        )

    def init(self, *, check: bool = True, backend: bool = True) -> StageOutput:
        args = ["init", "-input=false", "-no-color"]
        if not backend:
            args.append("-backend=false")
        return self._run("init", args, check=check)

    def validate(self, *, check: bool = True) -> StageOutput:
        return self._run("validate", ["validate", "-no-color"], check=check)

    def plan(self, out: Path, *, check: bool = True, destroy: bool = False) -> StageOutput:
        """``terraform plan -out=<out>`` with the runner's variable files."""
        args = [
            "plan",
            "-input=false",
            "-no-color",
            f"-lock-timeout={self.lock_timeout}",
            f"-out={_abs(out)}",
        ]
        args += [f"-var-file={v}" for v in self.var_files]
        if destroy:
            args.append("-destroy")
        return self._run("plan", args, check=check)

    def show_json(self, planfile: Path) -> dict[str, Any]:
        """The plan as JSON (``terraform show -json <planfile>``)."""
        result = self._run(
            "plan", ["show", "-json", "-no-color", str(_abs(planfile))], check=True, keep_stdout=True
        )
        return self._parse_json(result.log, "plan", "terraform show -json")

    def apply(self, planfile: Path, *, check: bool = True) -> StageOutput:
        """Apply a saved plan (no variables or approval needed: the plan carries them)."""
        args = [
            "apply",
            "-input=false",
            "-no-color",
            f"-lock-timeout={self.lock_timeout}",
            str(_abs(planfile)),
        ]
        return self._run("apply", args, check=check)

    def output_json(self) -> dict[str, Any]:
        """Every root output's value (``terraform output -json``), name -> value."""
        result = self._run("apply", ["output", "-json", "-no-color"], check=True, keep_stdout=True)
        raw = self._parse_json(result.log, "apply", "terraform output -json")
        return {name: entry.get("value") for name, entry in raw.items() if isinstance(entry, dict)}

    def applied_placements(self) -> dict[str, Placement]:
        """The ``placements`` output (service -> {provider, region}) as domain placements."""
        outputs = self.output_json()
        return placements_from_outputs(outputs)

    # --- internals -------------------------------------------------------------------------------
    def _run(self, stage: str, args: list[str], *, check: bool, keep_stdout: bool = False) -> StageOutput:
        command = (self.binary, *args)
        started = time.perf_counter()
        try:
            proc = subprocess.run(
                command,
                cwd=self.root,
                env=self.environment(),
                capture_output=True,
                text=True,
                timeout=self.timeout_s,
                check=False,
            )
        except FileNotFoundError:
            raise TerraformError(
                f"terraform binary {self.binary!r} not found",
                stage=stage,
                hint="install terraform >= 1.9 on PATH or set SWEN_TERRAFORM_BIN",
            ) from None
        except subprocess.TimeoutExpired as exc:
            partial = _text(exc.stdout) + _text(exc.stderr)
            raise TerraformError(
                f"terraform {args[0]} timed out after {self.timeout_s:.0f} s",
                stage=stage,
                log=partial,
                transient=True,
                hint="retry; if it keeps timing out, check the state lock and the network",
            ) from None
        duration = time.perf_counter() - started
        log = proc.stdout if keep_stdout else _combine(proc.stdout, proc.stderr)
        output = StageOutput(proc.returncode == 0, log, duration, command, proc.returncode)
        if proc.returncode != 0 and check:
            full_log = _combine(proc.stdout, proc.stderr)
            raise self._failure(stage, args[0], full_log, proc.returncode)
        return output

    def _failure(self, stage: str, subcommand: str, log: str, returncode: int) -> TerraformError:
        transient = is_transient(log)
        summary = first_error(log)
        if subcommand == "fmt":
            files = [line for line in log.splitlines() if line.endswith((".tf", ".tfvars"))]
            summary = "not formatted: " + ", ".join(files) if files else summary
        message = f"terraform {subcommand} failed in {self.root.name}" + (f": {summary}" if summary else "")
        hint = (
            "a retry may help (state lock or network)"
            if transient
            else "run `terraform fmt -recursive`"
            if subcommand == "fmt"
            else "see the log for terraform's full diagnostics"
        )
        return TerraformError(
            message, stage=stage, log=log, returncode=returncode, transient=transient, hint=hint
        )

    @staticmethod
    def _parse_json(text: str, stage: str, what: str) -> dict[str, Any]:
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            raise TerraformError(f"{what} did not print JSON: {exc}", stage=stage, log=text) from None
        if not isinstance(value, dict):
            raise TerraformError(f"{what} printed JSON that is not an object", stage=stage, log=text)
        return value


def placements_from_outputs(outputs: Mapping[str, Any]) -> dict[str, Placement]:
    """Read ``placements`` (service -> {provider, region}) from ``terraform output -json`` values."""
    raw = outputs.get("placements")
    if not isinstance(raw, Mapping):
        raise PipelineError(
            "the terraform root has no `placements` output",
            hint="declare output `placements` (service => {provider, region}) in the terraform root "
            "(as infra/envs/sim/outputs.tf does) and apply it",
            stage="apply",
        )
    result: dict[str, Placement] = {}
    for service, value in raw.items():
        if not isinstance(value, Mapping):
            raise PipelineError(f"placements[{service!r}] is not an object", stage="apply")
        try:
            result[str(service)] = Placement(provider=value["provider"], region=value["region"])
        except (KeyError, ValueError) as exc:
            raise PipelineError(
                f"placements[{service!r}] is not a valid {{provider, region}}: {exc}", stage="apply"
            ) from None
    return result


def _abs(path: Path) -> Path:
    """Plan files are relative to the caller's working directory, not to the root terraform runs in."""
    return Path(path).resolve()


def _text(value: str | bytes | None) -> str:
    if value is None:
        return ""
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def _combine(stdout: str, stderr: str) -> str:
    if stdout and stderr:
        return f"{stdout.rstrip()}\n{stderr}"
    return stdout or stderr
