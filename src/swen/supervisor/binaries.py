"""The programs the rehearsal runs, found on PATH (PostgreSQL's also in Debian's
/usr/lib/postgresql/<version>/bin), and one error naming every missing one with its Debian package."""

from __future__ import annotations

import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from swen.supervisor import StartupError

POSTGRES_PROGRAMS = ("initdb", "postgres", "pg_isready", "createdb")


@dataclass(frozen=True)
class Needed:
    program: str
    package: str
    what: str


def find(program: str) -> str | None:
    """The path of ``program``: on PATH, else the newest /usr/lib/postgresql/*/bin/ holding it."""
    found = shutil.which(program)
    if found:
        return found
    versions = sorted(
        Path("/usr/lib/postgresql").glob("*/bin"),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
    )
    for bindir in reversed(versions):
        if (bindir / program).is_file():
            return str(bindir / program)
    return None


def needed(*, private_postgres: bool) -> list[Needed]:
    items = [
        Needed("haproxy", "haproxy", "the load balancer in front of the API replicas"),
        Needed("prometheus", "prometheus", "Prometheus, scraping the API replicas"),
        Needed("prometheus-alertmanager", "prometheus-alertmanager", "Alertmanager"),
    ]
    if private_postgres:
        items += [Needed(p, "postgresql", "the private PostgreSQL cluster") for p in POSTGRES_PROGRAMS]
    return items


def locate(items: Iterable[Needed]) -> dict[str, str]:
    """Every program's path; StartupError naming each missing one and its Debian package."""
    paths: dict[str, str] = {}
    missing: list[Needed] = []
    for item in items:
        path = find(item.program)
        if path is None:
            missing.append(item)
        else:
            paths[item.program] = path
    if missing:
        names = ", ".join(f"{m.program} ({m.what}; Debian package {m.package})" for m in missing)
        packages = " ".join(dict.fromkeys(m.package for m in missing))
        postgres = any(m.package == "postgresql" for m in missing)
        raise StartupError(
            f"swen up --production cannot find {names}",
            hint=f"install them: apt-get install {packages}"
            + (", or set SWEN_DATABASE_URL to a PostgreSQL database you run" if postgres else ""),
        )
    return paths
