"""``swen up``: run the platform's processes side by side and stop them cleanly.

Each component (simulator, engine loop, API, dashboard; with ``--production`` also PostgreSQL, haproxy,
Prometheus and Alertmanager, see ``swen.supervisor.rehearsal``) runs as its own process so that a crash
of one does not take the others down and so that they share nothing but the store.

- Start: in the order given. A component with a ``ready`` check is waited for (bounded by
  ``ready_timeout_s``) before the next one starts, and its ``after_ready`` hook runs once (e.g. create
  the database and migrate it once PostgreSQL answers); a component that dies or stays unready stops
  the start with a ``StartupError`` naming it and the end of its log.
- Watch: a component that dies is restarted (with backoff, at most ``max_restarts`` times in a row).
- Stop (Ctrl-C / SIGTERM, or ``until()``): every component gets its ``stop_signal``, then SIGKILL after
  ``grace_s``; components marked ``stop_last`` (the database) are stopped after all the others, so
  nothing loses its database while it shuts down.
"""

from __future__ import annotations

import os
import pwd
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import IO, Any

from swen.domain.errors import SwenError


class StartupError(SwenError):
    """A supervised component did not start (it exited, or did not become ready in time)."""


@dataclass
class Component:
    name: str
    argv: list[str]
    process: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    next_start: float = 0.0
    started_at: float = field(default=0.0)
    pass_fds: tuple[int, ...] = ()
    """File descriptors the process inherits (``swen up``'s instance locks, see swen.instance)."""
    env: dict[str, str] = field(default_factory=dict)
    """Variables of this component only, over the supervisor's environment."""
    log_file: Path | None = None
    """Where its stdout and stderr go (appended); None: the supervisor's own output."""
    ready: Callable[[], bool] | None = None
    """Checked after the start until true (e.g. the port answers) before the next component starts."""
    ready_timeout_s: float = 120.0
    after_ready: Callable[[], None] | None = None
    """Runs once, the first time the component is ready (create a database, migrate...)."""
    stop_signal: int = signal.SIGTERM
    stop_last: bool = False
    """Stopped after every other component (the database the others use)."""
    user: str | None = None
    """Run as this user (PostgreSQL refuses to run as root)."""
    _log: IO[bytes] | None = field(default=None, repr=False)

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None and self.process.poll() is None else None

    def log_tail(self, lines: int = 15) -> str:
        """The end of its log file ('' without one), for a startup error."""
        if self.log_file is None or not self.log_file.is_file():
            return ""
        text = self.log_file.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:]
        return "\n".join(text)


def as_user(user: str | None) -> dict[str, Any]:
    """Popen's arguments to run as ``user`` with that user's own group and no other (root's group
    would make a directory's group bits, not its "other" bits, decide what the process may reach)."""
    if user is None:
        return {}
    entry = pwd.getpwnam(user)
    return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}


def swen_command(*args: str) -> list[str]:
    """The argv to run ``swen ARGS`` with the same interpreter as this process."""
    return [sys.executable, "-m", "swen", *args]


