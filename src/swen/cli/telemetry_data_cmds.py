"""``swen maintenance run`` (partitions ahead, rollups, retention with archives) and ``swen archive
list|read`` (telemetry days archived to Parquet)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from swen.cli.help import SwenTyper
from swen.cli.state import open_store, state_settings
from swen.cli.text import plain
from swen.domain.errors import InvalidInputError
from swen.domain.names import validate_location_name, validate_service_name

console = Console()
maintenance_app = SwenTyper(
    help="Telemetry upkeep: day partitions ahead (PostgreSQL), hourly rollups, retention with archives.",
    no_args_is_help=True,
)
archive_app = SwenTyper(
    help="Telemetry archived to Parquet before retention dropped it.", no_args_is_help=True
)
JsonOption = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    app.add_typer(maintenance_app, name="maintenance")
    app.add_typer(archive_app, name="archive")


@maintenance_app.command("run")
def run(as_json: JsonOption = False) -> None:
    """One maintenance pass now (the simulator/collector also runs one every simulated hour)."""
    from swen.store.maintenance import maintain

    settings = state_settings()
    with open_store(settings) as store:
        report = maintain(store, settings, max_rollup_hours=None)  # by hand: catch up fully
    out: dict[str, Any] = {
        "partitions_created": [d.isoformat() for d in report.partitions_created],
        "rollup_hours": report.rollup_hours,
        "archived": [
            {"day": a.day.isoformat(), "path": a.path, "rows": a.rows, "written": a.written}
            for a in report.archived
        ],
        "dropped_days": [d.isoformat() for d in report.dropped_days],
        "deleted_rows": report.deleted_rows,
        "rollups_purged": report.rollups_purged,
    }
    if as_json:
        typer.echo(json.dumps(out, indent=2))
        return
    made = ", ".join(out["partitions_created"]) or "none new"
    console.print(f"partitions created  {made}", highlight=False)
    console.print(f"hours rolled up     {report.rollup_hours}", highlight=False)
    for a in report.archived:
        state = "written" if a.written else "already complete"
        console.print(
            f"archived            {a.day} {a.rows:,} rows -> {plain(a.path)} ({state})", highlight=False
        )
    dropped = ", ".join(out["dropped_days"]) or "none expired"
    console.print(f"days dropped        {dropped} ({report.deleted_rows:,} rows)", highlight=False)


def _when(value: str, option: str) -> datetime:
    try:
        stamp = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidInputError(
            f"{option}: {value!r} is not a date or time",
            hint="use ISO 8601, e.g. 2026-11-01 or 2026-11-01T06:00:00Z (UTC when no offset is given)",
            source=option,
        ) from None
    return stamp.replace(tzinfo=UTC) if stamp.tzinfo is None else stamp.astimezone(UTC)


@archive_app.command("list")
def list_days(as_json: JsonOption = False) -> None:
    """The archived days and their row counts."""
    from swen.store.maintenance import archive_for

    archive = archive_for(state_settings())
    days = [(d, archive.rows_in(d) or 0) for d in archive.days()]
    if as_json:
        typer.echo(json.dumps([{"day": d.isoformat(), "rows": n, "path": archive.path(d)} for d, n in days]))
        return
    if not days:
        console.print(f"no archived days in {plain(archive.url)}", highlight=False)
        return
    table = Table("day", "rows", "object")
    for d, n in days:
        table.add_row(d.isoformat(), f"{n:,}", plain(archive.path(d)))
    console.print(table)


@archive_app.command("read")
def read(
    start: Annotated[str, typer.Option("--from", help="Start (inclusive), ISO 8601; UTC without an offset.")],
    end: Annotated[str, typer.Option("--to", help="End (exclusive), ISO 8601; UTC without an offset.")],
    service: Annotated[str | None, typer.Option("--service", help="Only this service.")] = None,
    provider: Annotated[str | None, typer.Option("--provider", help="Only this provider.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000_000, help="At most this many samples.")] = 1000,
    as_json: JsonOption = False,
) -> None:
    """Archived samples with FROM <= ts < TO, in time order (JSON lines with --json)."""
    from swen.store.maintenance import archive_for

    if service is not None:
        validate_service_name(service)
    if provider is not None:
        validate_location_name(provider, "provider")
    first, last = _when(start, "--from"), _when(end, "--to")
    if first >= last:
        raise InvalidInputError(
            f"--from {first.isoformat()} is not before --to {last.isoformat()}", hint="give --from < --to"
        )
    archive = archive_for(state_settings())
    samples = archive.read(start=first, end=last, service=service, provider=provider)[:limit]
    if as_json:
        for s in samples:
            typer.echo(s.model_dump_json())
        return
    if not samples:
        console.print(f"no archived samples in [{first.isoformat()}, {last.isoformat()})", highlight=False)
        return
    table = Table("ts", "service", "where", "$/h", "latency ms", "availability", "credits $")
    for s in samples:
        table.add_row(
            s.ts.isoformat(), plain(s.service), plain(f"{s.provider}/{s.region}"), f"{s.hourly_cost_usd:.4f}",
            f"{s.latency_ms:.1f}", f"{s.availability:.4f}", f"{s.credits_usd:,.0f}",
        )  # fmt: skip
    console.print(table)
