"""GitOps commands: ``swen init`` and ``swen mr list|show|approve|reject``."""

from __future__ import annotations

import getpass
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markdown import Markdown
from rich.table import Table

from swen.cli.help import SwenTyper, choices
from swen.cli.params import MrIdArgument
from swen.cli.pipeline_cmds import finish, render_run, run_title, stage_row, superseded_by
from swen.cli.state import known_service, open_store, state_settings
from swen.cli.text import clean, plain
from swen.config import Settings, load_settings
from swen.domain.errors import InvalidInputError, NotFoundError
from swen.domain.merge_requests import MergeRequest, MRState
from swen.gitops.mr_hosts import MergeRequestHost, make_host
from swen.gitops.repo import InfraRepo, init_infra_repo
from swen.moves import reviews
from swen.moves.review_brief import ReviewBrief, review_brief
from swen.store.db import display_url
from swen.store.mrs import PipelineRepository
from swen.store.repository import Store

mr_app = SwenTyper(
    help="Merge requests SWEN opened: list, show, approve, reject, merge.", no_args_is_help=True
)
_STATE_STYLE = {MRState.OPENED: "yellow", MRState.MERGED: "green", MRState.CLOSED: "dim"}


@contextmanager
def _host(settings: Settings) -> Iterator[tuple[Store, MergeRequestHost]]:
    with open_store(settings) as store:
        try:
            repo: InfraRepo | None = InfraRepo.open(settings)
        except NotFoundError:
            repo = None
        yield store, make_host(settings, store, repo)


def _default_actor() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "operator"


def _state(mr: MergeRequest) -> str:
    return f"[{_STATE_STYLE[mr.state]}]{mr.state.value}[/]"


def _init(force: bool, settings: Settings | None = None) -> None:
    """``swen init``; ``settings``: these instead of the environment's (``swen up --production``)."""
    console = Console(soft_wrap=True)  # paths stay on one line (swen up logs it)
    settings = settings or state_settings()
    settings.home.mkdir(parents=True, exist_ok=True)
    with open_store(settings, create=True):
        console.print(f"store      ready   {display_url(settings.resolved_database_url)}")
    report = init_infra_repo(settings, force=force)
    for note in report.notes:
        console.print(f"note       {plain(note)}")
    remote_state = "created" if report.created_remote else "exists"
    console.print(f"origin     {remote_state:<7} {report.remote_url}")
    if report.created_repo:
        items = ", ".join(report.template_items)
        console.print(f"infra repo created {report.repo_path} (from template: {items}; main pushed)")
    elif report.cloned:
        console.print(f"infra repo cloned  {report.repo_path}")
    else:
        console.print(f"infra repo exists  {report.repo_path}")
    console.print(
        f"layout     root {plain(settings.terraform_root)}; placement map "
        f"{plain(settings.placements_variable)} in {plain(settings.placements_file)}; "
        f"merge requests: {plain(settings.mr_host)}"
    )


def _adopt(path: Path) -> None:
    from swen.gitops.adopt import check_repository
    from swen.telemetry.fleet import load_fleet

    settings = load_settings()
    report = check_repository(path.expanduser().resolve(), settings, load_fleet(settings.fleet_file))
    console = Console(soft_wrap=True, highlight=False)
    console.print(
        f"checking {plain(report.path)}"
        + (f" at {plain(report.ref)}" if report.ref else "")
        + f" against {plain(settings.settings_file or 'the settings (no swen.yaml)')}"
    )
    for check in report.checks:
        mark = "[green]ok[/]      " if check.ok else "[red]MISMATCH[/]"
        console.print(f"{mark} {plain(check.what):<19} {plain(check.detail)}")
        if check.fix:
            console.print(f"         {'':<19} [dim]fix: {plain(check.fix)}[/]")
    if report.mismatches:
        console.print(f"{len(report.mismatches)} check(s) do not match; nothing was changed")
        raise typer.Exit(1)
    console.print(
        "the repository matches: set infra_repo to this path in swen.yaml (or SWEN_INFRA_REPO), "
        "then run `swen init`"
    )


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""

    @app.command("init")
    def init_cmd(
        force: Annotated[
            bool, typer.Option("--force", help="Recreate the default infra repo and origin under $SWEN_HOME.")
        ] = False,
        adopt: Annotated[
            Path | None,
            typer.Option(
                "--adopt",
                metavar="PATH",
                help="Only check the existing infra repository at PATH against the settings (root, "
                "placement file and variable, fleet services, remote); changes nothing, exits 1 on a "
                "mismatch.",
            ),
        ] = None,
    ) -> None:
        """Create the store schema, the infra repository (from the template) and its origin. Idempotent.

        With --adopt PATH: check a repository of your own against the settings instead (see
        docs/OPERATIONS.md, "Using your own infra repository")."""
        if adopt is not None:
            if force:
                raise InvalidInputError("--adopt and --force do not go together", hint="drop --force")
            _adopt(adopt)
            return
        _init(force)

    app.add_typer(mr_app, name="mr")


