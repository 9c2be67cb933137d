"""``swen credits``: the credit ledger's grants, balances, burn rate, expiry and projected run-out."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from swen.cli.state import open_store, state_settings
from swen.cli.text import plain
from swen.telemetry.ledger import CreditsStatus, LiveLedger

console = Console()


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    app.command("credits")(credits)


def credits(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Cloud credits: grants (amount, start, expiry, refill), balances, burn rate and run-out date.

    The engine burns the ledger file (SWEN_CREDITS_FILE, default: the packaged credits.yaml) by where
    services run; the balances survive restarts (they are replayed from the store)."""
    settings = state_settings()
    with open_store(settings) as store:
        status = LiveLedger(settings, store).status()
    if as_json:
        typer.echo(json.dumps(status.to_dict(), indent=2))
        return
    render(status)


def _usd(amount: float) -> str:
    return f"${amount:,.2f}"


def _day(value: object) -> str:
    return "-" if value is None else str(value)[:16].replace("T", " ")


def render(status: CreditsStatus) -> None:
    if status.started_at is None:
        head = "not started yet (the engine starts it at its first cycle); balances as the file gives them"
    else:
        head = f"started {_day(status.started_at)}, burnt through {_day(status.through)} (platform time)"
    console.print(
        f"credit ledger {plain(status.source)}: {head}, {status.intervals} interval(s) of "
        f"{status.interval_s:g} s",
        highlight=False,
        soft_wrap=True,
    )
    providers = Table(
        "provider", "balance", "burn/day", "credit/day", "next expiry", "runs out", title="balances"
    )
    lapsing = False
    for p in status.providers:
        runs_out = _day(p.runs_out_at) if p.runs_out_at is not None else "no burn"
        if p.expires_first and p.balance_usd > 0:
            runs_out, lapsing = runs_out + " *", True
        providers.add_row(
            plain(p.provider),
            _usd(p.balance_usd),
            _usd(p.burn_usd_per_day),
            _usd(p.credit_usd_per_day),
            _day(p.next_expiry),
            runs_out,
        )
    console.print(providers)
    if lapsing:
        console.print("* expires before it runs out: the rest of the balance lapses unused", highlight=False)
    accounts = any(g.account for g in status.grants)
    refills = any(g.refill_every_days for g in status.grants)
    columns = ["grant", "provider", *(["account"] if accounts else []), "amount", "balance", "status"]
    grants = Table(*columns, "starts", "expires", *(["refill"] if refills else []), title="grants")
    for g in status.grants:
        refill = f"{_usd(g.refill_usd)}/{g.refill_every_days:g} d" if g.refill_every_days else "-"
        grants.add_row(
            plain(g.name),
            plain(g.provider),
            *([plain(g.account or "-")] if accounts else []),
            _usd(g.amount_usd),
            _usd(g.balance_usd),
            g.status,
            _day(g.starts_at),
            _day(g.expires_at),
            *([refill] if refills else []),
        )
    console.print(grants)
