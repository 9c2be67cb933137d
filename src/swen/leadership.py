"""Leader election among engine replicas that share one store, with fencing.

Every engine process builds a :class:`Leadership` on its Store. A background thread keeps trying to
hold the ``engine`` lease (``store.leases``): the leader renews it every ``lease_s / 3``, a standby
tries to take it over every ``poll_s`` and succeeds once the leader's lease has expired (its process
died, froze or lost the database). Each takeover raises the fencing token by one.

Two guards keep a deposed leader from acting:

- **In the database (fencing).** Once elected, the Store carries the lease's fence
  (``Store.fence``): every write transaction of this process checks, inside that transaction, that
  the lease still names this process with this token and has not expired. A leader frozen past its
  lease (SIGSTOP, a long GC, a lost network) finds its token superseded when it wakes: each write is
  refused with ``FencedError`` and nothing is written. The fence stays set when the lease is lost, so
  there is no window where this process writes unchecked.
- **Before side effects outside the database** (git pushes, merge requests on a host, Terraform), the
  loop asks :meth:`Leadership.is_leader`, which is false once the local deadline has passed: the
  monotonic time of the last successful renewal's start plus ``lease_s``. The database expires the
  lease no earlier than that, so the local view never outlives the real one.

A leader frozen in the middle of a write transaction holds that transaction's locks; on PostgreSQL the
server ends such a session after ``lease_s`` idle in the transaction
(``store.leases.bound_idle_transactions``), so the standby's takeover waits at most that long.

On one machine ``swen up`` still uses the flock of ``swen.instance``; the election is what lets two
engines share a PostgreSQL store (or a SQLite one, for tests and rehearsals).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable

from swen.domain.errors import SwenError
from swen.store.leases import Fence, Lease, LeaseRepository, bound_idle_transactions
from swen.store.repository import Store

_log = logging.getLogger(__name__)

ENGINE_LEASE = "engine"
DEFAULT_LEASE_S = 3.0


def holder_id() -> str:
    """This process's name in the lease row: host, pid and a random suffix (pids are reused)."""
    return f"{socket.gethostname()[:64]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Leadership:
    """Hold, renew or wait for one lease; the Store's fence follows the lease this process holds."""

    def __init__(
        self,
        store: Store,
        *,
        name: str = ENGINE_LEASE,
        lease_s: float = DEFAULT_LEASE_S,
        poll_s: float | None = None,
        holder: str | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if lease_s <= 0:
            raise ValueError("lease_s must be positive")
        self.store = store
        self.name = name
        self.lease_s = lease_s
        self.renew_s = lease_s / 3
        self.poll_s = poll_s if poll_s is not None else min(0.5, lease_s / 6)
        self.holder = holder or holder_id()
        self._clock = clock
        self._repo = LeaseRepository(store)
        self._lease: Lease | None = None
        self._deadline = 0.0
        self._changed = threading.Condition()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # --- state -------------------------------------------------------------------------------
    @property
    def token(self) -> int | None:
        """The fencing token of the lease this process holds (None: standby)."""
        lease = self._lease
        return lease.token if lease is not None and self._clock() < self._deadline else None

    def is_leader(self) -> bool:
        """True while this process holds the lease by its own (conservative) clock."""
        return self.token is not None

    # --- one attempt ---------------------------------------------------------------------------
    def attempt(self) -> bool:
        """Renew the lease, or take it over if it is free or expired; True when held afterwards."""
        started = self._clock()
        held = self._lease
        try:
            lease = self._repo.acquire(
                self.name, self.holder, self.lease_s, token=held.token if held is not None else None
            )
        except SwenError as exc:  # the database is unreachable: keep the lease only until it runs out
            _log.warning("%s lease: %s", self.name, exc)
            return self.is_leader()
        with self._changed:
            if lease is None:
                if held is not None:
                    _log.warning(
                        "%s lease lost: another replica took over (this process held token %d)",
                        self.name,
                        held.token,
                    )
                self._lease = None
                self._deadline = 0.0
            else:
                if held is None or held.token != lease.token:
                    _log.warning(
                        "elected %s leader: %s, fencing token %d", self.name, self.holder, lease.token
                    )
                self._lease = lease
                self._deadline = started + self.lease_s
                self.store.fence = Fence(self.name, self.holder, lease.token)
            self._changed.notify_all()
        return lease is not None

    # --- background ----------------------------------------------------------------------------
    def start(self) -> Leadership:
        """Campaign and renew in a daemon thread until :meth:`stop`."""
        if self._thread is None:
            # a leader frozen inside a transaction must not hold its locks (and the failover) forever
            bound_idle_transactions(self.store.engine, self.lease_s)
            self.store.fence = Fence(self.name, self.holder, 0)  # no write before the first election
            self.attempt()
            self._thread = threading.Thread(target=self._run, name=f"lease-{self.name}", daemon=True)
            self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.renew_s if self.is_leader() else self.poll_s):
            self.attempt()

    def wait_until_leader(self, stop: threading.Event, *, timeout: float | None = None) -> bool:
        """Block until this process leads (True), ``stop`` is set or ``timeout`` passes (False)."""
        deadline = None if timeout is None else self._clock() + timeout
        with self._changed:
            while not self.is_leader():
                if stop.is_set() or (deadline is not None and self._clock() >= deadline):
                    return False
                self._changed.wait(timeout=self.poll_s)
        return True

    def stop(self, *, release: bool = True) -> None:
        """Stop campaigning; give the lease up (a standby takes over at once) unless ``release`` is
        False. The Store stays fenced: nothing more is written under a lease this process left."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.lease_s + 5)
        lease, self._lease, self._deadline = self._lease, None, 0.0
        if release and lease is not None:
            try:
                self._repo.release(lease.fence)
            except SwenError as exc:
                _log.warning("releasing the %s lease failed (it expires by itself): %s", self.name, exc)
