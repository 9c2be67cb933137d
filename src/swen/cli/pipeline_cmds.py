"""Pipeline commands: ``swen pipeline run|stage|show|sync|lock``, ``swen rollback`` and ``swen place``.

A run whose decision a newer one superseded (or the engine withdrew) is shown as such
(:func:`superseded_by`): "superseded by MR n (decision ...)" instead of the status it was left in, and
its waiting stage no longer suggests `swen mr approve`.

``--mr`` of ``swen pipeline stage`` is the id GitLab CI knows: with ``SWEN_MR_HOST=gitlab`` it is the
GitLab merge request IID (``$CI_MERGE_REQUEST_IID``), otherwise SWEN's own MR id (``swen mr list``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from swen.cli.help import SwenTyper
from swen.cli.params import MrIdArgument, MrIdOption
from swen.cli.state import open_store, state_settings
from swen.cli.text import plain
from swen.config import Settings
from swen.domain.decision import DecisionStatus
from swen.domain.errors import NotFoundError, PipelineError
from swen.domain.merge_requests import PipelineRun, PipelineStage, RunStatus, StageStatus
from swen.pipeline.lock import APPLY_LOCK_NAME, current_holder
from swen.store.repository import Store

pipeline_app = SwenTyper(
    help="The merge-request pipeline: validate -> policy -> plan -> apply -> notify.", no_args_is_help=True
)
_STATUS_STYLE = {
    StageStatus.SUCCESS: "green",
    StageStatus.FAILED: "bold red",
    StageStatus.RUNNING: "cyan",
    StageStatus.WAITING: "yellow",
    StageStatus.SKIPPED: "dim",
}


class StageChoice(StrEnum):
    validate = "validate"
    policy = "policy"
    plan = "plan"
    apply = "apply"
    notify = "notify"


@contextmanager
def _driver(settings: Settings) -> Iterator[Any]:
    from swen.moves.driver import MoveDriver  # git, terraform and regopy only when a command needs them

    with open_store(settings) as store:
        yield MoveDriver(settings, store)


def _resolve_mr(settings: Settings, driver: Any, value: int) -> int:
    """The store id of ``value``: a GitLab IID under SWEN_MR_HOST=gitlab, else the store id itself."""
    if settings.mr_host != "gitlab":
        return value
    for mr in driver.host.list():
        if mr.external_id == str(value):
            return int(mr.id)
    raise NotFoundError(f"no merge request with GitLab IID {value}", hint="was it opened by SWEN?")


def superseded_by(store: Store, decision_id: str) -> str | None:
    """The note "superseded by MR n (decision d)" when a newer decision replaced ``decision_id``
    ("withdrawn: <reason>" when the engine withdrew it), else None."""
    try:
        if store.get_decision(decision_id).status is not DecisionStatus.SUPERSEDED:
            return None
    except NotFoundError:  # an MR on a host whose decision this store does not hold
        return None
    detail = store.transition_detail(decision_id, DecisionStatus.SUPERSEDED)
    by = detail.get("by_decision")
    if not by:
        return f"withdrawn: {detail['reason']}" if detail.get("reason") else "superseded"
    try:
        mr_id = store.transition_detail(str(by), DecisionStatus.MR_OPENED).get("mr_id")
    except NotFoundError:
        mr_id = None
    via = f"MR {mr_id} (decision {by})" if mr_id is not None else f"decision {by}"
    return f"superseded by {via}"


def run_title(run: PipelineRun, superseded: str | None) -> str:
    """``run 3: failed``; the note instead of the status a superseded run was left in."""
    status = superseded if superseded and run.status is not RunStatus.SUCCESS else run.status.value
    return f"run {run.id}: {plain(status)}"


def stage_row(stage: PipelineStage, lines: int, superseded: str | None) -> tuple[str, str, str, str]:
    """stage, status, seconds, log tail; a stage left waiting for a person shows the superseded note."""
    if superseded and stage.status is StageStatus.WAITING:
        return stage.name.value, "[dim]ended[/]", "", plain(superseded)
    tail = "\n".join(stage.log.strip().splitlines()[-lines:]) if lines > 0 else ""
    seconds = "" if stage.duration_s is None else f"{stage.duration_s:.2f}"
    style = _STATUS_STYLE.get(stage.status, "")
    return stage.name.value, f"[{style}]{stage.status.value}[/]", seconds, plain(tail)


def render_run(
    run: PipelineRun | None,
    *,
    lines: int = 3,
    console: Console | None = None,
    superseded: str | None = None,
) -> None:
    """A stage table: status, duration and the last log lines of each stage (``superseded``: the
    note of :func:`superseded_by`)."""
    console = console or Console()
    if run is None:
        console.print("[dim]no pipeline run yet[/]")
        return
    table = Table(title=f"MR {run.mr_id} - pipeline {run_title(run, superseded)}")
    for column in ("stage", "status", "seconds", f"log (last {lines} lines)"):
        table.add_column(column, overflow="fold")
    for stage in run.stages:
        table.add_row(*stage_row(stage, lines, superseded))
    console.print(table)
    outcome = (run.policy_result or {}).get("outcome")
    if outcome:
        reasons = (run.policy_result or {}).get("reasons", [])
        lines_out = "".join(f"\n  - {plain(r)}" for r in reasons)
        console.print(f"policy: [bold]{plain(outcome)}[/]{lines_out}", highlight=False)


def finish(run: PipelineRun) -> None:
    """Exit non-zero with the failing stage's error when the run failed."""
    if run.status is RunStatus.AWAITING_APPROVAL:
        Console().print(
            f"waiting for a person: `swen mr approve {run.mr_id}` applies it, "
            f"`swen mr reject {run.mr_id} --reason ...` drops it"
        )
        return
    if run.status is RunStatus.FAILED:
        failed = next((s for s in run.stages if s.status is StageStatus.FAILED), None)
        if failed is None:
            raise PipelineError(f"pipeline run {run.id} of MR {run.mr_id} failed", stage=None)
        errors = [line for line in failed.log.splitlines() if line.startswith("ERROR: ")]
        reason = errors[-1].removeprefix("ERROR: ") if errors else "see `swen pipeline show`"
        raise PipelineError(
            f"stage {failed.name.value} failed: {reason}",
            hint=f"`swen pipeline show {run.mr_id} --lines 40` shows the full log",
            stage=failed.name.value,
        )


