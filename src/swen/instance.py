"""One platform per state directory: at most one engine and one simulator run on a ``SWEN_HOME``.

Two engine loops on the same state race each other for every move, and two simulators write the same
telemetry twice. ``swen up`` claims both roles, ``swen engine`` the engine's and ``swen simulate`` the
simulator's; a second claim exits at once with a message naming the process that holds it (pid,
since when, command).

Each role is an OS file lock (``flock``) on ``$SWEN_HOME/run/<role>.lock``, held for the life of the
process: the kernel drops it when the process ends, however it ends, so a crash leaves nothing stale
behind. ``<role>.json`` next to it says who holds it, for the message only.

``swen up`` hands its locks to the engine and simulator it starts (the lock's file descriptor is
inherited, ``Claim.fds``): they find the role held by their parent and run under it, and the lock
stays held as long as any of them lives.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from swen.domain.errors import ConflictError, StoreError

ROLES = ("engine", "simulator")
RUN_DIR = "run"


@dataclass(frozen=True, slots=True)
class Holder:
    """Who holds a role, as its info file says."""

    pid: int
    since: datetime
    command: str


@dataclass
class Claim:
    """Roles this process holds (``fds``: the lock files it opened; empty when its parent holds them)."""

    home: Path
    roles: tuple[str, ...]
    fds: list[int] = field(default_factory=list)
    _info: list[Path] = field(default_factory=list)

    def release(self) -> None:
        """Drop the locks (the process ending drops them too) and remove the info files."""
        for info in self._info:
            with contextlib.suppress(OSError):
                info.unlink()
        for fd in self.fds:
            with contextlib.suppress(OSError):
                os.close(fd)  # closing the last descriptor of the open file releases the flock
        self.fds, self._info = [], []


def current_command() -> str:
    """This process's command line as a person typed it: ``swen up``, ``swen engine --once``."""
    return " ".join(["swen", *sys.argv[1:]])


def lock_path(home: Path, role: str) -> Path:
    return home / RUN_DIR / f"{role}.lock"


def info_path(home: Path, role: str) -> Path:
    return home / RUN_DIR / f"{role}.json"


def holder(home: Path, role: str) -> Holder | None:
    """Who holds ``role`` on ``home`` according to its info file (None: unknown)."""
    try:
        data = json.loads(info_path(home, role).read_text(encoding="utf-8"))
        return Holder(int(data["pid"]), datetime.fromisoformat(data["since"]), str(data["command"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def claim(home: Path, roles: Sequence[str], *, command: str | None = None) -> Claim:
    """Hold ``roles`` on ``home`` for the life of this process; ConflictError naming the holder when
    another process holds one (and then nothing is held). A role held by this process's parent (the
    ``swen up`` that started it) counts as held for it."""
    home = home.resolve()
    taken = Claim(home, tuple(roles))
    command = command or current_command()
    try:
        (home / RUN_DIR).mkdir(parents=True, exist_ok=True)
        for role in roles:
            _take(taken, role, command)
    except OSError as exc:
        taken.release()
        raise StoreError(
            f"cannot lock {home / RUN_DIR}: {exc.strerror or exc}",
            hint="SWEN_HOME must be a writable directory on a local file system",
        ) from None
    except BaseException:
        taken.release()
        raise
    return taken


@contextlib.contextmanager
def claimed(home: Path, roles: Sequence[str], *, command: str | None = None) -> Iterator[Claim]:
    """``claim`` for the length of a block."""
    taken = claim(home, roles, command=command)
    try:
        yield taken
    finally:
        taken.release()


def _take(taken: Claim, role: str, command: str) -> None:
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; roles are {', '.join(ROLES)}")
    path = lock_path(taken.home, role)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        held = holder(taken.home, role)
        if held is not None and held.pid == os.getppid():
            return  # our parent (`swen up`) holds it for us
        raise _already_running(taken.home, role, held) from None
    except BaseException:
        os.close(fd)
        raise
    taken.fds.append(fd)
    info = info_path(taken.home, role)
    data = {"pid": os.getpid(), "since": datetime.now().astimezone().isoformat(timespec="seconds"),
            "command": command, "role": role}  # fmt: skip
    partial = info.with_name(f".{info.name}.{os.getpid()}")
    partial.write_text(json.dumps(data) + "\n", encoding="utf-8")
    partial.replace(info)
    taken._info.append(info)


def _already_running(home: Path, role: str, held: Holder | None) -> ConflictError:
    what = "the engine" if role == "engine" else "the simulator"
    if held is None:
        return ConflictError(
            f"{what} is already running on {home} (its lock {lock_path(home, role)} is held)",
            hint=f"stop it first; `fuser -v {lock_path(home, role)}` shows the process, "
            "or set SWEN_HOME to another state directory",
        )
    since = held.since.strftime("%Y-%m-%d %H:%M:%S")
    who = f"pid {held.pid}, since {since}, command `{held.command}`"
    if not _alive(held.pid):
        return ConflictError(
            f"{what} is already running on {home}: started by {who}, which has exited but left a "
            "process it started holding the lock",
            hint=f"stop that process (`fuser -v {lock_path(home, role)}` shows it), "
            "or set SWEN_HOME to another state directory",
        )
    return ConflictError(
        f"{what} is already running on {home}: {who}",
        hint=f"stop it first: Ctrl-C in its terminal or `kill {held.pid}`; "
        "or set SWEN_HOME to another state directory",
    )


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
