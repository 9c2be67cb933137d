"""Price catalog commands: ``swen catalog refresh --from FILE``, ``swen catalog list``, ``swen catalog show``.

A refresh validates the file (errors name the file, the line and the column; nothing is written on an
error), records it as the next version with its source, sha256 and date, and makes it active: the
engine and the simulator price with it from their next cycle, and each decision names the version it
used. Old versions stay readable (``swen catalog show N --csv``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from swen.cli.help import SwenTyper
from swen.cli.state import open_store, state_settings
from swen.cli.text import plain
from swen.domain.errors import InvalidInputError, NotFoundError
from swen.store.catalogs import CatalogVersion, CatalogVersions

console = Console()
catalog_app = SwenTyper(
    help="Price catalog versions: refresh from a catalog file, list, show.", no_args_is_help=True
)

JsonOption = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    app.add_typer(catalog_app, name="catalog")


@catalog_app.command("refresh")
def refresh_cmd(
    from_file: Annotated[
        Path,
        typer.Option(
            "--from",
            help="A price catalog CSV in the shipped format (provider,region,instance_type,vcpus,"
            "memory_gib,gpu_name,gpu_count,price_hour_usd,spot_price_hour_usd,source). It replaces the "
            "prices of the providers it names; the others carry over.",
        ),
    ],
    source: Annotated[
        str | None,
        typer.Option(help="Where the prices came from, e.g. the URL (default: the file's path)."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Load a price catalog file as the next version and make it the active one."""
    from swen.telemetry.fleet import load_fleet_file
    from swen.telemetry.price_versions import refresh

    try:
        data = from_file.read_bytes()
    except OSError as exc:
        raise InvalidInputError(
            f"cannot read {from_file}: {exc.strerror or exc}",
            hint="give the path of a price catalog CSV file",
            source=str(from_file),
        ) from None
    settings = state_settings()
    with open_store(settings) as store:
        services = store.list_services() or load_fleet_file(settings.fleet_file).services
        result = refresh(
            store, data, source or str(from_file.resolve()), label=str(from_file), services=services
        )
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "unchanged": result.unchanged,
                    "version": result.version.as_dict(),
                    "previous": result.previous.id,
                    "changed": result.changes.changed,
                    "added": result.changes.added,
                    "removed": result.changes.removed,
                },
                indent=2,
            )
        )
        return
    if result.unchanged:
        console.print(
            f"unchanged: version {result.version.id} already has these prices (nothing recorded)",
            highlight=False,
        )
        return
    v = result.version
    console.print(
        f"catalog version {v.id} recorded and active (was {result.previous.id}): "
        f"{plain(', '.join(v.providers))} prices from {plain(v.source)}, sha256 {v.sha256[:12]}, "
        f"{v.offers} price rows; {plain(result.changes.describe())}",
        highlight=False,
        soft_wrap=True,
    )
    console.print("the engine and the simulator price with it from their next cycle", highlight=False)


@catalog_app.command("list")
def list_cmd(as_json: JsonOption = False) -> None:
    """Every catalog version, newest (active) first."""
    with open_store(state_settings()) as store:
        versions = CatalogVersions(store).list()
    if as_json:
        typer.echo(json.dumps([v.as_dict() for v in versions], indent=2))
        return
    if not versions:
        console.print(
            "no catalog version recorded yet: the packaged prices become version 1 when the engine or "
            "the simulator first runs (or at the first `swen catalog refresh`)",
            highlight=False,
        )
        return
    table = Table("version", "recorded (UTC)", "kind", "providers", "rows", "sha256", "source")
    for v in versions:
        label = f"{v.id} (active)" if v is versions[0] else str(v.id)
        table.add_row(
            label,
            v.created_at.strftime("%Y-%m-%d %H:%M:%S"),
            v.kind,
            plain(", ".join(v.providers)),
            str(v.offers),
            v.sha256[:12],
            plain(v.source),
        )
    console.print(table)


@catalog_app.command("show")
def show_cmd(
    version: Annotated[
        int | None, typer.Argument(min=1, help="Version number (default: the active one).")
    ] = None,
    as_csv: Annotated[bool, typer.Option("--csv", help="Print the version's whole prices CSV.")] = False,
    as_json: JsonOption = False,
) -> None:
    """One catalog version: its source, sha256, date and prices per provider and region."""
    with open_store(state_settings()) as store:
        repo = CatalogVersions(store)
        chosen = _chosen(repo, version)
        prices = repo.prices(chosen.id)
        active = repo.active_id()
    if as_csv:
        typer.echo(prices, nl=False)
        return
    from swen.telemetry.price_versions import build_catalog

    catalog = build_catalog(prices)
    regions = {
        (p.provider, p.region): len(catalog.offers(p.provider, p.region))
        for p in catalog.placements()
        if p.provider in {"aws", "gcp"}
    }
    if as_json:
        typer.echo(
            json.dumps(
                {
                    **chosen.as_dict(),
                    "active": chosen.id == active,
                    "offers_per_region": {f"{p}/{r}": n for (p, r), n in regions.items()},
                },
                indent=2,
            )
        )
        return
    state = "active" if chosen.id == active else f"not active (active: {active})"
    console.print(
        f"catalog version {chosen.id}, {state}: {chosen.kind}, recorded "
        f"{chosen.created_at.strftime('%Y-%m-%d %H:%M:%S')} UTC\n"
        f"source {plain(chosen.source)}\nsha256 {chosen.sha256}\n"
        f"providers replaced: {plain(', '.join(chosen.providers))}; {chosen.offers} price rows",
        highlight=False,
        soft_wrap=True,
    )
    table = Table("provider/region", "offers")
    for (p, r), n in regions.items():
        table.add_row(plain(f"{p}/{r}"), str(n))
    console.print(table)
    console.print(
        "Alibaba Cloud offers are SIMULATED and packaged (not part of a version); "
        f"`swen catalog show {chosen.id} --csv` prints this version's prices",
        highlight=False,
    )


def _chosen(repo: CatalogVersions, version: int | None) -> CatalogVersion:
    if version is not None:
        return repo.get(version)
    active = repo.active()
    if active is None:
        raise NotFoundError(
            "no catalog version recorded yet",
            hint="the packaged prices become version 1 when the engine or the simulator first runs",
        )
    return active
