"""Which state a command uses, and opening it.

Every command that uses state loads its settings through :func:`state_settings`: when no argument,
SWEN_HOME or settings file chose the state directory, it says on stderr which one it uses (once per
process), so a command run from another directory does not silently use (or create) another ./var.

Only the commands that run or set up the platform (``init``, ``up``, ``simulate``, ``engine``, ``api``,
``dashboard``) create state (:func:`open_store` with ``create=True``); every other command opens the
existing store and, when there is none, exits with "no SWEN state in ...: run `swen init` or set
SWEN_HOME" instead of creating an empty one and answering "nothing yet".

A command that takes a service name (``--service``, ``swen explain SERVICE``) checks it with
:func:`known_service` first: an unknown name is a one-line error listing a few known ones, not an
empty answer or a scenario that hits nothing.
"""

from __future__ import annotations

from rich.console import Console

from swen.cli.text import plain
from swen.config import DEFAULT_HOME, Settings, load_settings
from swen.domain.errors import NotFoundError, shown
from swen.store.repository import Store

_noted: set[str] = set()


def state_settings(**overrides: object) -> Settings:
    """Settings for a command that uses state (None overrides are left out), noting a default home."""
    settings = load_settings(**{k: v for k, v in overrides.items() if v is not None})
    note_state(settings)
    return settings


def note_state(settings: Settings) -> None:
    """One line on stderr naming the state directory when it is the default one (once per process)."""
    if not settings.home_is_default:
        return
    home = str(settings.home.resolve())
    if home in _noted:
        return
    _noted.add(home)
    Console(stderr=True, soft_wrap=True, highlight=False).print(
        f"[dim]using state in {plain(home)} (the default ./{plain(DEFAULT_HOME)}; set SWEN_HOME to choose)[/]"
    )


def open_store(settings: Settings, *, create: bool = False) -> Store:
    """The store; unless ``create``, only an existing one (NotFoundError "no SWEN state in ...")."""
    return Store.open(settings) if create else Store.open_existing(settings)


def known_service(store: Store, name: str, *, shown_names: int = 5, where: str = "") -> str:
    """``name`` if the fleet (the store's services) has it, else NotFoundError listing a few known names
    (``where``, e.g. ``file.yaml: scenarios[1].service``, says where the name came from)."""
    names = [s.name for s in store.list_services()]
    if name in names:
        return name
    at = f"{where}: " if where else ""
    if not names:
        raise NotFoundError(
            f"{at}unknown service {shown(name)}: no services yet",
            hint="run `swen simulate --once` or `swen up` first",
        )
    more = f" and {len(names) - shown_names} more" if len(names) > shown_names else ""
    raise NotFoundError(
        f"{at}unknown service {shown(name)}: known services are {', '.join(names[:shown_names])}{more}",
        hint="see `swen services`",
    )