def _write_json(path: Path, value: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value, indent=2, sort_keys=True) + "\n", encoding="utf-8")


@pipeline_app.command("run")
def run_cmd(mr_id: MrIdArgument) -> None:
    """Run all five stages on a clean worktree of the MR branch (stops for manual review)."""
    with _driver(state_settings()) as driver:
        run = driver.run(mr_id).run
    render_run(run)
    finish(run)


@pipeline_app.command("stage")
def stage_cmd(
    name: Annotated[StageChoice, typer.Argument(help="The stage to run.")],
    mr: MrIdOption,
    result_file: Annotated[
        Path | None, typer.Option(help="policy: write {outcome, reasons, override} here.")
    ] = None,
    input_file: Annotated[Path | None, typer.Option(help="policy: write the gate's input JSON here.")] = None,
    approved_by: Annotated[
        str | None,
        typer.Option(
            envvar="GITLAB_USER_LOGIN",
            help="apply: who approved a run waiting for review (GitLab: the user who played the manual job).",
        ),
    ] = None,
) -> None:
    """Run one stage (GitLab CI runs one job per stage); `validate` starts a new run."""
    settings = state_settings()
    with _driver(settings) as driver:
        mr_id = _resolve_mr(settings, driver, mr)
        if name is StageChoice.apply and approved_by:
            latest = driver.runner.runs.latest_run(mr_id)
            if latest is not None and latest.status is RunStatus.AWAITING_APPROVAL:
                mr_now = driver.host.get(mr_id)
                if mr_now.approved_by is None:
                    driver.approve(mr_id, approved_by)
        run = driver.runner.run_stage(mr_id, name.value).run
    if name is StageChoice.policy and run.policy_result:
        result = {k: run.policy_result[k] for k in ("outcome", "reasons", "override")}
        if result_file is not None:
            _write_json(result_file, result)
        if input_file is not None:
            _write_json(input_file, run.policy_result.get("input", {}))
    render_run(run, lines=5)
    stage = next((s for s in run.stages if s.name.value == name.value), None)
    if run.status is RunStatus.FAILED and (stage is None or stage.status is StageStatus.FAILED):
        finish(run)