@mr_app.command("list")
def mr_list(
    state: Annotated[
        str, typer.Option(metavar=choices([*MRState, "all"]), help="Only merge requests in this state.")
    ] = "all",
    service: Annotated[str | None, typer.Option(help="Only this service.")] = None,
) -> None:
    """List merge requests, newest first."""
    if state != "all" and state not in {s.value for s in MRState}:
        raise InvalidInputError(f"unknown state {state!r}", hint="use opened, merged, closed or all")
    with _host(state_settings()) as (store, host):
        if service is not None:
            known_service(store, service)
        items = host.list(state=None if state == "all" else MRState(state), service=service)
    table = Table(title=f"Merge requests ({len(items)})")
    for column in ("id", "service", "kind", "state", "branch", "decision", "approved by", "created (UTC)"):
        table.add_column(column, overflow="fold")
    for mr in items:
        table.add_row(
            str(mr.id),
            plain(mr.service),
            plain(mr.kind.value),
            _state(mr),
            plain(mr.branch),
            plain(mr.decision_id),
            plain(mr.approved_by or ""),
            mr.created_at.strftime("%Y-%m-%d %H:%M:%S"),
        )
    Console().print(table)


@mr_app.command("show")
def mr_show(mr_id: MrIdArgument) -> None:
    """Show one merge request: why a person is needed, its cost table, tfvars diff, plan and pipeline."""
    settings = state_settings()
    with _host(settings) as (store, host):
        mr = host.get(mr_id)
        run = PipelineRepository(store).latest_run(mr.id)
        superseded = superseded_by(store, mr.decision_id)
        brief = review_brief(settings, store, mr.id)
    console = Console()
    facts = Table.grid(padding=(0, 2))
    for key, value in (
        ("id", str(mr.id)),
        ("title", plain(mr.title)),
        ("state", _state(mr) + (f" - {plain(superseded)}" if superseded else "")),
        ("kind", plain(mr.kind.value)),
        ("service", plain(mr.service)),
        ("branch", plain(mr.branch)),
        ("decision", plain(mr.decision_id)),
        ("host", plain(mr.host + (f" ({mr.web_url})" if mr.web_url else ""))),
        ("review", plain(mr.review or "-")),
        ("approved by", plain(mr.approved_by or "-")),
        ("updated", mr.updated_at.isoformat(timespec="seconds")),
    ):
        facts.add_row(f"[bold]{key}[/]", value)
    console.print(facts)
    console.print(Markdown(clean(mr.description)))  # Markdown does not read rich markup
    _print_review(console, brief)
    if run is None:
        console.print("[dim]no pipeline run yet[/]")
        return
    stages = Table(title=f"Pipeline {run_title(run, superseded)}")
    for column in ("stage", "status", "seconds", "log (last line)"):
        stages.add_column(column, overflow="fold")
    for stage in run.stages:
        stages.add_row(*stage_row(stage, 1, superseded))
    console.print(stages)


