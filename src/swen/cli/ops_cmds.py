"""Operations commands: ``swen automation pause|resume|status`` and ``swen incident list|show``."""

from __future__ import annotations

import getpass
import json
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from swen.cli.help import SwenTyper
from swen.cli.params import IncidentIdArgument
from swen.cli.state import open_store, state_settings
from swen.cli.text import plain
from swen.config import Settings
from swen.domain.incidents import IncidentStatus
from swen.healing.quarantine import Quarantine
from swen.healing.report import incident_report, incident_summaries
from swen.moves import automation
from swen.store.incidents import IncidentRepository

console = Console()
automation_app = SwenTyper(help="The global switch for automatic merges and applies.", no_args_is_help=True)
incident_app = SwenTyper(help="Incidents and their post-incident reports.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    app.add_typer(automation_app, name="automation")
    app.add_typer(incident_app, name="incident")


def _settings() -> Settings:
    return state_settings()


def _actor(by: str | None) -> str:
    if by:
        return by
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


# --- automation -----------------------------------------------------------------------------------


ByOption = Annotated[str | None, typer.Option("--by", help="Who (default: the OS user).")]
ReasonOption = Annotated[str, typer.Option("--reason", help="Why (kept in the audit log).")]
JsonOption = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]


@automation_app.command("pause")
def pause(by: ByOption = None, reason: ReasonOption = "", as_json: JsonOption = False) -> None:
    """Stop all automatic merges and applies (decisions and incidents are still recorded)."""
    with open_store(_settings()) as store:
        state = automation.set_paused(store, True, by=_actor(by), reason=reason)
    _print_state(state, as_json)


@automation_app.command("resume")
def resume(by: ByOption = None, reason: ReasonOption = "", as_json: JsonOption = False) -> None:
    """Allow automatic merges and applies again."""
    with open_store(_settings()) as store:
        state = automation.set_paused(store, False, by=_actor(by), reason=reason)
    _print_state(state, as_json)


@automation_app.command("status")
def status(as_json: JsonOption = False) -> None:
    """Whether automation is paused, by whom, since when and why; active quarantines."""
    with open_store(_settings()) as store:
        state = automation.state(store)
        quarantined = Quarantine(store).entries()
    if as_json:
        typer.echo(
            json.dumps(
                {**state.model_dump(mode="json"), "quarantine": [q.to_dict() for q in quarantined]}, indent=2
            )
        )
        return
    _print_state(state, False)
    if quarantined:
        table = Table("service", "placement", "until (sim time)", "reason", title="quarantine")
        for q in quarantined:
            table.add_row(plain(q.service), plain(q.placement), q.until.isoformat(), plain(q.reason))
        console.print(table)


def _print_state(state: automation.AutomationState, as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(state.model_dump(mode="json"), indent=2))
        return
    word = "[bold red]paused[/]" if state.paused else "[green]active[/]"
    since = f" since {state.at.isoformat()}" if state.at else ""
    who = f" by {plain(state.by)}" if state.by else ""
    why = f": {plain(state.reason)}" if state.reason else ""
    console.print(f"automation {word}{who}{since}{why}", highlight=False)


# --- incidents ------------------------------------------------------------------------------------


