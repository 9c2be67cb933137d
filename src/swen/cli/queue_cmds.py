"""``swen queue``: the action queue the leader engine's workers drain, and the change budget."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from swen.cli.state import open_store, state_settings
from swen.cli.text import plain
from swen.moves.queue import QueuedAction, QueueView, queue_view
from swen.store.actions import STATES

console = Console()


def register(app: typer.Typer) -> None:
    """Add this module's command to ``app``."""
    app.command("queue")(queue)


def queue(
    state: Annotated[
        str | None, typer.Option("--state", help=f"Only actions in this state ({', '.join(STATES)}).")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="How many actions to list.")] = 30,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """The moves queued for the engine's workers (pending first, in the order they are taken), why
    each waits, and the change budget in use."""
    if state is not None and state not in STATES:
        raise typer.BadParameter(f"{state!r} is not an action state; use one of {', '.join(STATES)}")
    settings = state_settings()
    with open_store(settings) as store:
        view = queue_view(settings, store, state=state, limit=limit)
    if as_json:
        typer.echo(json.dumps(view_document(view), indent=2))
        return
    counts = view.counts
    console.print(
        f"{counts['pending']} pending, {counts['running']} running, {counts['done']} done, "
        f"{counts['failed']} failed"
    )
    console.print(view.summary(), highlight=False)
    if not view.actions:
        console.print("the queue is empty")
        return
    table = Table("id", "action", "service", "to", "savings $/mo", "state", "tries", "why / outcome")
    for row in view.actions:
        a = row.action
        table.add_row(
            str(a.id), plain(a.kind + (" (emergency)" if a.emergency else "")), plain(a.service),
            plain(a.provider), f"{a.priority:,.0f}" if a.kind != "rollback" else "-", a.state,
            str(a.attempts), plain(_why(row)),
        )  # fmt: skip
    console.print(table)


def _why(row: QueuedAction) -> str:
    a = row.action
    if a.state == "pending":
        return row.waiting or "next when a worker is free"
    if a.state == "running":
        return f"{a.worker or '?'} of {a.owner or '?'}"
    return (a.outcome or "")[:120]


def view_document(view: QueueView) -> dict[str, Any]:
    """The JSON form of ``swen queue --json``."""
    b, u = view.budget, view.use
    return {
        "counts": view.counts,
        "budget": {
            "limits": {"fleet_mrs": b.fleet_mrs, "fleet_applies": b.fleet_applies,
                       "provider_mrs": b.provider_mrs, "provider_applies": b.provider_applies},
            "open_mrs": u.open_mrs, "open_mrs_by_provider": u.open_mrs_by_provider,
            "in_flight": u.in_flight, "in_flight_by_provider": u.in_flight_by_provider,
            "summary": view.summary(),
        },
        "actions": [
            {"id": r.action.id, "key": r.action.key, "kind": r.action.kind, "service": r.action.service,
             "decision_id": r.action.decision_id, "mr_id": r.action.mr_id, "provider": r.action.provider,
             "emergency": r.action.emergency, "priority": r.action.priority, "state": r.action.state,
             "attempts": r.action.attempts, "worker": r.action.worker, "waiting": r.waiting,
             "outcome": r.action.outcome, "enqueued_at": r.action.enqueued_at.isoformat(),
             "updated_at": r.action.updated_at.isoformat()}
            for r in view.actions
        ],
    }  # fmt: skip
