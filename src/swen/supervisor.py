"""``swen up``: run the platform's processes side by side and stop them cleanly.

Each component (simulator, engine loop, API, dashboard) runs as its own process so that a crash of one
does not take the others down and so that they share nothing but the store. The supervisor restarts a
component that dies (with backoff, at most ``max_restarts`` times) and on Ctrl-C / SIGTERM asks every
child to stop (SIGTERM), waits, then kills what is left.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import FrameType


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
    ) -> None:
        self.components = list(components)
        self.env = {**os.environ, **(env or {})}
        self.max_restarts = max_restarts
        self.grace_s = grace_s
        self.log = log
        self._stopping = False

    def _start(self, comp: Component) -> None:
        comp.process = subprocess.Popen(comp.argv, env=self.env, pass_fds=comp.pass_fds)
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
    ) -> int:
        """Run until a signal (or ``until()`` is true); returns the exit code for the CLI.

        ``tick`` is called after every look at the components (``swen up`` prints new platform events)."""
        old_int = signal.signal(signal.SIGINT, self._on_signal)
        old_term = signal.signal(signal.SIGTERM, self._on_signal)
        failed = False
        try:
            for comp in self.components:
                self._start(comp)
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
        running = [c for c in self.components if c.process is not None and c.process.poll() is None]
        for comp in running:
            assert comp.process is not None
            comp.process.send_signal(signal.SIGTERM)
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