class Supervisor:
    def __init__(
        self,
        components: Sequence[Component],
        *,
        env: dict[str, str] | None = None,
        max_restarts: int = 5,
        grace_s: float = 10.0,
        log: Callable[[str], None] = print,
        own_process_groups: bool = False,
    ) -> None:
        """``own_process_groups``: each component in a process group of its own, so a Ctrl-C in the
        terminal reaches only the supervisor, which then stops them in order (the database last)."""
        self.components = list(components)
        self.env = {**os.environ, **(env or {})}
        self.max_restarts = max_restarts
        self.grace_s = grace_s
        self.log = log
        self.own_process_groups = own_process_groups
        self._stopping = False

    def _start(self, comp: Component) -> None:
        output: IO[bytes] | None = None
        if comp.log_file is not None:
            comp.log_file.parent.mkdir(parents=True, exist_ok=True)
            if comp._log is None or comp._log.closed:
                comp._log = comp.log_file.open("ab")
            output = comp._log
        comp.process = subprocess.Popen(
            comp.argv,
            env={**self.env, **comp.env},
            pass_fds=comp.pass_fds,
            stdin=subprocess.DEVNULL if self.own_process_groups else None,
            stdout=output,
            stderr=subprocess.STDOUT if output is not None else None,
            process_group=0 if self.own_process_groups else None,
            **as_user(comp.user),
        )
        comp.started_at = time.monotonic()
        self.log(f"started {comp.name} (pid {comp.process.pid})")

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        self._stopping = True

    def run(
        self,
        *,
        poll_s: float = 0.5,
        until: Callable[[], bool] | None = None,
        tick: Callable[[], None] | None = None,
        on_started: Callable[[], None] | None = None,
    ) -> int:
        """Run until a signal (or ``until()`` is true); returns the exit code for the CLI.

        ``tick`` is called after every look at the components (``swen up`` prints new platform events);
        ``on_started`` once every component has started (and the ones with a check are ready).
        A component that fails to start raises StartupError after everything started is stopped."""
        old_int = signal.signal(signal.SIGINT, self._on_signal)
        old_term = signal.signal(signal.SIGTERM, self._on_signal)
        failed = False
        try:
            for comp in self.components:
                if self._stopping:
                    return 0
                self._start(comp)
                self._await_ready(comp)
            if on_started is not None and not self._stopping:
                on_started()
            while not self._stopping and not (until and until()):
                time.sleep(poll_s)
                failed = self._watch() or failed
                if tick is not None:
                    tick()
                if failed and all(c.process is None for c in self.components):
                    break
        finally:
            self.stop()
            signal.signal(signal.SIGINT, old_int)
            signal.signal(signal.SIGTERM, old_term)
        return 1 if failed else 0

    def _await_ready(self, comp: Component) -> None:
        if comp.ready is None:
            return
        deadline = time.monotonic() + comp.ready_timeout_s
        while not self._stopping:
            assert comp.process is not None
            code = comp.process.poll()
            if code is not None:
                raise self._startup_error(comp, f"{comp.name} exited with {code} while starting")
            if comp.ready():
                break
            if time.monotonic() > deadline:
                raise self._startup_error(
                    comp, f"{comp.name} was not ready after {comp.ready_timeout_s:.0f} s"
                )
            time.sleep(0.1)
        else:
            return
        if comp.after_ready is not None:
            comp.after_ready()
            comp.after_ready = None
        self.log(f"{comp.name} ready")

    def _startup_error(self, comp: Component, what: str) -> StartupError:
        tail = comp.log_tail()
        where = f"; its log {comp.log_file}" if comp.log_file is not None else ""
        return StartupError(
            what + (f"{where} ends with:\n{tail}" if tail else where),
            hint="fix what the log says (a port in use? a missing file?) and start again",
        )

    def _watch(self) -> bool:
        gave_up = False
        now = time.monotonic()
        for comp in self.components:
            proc = comp.process
            if proc is None:
                if comp.next_start and now >= comp.next_start:
                    self._start(comp)
                    comp.next_start = 0.0
                continue
            code = proc.poll()
            if code is None:
                if now - comp.started_at > 60:
                    comp.restarts = 0  # stable for a minute: forget old crashes
                continue
            comp.process = None
            if comp.restarts >= self.max_restarts:
                self.log(f"{comp.name} exited with {code}; gave up after {comp.restarts} restarts")
                gave_up = True
                continue
            comp.restarts += 1
            delay = min(30.0, 2.0**comp.restarts)
            comp.next_start = now + delay
            self.log(f"{comp.name} exited with {code}; restarting in {delay:.0f} s")
        return gave_up

    def stop(self) -> None:
        """Stop every running component: all but the ``stop_last`` ones first, those after."""
        self._stop([c for c in reversed(self.components) if not c.stop_last])
        self._stop([c for c in reversed(self.components) if c.stop_last])
        for comp in self.components:
            if comp._log is not None:
                comp._log.close()

    def _stop(self, components: list[Component]) -> None:
        running = [c for c in components if c.process is not None and c.process.poll() is None]
        for comp in running:
            assert comp.process is not None
            comp.process.send_signal(comp.stop_signal)
        deadline = time.monotonic() + self.grace_s
        for comp in running:
            assert comp.process is not None
            try:
                comp.process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.log(f"{comp.name} did not stop in {self.grace_s:.0f} s; killing it")
                comp.process.kill()
                comp.process.wait()
            self.log(f"stopped {comp.name}")