def _print_review(console: Console, brief: ReviewBrief) -> None:
    """The reviewer's view: the gate's reasons, the cost table, the plan summary and the tfvars diff."""
    if brief.waiting_for_person:
        console.print(
            f"[bold yellow]waits for a person[/]: `swen mr approve {brief.mr_id}` or `swen mr reject`"
        )
    if brief.gate_outcome is not None:
        console.print(
            f"[bold]policy gate[/]  {plain(brief.gate_outcome)}" + (" (override)" if brief.override else "")
        )
        for reason in brief.gate_reasons:
            console.print(f"  - {plain(reason)}")
    if brief.cost:
        table = Table(title="Monthly cost")
        for column in ("", "before", "after", "change"):
            table.add_column(column, justify="left" if not column else "right")
        for line in brief.cost:
            table.add_row(
                plain(line.name), f"${line.before_monthly_usd:,.2f}", f"${line.after_monthly_usd:,.2f}",
                f"{'+' if line.delta_monthly_usd >= 0 else '-'}${abs(line.delta_monthly_usd):,.2f}",
            )  # fmt: skip
        console.print(table)
    if brief.plan is not None:
        console.print(f"[bold]{brief.plan.line}[/] (from the {brief.plan.stage} stage)")
        for r in brief.plan.resources:
            console.print(
                f"  {plain(r.action):<8} {plain(r.address)}" + (" [red](stateful)[/]" if r.stateful else "")
            )
    elif brief.plan_note:
        console.print(f"[dim]plan: {plain(brief.plan_note)}[/]")
    if brief.tfvars_diff:
        console.print("[bold]diff[/]")
        for diff_line in brief.tfvars_diff.splitlines():
            style = "green" if diff_line.startswith("+") else "red" if diff_line.startswith("-") else ""
            text = plain(diff_line)
            console.print(f"[{style}]{text}[/]" if style else text, highlight=False)
    if brief.diff_note:
        console.print(f"[dim]{plain(brief.diff_note)}[/]")


@mr_app.command("approve")
def mr_approve(
    mr_id: MrIdArgument,
    by: Annotated[str | None, typer.Option(help="Who approves (default: the current user).")] = None,
    record_only: Annotated[
        bool, typer.Option("--record-only", help="Only record the approval; the running engine applies it.")
    ] = False,
) -> None:
    """Approve a merge request; a decision waiting at the policy gate becomes approved and is applied
    (here, under the apply lock, unless --record-only leaves it to the running engine)."""
    from swen.moves.driver import MoveDriver

    settings = state_settings()
    with open_store(settings) as store:
        driver = MoveDriver(settings, store)
        mr = driver.approve(mr_id, by or _default_actor())
        Console().print(f"approved MR {mr.id} ({plain(mr.branch)}) by {plain(mr.approved_by)}")
        outcome = None if record_only else driver.apply_now(mr.id)
        status = store.get_decision(mr.decision_id).status
    if outcome is not None:
        render_run(outcome.run)
        finish(outcome.run)
    Console().print(
        f"decision {plain(mr.decision_id)} is {status}"
        + (" (a running engine applies it within a second or two)" if record_only else "")
    )


@mr_app.command("reject")
def mr_reject(
    mr_id: MrIdArgument,
    reason: Annotated[str, typer.Option(help="Why (kept in the audit log).")],
    by: Annotated[str | None, typer.Option(help="Who rejects (default: the current user).")] = None,
) -> None:
    """Reject (close) a merge request; its decision becomes rejected."""
    settings = state_settings()
    with _host(settings) as (store, host):
        mr = reviews.reject(settings, store, host, mr_id, by or _default_actor(), reason)
        status = store.get_decision(mr.decision_id).status
    Console().print(f"rejected MR {mr.id} ({plain(mr.branch)}); decision {plain(mr.decision_id)} is {status}")


@mr_app.command("merge")
def mr_merge(mr_id: MrIdArgument) -> None:
    """Merge an approved merge request into main of the infra remote (the pipeline applies main)."""
    from swen.moves.driver import MoveDriver

    settings = state_settings()
    with open_store(settings) as store:
        mr = MoveDriver(settings, store).merge(mr_id)
    Console().print(f"merged MR {mr.id} ({plain(mr.branch)}) into main")