@pipeline_app.command("show")
def show_cmd(
    mr_id: MrIdArgument,
    lines: Annotated[int, typer.Option(min=0, max=10_000, help="Log lines per stage.")] = 3,
) -> None:
    """Show the latest run of a merge request: each stage's status, duration and last log lines."""
    from swen.gitops.mr_hosts import make_host
    from swen.store.mrs import PipelineRepository

    settings = state_settings()
    with open_store(settings) as store:
        mr = make_host(settings, store).get(mr_id)
        run = PipelineRepository(store).latest_run(mr_id)
        note = superseded_by(store, mr.decision_id)
    if note:
        Console().print(f"MR {mr.id} was {plain(note)}; nothing to approve", highlight=False)
    render_run(run, lines=lines, superseded=note)


@pipeline_app.command("sync")
def sync_cmd() -> None:
    """Apply main as it is and record every service's placement (once after `swen init`)."""
    with _driver(state_settings()) as driver:
        placements = driver.sync()
    table = Table(title=f"Applied placements ({len(placements)})")
    table.add_column("service")
    table.add_column("placement")
    for service, placement in sorted(placements.items()):
        table.add_row(plain(service), plain(placement.key))  # read from terraform.tfvars on main
    Console().print(table)


@pipeline_app.command("lock")
def lock_cmd() -> None:
    """Show who holds the apply lock (stale locks are taken over automatically by the next apply)."""
    settings = state_settings()
    with open_store(settings) as store:
        holder = current_holder(store, APPLY_LOCK_NAME)
    if holder is None:
        Console().print(f"{APPLY_LOCK_NAME}: free")
    else:
        Console().print(f"{APPLY_LOCK_NAME}: held by {plain(holder.describe())}", highlight=False)


def place_cmd(
    service: Annotated[str, typer.Argument(help="Service to move (see `swen services`).")],
    placement: Annotated[
        str, typer.Argument(metavar="PROVIDER/REGION", help="Where it should run, e.g. aws/us-east-1.")
    ],
    by: Annotated[str | None, typer.Option(help="Who chooses (default: $USER).")] = None,
    reason: Annotated[str, typer.Option(help="Why, for the reviewer and the audit log.")] = "",
) -> None:
    """Choose where a service runs: a merge request through the normal pipeline and policy gate.

    A choice the engine does not rank first waits for a person's approval (`swen mr approve N`)."""
    from swen.cli.ops_cmds import _actor
    from swen.moves import automation
    from swen.moves.choice import choose, parse_target
    from swen.telemetry.price_versions import active_catalog

    target = parse_target(placement)
    settings = state_settings()
    with _driver(settings) as driver:
        chosen = choose(
            settings,
            driver.store,
            active_catalog(driver.store).catalog,
            service,
            target,
            by=_actor(by),
            reason=reason,
        )
        paused = automation.is_paused(driver.store)
        decision, mr, outcome = driver.place(chosen)
    console = Console()
    console.print(f"decision {plain(decision.id)}: {plain(decision.explanation)}", highlight=False)
    for line in decision.reasons[1:]:
        console.print(f"  [yellow]{plain(line)}[/]", highlight=False)
    console.print(f"MR {mr.id} ({plain(mr.branch)})", highlight=False)
    if paused:
        console.print("[yellow]automation is paused: nothing is applied without a person's approval[/]")
    render_run(outcome.run)
    finish(outcome.run)


def rollback_cmd(
    decision_id: Annotated[str, typer.Argument(help="Decision to undo (applied, verified or failed).")],
) -> None:
    """Open a rollback MR that puts the previous placement back, and run it through the pipeline."""
    with _driver(state_settings()) as driver:
        mr, outcome = driver.rollback(decision_id)
    Console().print(f"rollback MR {mr.id} ({plain(mr.branch)})", highlight=False)
    render_run(outcome.run)
    finish(outcome.run)


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    app.add_typer(pipeline_app, name="pipeline")
    app.command("rollback")(rollback_cmd)
    app.command("place")(place_cmd)
