"""``swen up --production``: the rehearsal of the production topology (``swen.supervisor.rehearsal``)
under the one supervisor, with a table of what runs where and how to stop it."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table

from swen.cli.state import open_store
from swen.cli.text import plain
from swen.config import Settings
from swen.store.db import display_url
from swen.store.repository import Store

if TYPE_CHECKING:
    from swen.supervisor.rehearsal import Rehearsal

console = Console()

EventPrinter = Callable[[Store], Callable[[], None]]


def rehearse(settings: Settings, *, dashboard: bool, event_printer: EventPrinter) -> int:
    """Run the rehearsal until Ctrl-C / SIGTERM; returns the exit code."""
    from swen.cli.gitops_cmds import _init as init_platform
    from swen.instance import ROLES, claim
    from swen.supervisor import Supervisor
    from swen.supervisor.rehearsal import plan

    def prepare(database_url: str) -> None:
        init_platform(force=False, settings=settings.model_copy(update={"database_url": database_url}))

    held = claim(settings.home, ROLES)  # a second platform on this state stops here
    try:
        rehearsal = plan(settings, dashboard=dashboard, lock_fds=tuple(held.fds), prepare=prepare)
        rehearsal.check_ports_free()
        if rehearsal.private_cluster is not None and rehearsal.private_cluster.initialise():
            console.print(
                f"[dim]swen up:[/] initialised PostgreSQL in {plain(rehearsal.private_cluster.data)}"
            )
        if rehearsal.private_cluster is None:
            prepare(rehearsal.database_url)
        production = settings.model_copy(update={"database_url": rehearsal.database_url})
        console.print(
            f"SWEN up --production: state in {plain(settings.home.resolve())}; database "
            f"{plain(display_url(rehearsal.database_url))}; starting {len(rehearsal.components)} processes "
            f"(logs in {plain(rehearsal.logs)}).",
            soft_wrap=True,
        )
        supervisor = Supervisor(
            rehearsal.components,
            env=rehearsal.env,
            own_process_groups=True,  # Ctrl-C reaches the supervisor only: it stops them in order
            log=lambda line: console.print(f"[dim]swen up:[/] {plain(line)}", soft_wrap=True),
        )
        with _following(production, event_printer) as (follow, start_following):

            def started() -> None:
                _print_table(rehearsal, os.getpid())
                rehearsal.write_topology()
                start_following()

            return supervisor.run(tick=follow, on_started=started)
    finally:
        held.release()


@contextlib.contextmanager
def _following(
    settings: Settings, event_printer: EventPrinter
) -> Iterator[tuple[Callable[[], None], Callable[[], None]]]:
    """A tick that prints new platform events once ``start()`` opened the store (after the database
    answers); the store is closed on the way out."""
    stack = contextlib.ExitStack()
    printer: list[Callable[[], None]] = []

    def start() -> None:
        store = stack.enter_context(open_store(settings))
        printer.append(event_printer(store))

    def tick() -> None:
        if printer:
            printer[0]()

    with stack:
        yield tick, start


def _print_table(rehearsal: Rehearsal, supervisor_pid: int) -> None:
    by_name = {c.name: c for c in rehearsal.components}
    table = Table(title="SWEN production rehearsal")
    table.add_column("component", no_wrap=True)
    table.add_column("pid", no_wrap=True)
    table.add_column("address", no_wrap=True)
    table.add_column("what")
    for e in rehearsal.endpoints:
        pid = by_name[e.component].pid
        table.add_row(plain(e.component), str(pid or "-"), plain(e.address), plain(e.note))
    console.print(table)
    console.print(
        f"The API for every client: {plain(rehearsal.env['SWEN_API_URL'])}. Commands in another shell need "
        f"SWEN_HOME={plain(rehearsal.settings.home.resolve())} SWEN_DATABASE_URL="
        f"{plain(display_url(rehearsal.database_url))}. Logs: {plain(rehearsal.logs)}. "
        f"Stop everything: Ctrl-C here, or kill -TERM {supervisor_pid}.",
        soft_wrap=True,
    )