@incident_app.command("list")
def list_incidents(
    status_filter: Annotated[
        IncidentStatus | None, typer.Option("--status", help="Only incidents in this status.")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 20,
    as_json: JsonOption = False,
) -> None:
    """Recent incidents, newest first."""
    with open_store(_settings()) as store:
        rows = incident_summaries(store, status=status_filter.value if status_filter else None, limit=limit)
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        console.print("no incidents")
        return
    table = Table("id", "service", "where", "kind", "source", "first seen by", "status", "opened", "TTR s")
    for r in rows:
        ttr = r["time_to_recovery_s"]
        table.add_row(
            str(r["id"]), plain(r["service"]), plain(f"{r['provider']}/{r['region'] or '*'}"),
            plain(r["kind"]), plain(r["source"]), plain(r["first_detector"] or "-"), _status(r["status"]),
            plain(r["opened_at"][:19]), f"{ttr:.1f}" if ttr is not None else "-",
        )  # fmt: skip
    console.print(table)


@incident_app.command("show")
def show(
    incident_id: IncidentIdArgument,
    as_json: JsonOption = False,
) -> None:
    """The post-incident report: timeline, alerts, decision and ranking, policy, TTR, cost impact."""
    with open_store(_settings()) as store:
        report = incident_report(store, incident_id)
    if as_json:
        typer.echo(json.dumps(report, indent=2))
        return
    render_report(report)


@incident_app.command("resolve")
def resolve(
    incident_id: IncidentIdArgument,
    reason: Annotated[str, typer.Option("--reason", help="What was done (kept in the audit log).")],
    by: ByOption = None,
) -> None:
    """Close an incident by hand (e.g. an escalated one, once a person has fixed the placement)."""
    from swen.domain.errors import InvalidInputError

    text = "".join(ch for ch in reason if ch.isprintable()).strip()
    if not text or len(text) > 500:
        raise InvalidInputError("--reason must be 1..500 printable characters", hint="say what was done")
    with open_store(_settings()) as store:
        incident = IncidentRepository(store).resolve(incident_id, reason=f"closed by {_actor(by)}: {text}")
    ttr = incident.time_to_recovery_s
    console.print(f"incident {incident.id} resolved" + (f" after {ttr:.0f} s" if ttr is not None else ""))


def _status(value: str) -> str:
    colour = {"resolved": "green", "escalated": "bold red", "remediating": "yellow"}.get(value, "red")
    return f"[{colour}]{plain(value)}[/]"


def _usd(amount: float) -> str:
    """Signed dollars with thousands separators: ``+$1,234.50``, ``-$20.00``."""
    return f"{'-' if amount < 0 else '+'}${abs(amount):,.2f}"


def render_report(report: dict[str, Any]) -> None:
    """Print a post-incident report with rich; every text from the report is printed literally
    (``plain``): it holds alert labels, annotations and reasons that came from outside."""
    inc = report["incident"]
    console.print(
        f"[bold]Incident {inc['id']}[/] {_status(inc['status'])}: {plain(report['summary'])}", highlight=False
    )
    first = report["first_detector"]
    if first["source"]:
        lead = f" ({first['lead_s']:.1f} s ahead)" if first["lead_s"] is not None else ""
        console.print(f"first seen by: [bold]{plain(first['source'])}[/]{lead}", highlight=False)
    ttr = report["time_to_recovery_s"]
    console.print(f"time to recovery: {f'{ttr:.1f} s' if ttr is not None else '-'}")
    cost = report["cost_impact"]
    if cost:
        console.print(
            f"cost impact: {_usd(cost['monthly_impact_usd'])}/month net = list price "
            f"${cost['list_price_before_usd']:,.2f} -> ${cost['list_price_after_usd']:,.2f} "
            f"({_usd(cost['list_price_change_usd'])}, {cost['list_price_change_pct']:+.1f} %)"
            f" - credits {_usd(cost['credits_offset_usd'])} + migration ${cost['migration_cost_usd']:,.2f} "
            f"over {cost['amortisation_months']:g} months ({_usd(cost['migration_amortised_usd'])})",
            highlight=False,
        )
    if report["escalation"]:
        console.print(f"[bold red]escalated[/]: {plain(report['escalation']['reason'])}", highlight=False)

    milestones = Table("milestone", "time", title="from fault to verified")
    for name, at in report["milestones"].items():
        milestones.add_row(plain(name), plain(at or "-"))
    console.print(milestones)

    if report["alerts"]:
        alerts = Table("alert", "status", "starts", "severity", title="alerts")
        for a in report["alerts"]:
            alerts.add_row(plain(a["alertname"]), plain(a["status"]), plain(a["starts_at"]),
                           plain(a["severity"] or "-"))  # fmt: skip
        console.print(alerts)

    decision = report["decision"]
    if decision:
        emergency = " [red](emergency)[/]" if decision["emergency"] else ""
        move = f"{plain(decision['from'])} -> {plain(decision['to'])}{emergency}"
        console.print(
            f"[bold]decision[/] {plain(decision['id'])} ({plain(decision['status'])}): {move}, "
            f"confidence {decision['confidence']:.2f}",
            highlight=False,
        )
        console.print(plain(decision["explanation"]), highlight=False)
        ranking = Table("rank", "placement", "score", "$/month", "p95 ms", title="ranking")
        for row in decision["ranking"]:
            mark = " (current)" if row["current"] else ""
            ranking.add_row(str(row["rank"]), plain(row["placement"] + mark), f"{row['total']:.3f}",
                            f"{row['monthly_cost_usd']:,.2f}", f"{row['latency_ms']:.0f}")  # fmt: skip
        console.print(ranking)
    policy = report["policy"]
    if policy:
        override = " [yellow](emergency override)[/]" if policy["override"] else ""
        console.print(
            f"policy: {plain(policy['outcome'])}{override} on {plain(policy['branch'])}", highlight=False
        )
        for reason in policy["reasons"]:
            console.print(f"  - {plain(reason)}", highlight=False)
    if len(report["attempts"]) > 1 or any(a["failure"] for a in report["attempts"]):
        attempts = Table("decision", "move", "status", "failure", title="attempts")
        for a in report["attempts"]:
            attempts.add_row(plain(a["decision_id"]), plain(f"{a['from']} -> {a['to']}"), plain(a["status"]),
                             plain(a["failure"] or ""))  # fmt: skip
        console.print(attempts)
    timeline = Table("time", "event", title="timeline")
    for row in report["timeline"]:
        timeline.add_row(plain(row["ts"][:23]), plain(row["what"]))
    console.print(timeline)
