"""A named lock in the store that a crashed process cannot leak.

One row per lock in the ``locks`` table: owner, pid, host, acquired_at, heartbeat_at. While a lock is
held, a daemon thread refreshes ``heartbeat_at``. Another process treats the lock as *stale* and takes
it over (recording a ``lock`` takeover event) when

* the heartbeat is older than ``stale_after_s`` (the holder hung or its machine died), or
* the holder runs on this host and its pid is gone (``os.kill(pid, 0)`` fails, or it is a zombie).

Acquisition is atomic on SQLite and PostgreSQL: an ``INSERT .. ON CONFLICT DO NOTHING`` takes a free
lock; a stale one is stolen with a compare-and-swap ``UPDATE .. WHERE`` on the exact row that was judged
stale, so two processes that both see the same stale lock cannot both win.

Pid reuse: if the dead holder's pid was reused by an unrelated process, the pid check says "alive" and
the lock falls back to the heartbeat rule, so it is still freed after ``stale_after_s``.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Protocol

from swen.domain.clock import utcnow
from swen.domain.errors import LockError, StoreError
from swen.domain.events import EventSink, EventType
from swen.store.locks import LockHolder, LockRows

log = logging.getLogger(__name__)

APPLY_LOCK_NAME = "apply:infra"
"""The lock around ``terraform apply`` on the infra repository."""


class LockStore(EventSink, Protocol):
    """What the lock needs from the store (``swen.store.repository.Store`` satisfies it)."""

    @property
    def locks(self) -> LockRows: ...


def pid_is_alive(pid: int) -> bool:
    """True when a process with ``pid`` exists on this host and is not a zombie."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return not _is_zombie(pid)


def _is_zombie(pid: int) -> bool:
    stat = Path(f"/proc/{pid}/stat")
    try:
        text = stat.read_text()
    except OSError:
        return False
    # Format: "pid (comm) state ..."; comm may contain spaces and parentheses, so split at the last ')'.
    return text.rpartition(")")[2].split()[:1] == ["Z"]


def stale_reason(holder: LockHolder, *, now: datetime, stale_after_s: float, host: str) -> str | None:
    """Why ``holder`` no longer holds the lock, or None when it is live."""
    age = (now - holder.heartbeat_at).total_seconds()
    if age > stale_after_s:
        return f"heartbeat {age:.0f} s old (limit {stale_after_s:.0f} s)"
    if holder.host == host and not pid_is_alive(holder.pid):
        return f"pid {holder.pid} on {host} is gone"
    return None


class StoreLock:
    """A named, heartbeated, stale-safe lock. Use as a context manager::

    with StoreLock(store, APPLY_LOCK_NAME, owner="pipeline mr 3", stale_after_s=900):
        ...  # terraform apply
    """

    def __init__(
        self,
        store: LockStore,
        name: str = APPLY_LOCK_NAME,
        *,
        owner: str,
        stale_after_s: float,
        heartbeat_s: float | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        if stale_after_s <= 0:
            raise ValueError("stale_after_s must be positive")
        self.store = store
        self.name = name
        self.owner = f"{owner[:200]}#{uuid.uuid4().hex[:8]}"
        self.stale_after_s = stale_after_s
        self.heartbeat_s = heartbeat_s if heartbeat_s is not None else max(0.05, min(stale_after_s / 3, 30.0))
        self.pid = os.getpid()
        self.host = socket.gethostname()
        self._clock = clock
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.lost = False
        """Set when a heartbeat found the row gone or owned by someone else."""

    # -- public ------------------------------------------------------------------------------------
    def acquire(self) -> None:
        """Take the lock or raise LockError naming the live holder."""
        if self._thread is not None:
            raise LockError(f"lock {self.name!r} is already held by this object", stage="apply")
        if not self.store.locks.insert_if_free(self._holder()):
            self._try_steal()
        self.lost = False
        self._stop.clear()
        self._thread = threading.Thread(target=self._beat, name=f"lock-heartbeat:{self.name}", daemon=True)
        self._thread.start()

    def release(self) -> None:
        """Stop the heartbeat and delete the row if it is still ours (idempotent)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        try:
            self.store.locks.delete(self.name, self.owner)
        except StoreError as exc:  # the heartbeat stops, so the row goes stale and is freed later
            log.warning("could not release lock %s: %s", self.name, exc)

    def ensure_held(self) -> None:
        """Raise LockError when the lock was lost (taken over after a missed heartbeat)."""
        holder = current_holder(self.store, self.name)
        if self.lost or holder is None or holder.owner != self.owner:
            who = holder.describe() if holder else "nobody"
            raise LockError(
                f"lock {self.name!r} was lost; it is now held by {who}",
                hint="the heartbeat could not be written in time; re-run the pipeline",
                stage="apply",
            )

    def __enter__(self) -> StoreLock:
        self.acquire()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()

    # -- internals ---------------------------------------------------------------------------------
    def _holder(self) -> LockHolder:
        """This lock's row as it is written now (acquired and beating at the clock's time)."""
        now = self._clock()
        return LockHolder(self.name, self.owner, self.pid, self.host, acquired_at=now, heartbeat_at=now)

    def _try_steal(self) -> None:
        # Read, judge, then compare-and-swap in a transaction that only writes: the UPDATE matches
        # the exact row judged stale, so of several processes judging the same row only one wins.
        holder = current_holder(self.store, self.name)
        if holder is None:  # released between our insert and this read: try once more
            if self.store.locks.insert_if_free(self._holder()):
                return
            raise LockError(f"lock {self.name!r} is contended; try again", stage="apply", transient=True)
        reason = stale_reason(holder, now=self._clock(), stale_after_s=self.stale_after_s, host=self.host)
        if reason is None:
            raise LockError(
                f"lock {self.name!r} is held by {holder.describe()}",
                hint="another apply is running; wait for it, or if its process is gone the lock is "
                f"freed automatically after {self.stale_after_s:.0f} s without heartbeat",
                stage="apply",
                transient=True,
            )
        if not self.store.locks.take_over(holder, self._holder()):
            raise LockError(
                f"lock {self.name!r} was taken by another process first", stage="apply", transient=True
            )
        log.warning("took over stale lock %s from %s: %s", self.name, holder.owner, reason)
        self.store.append_event(
            EventType.LOCK,
            {
                "action": "takeover",
                "lock": self.name,
                "reason": reason,
                "previous_owner": holder.owner,
                "previous_pid": holder.pid,
                "previous_host": holder.host,
                "previous_heartbeat_at": holder.heartbeat_at.isoformat(),
                "new_owner": self.owner,
                "new_pid": self.pid,
                "new_host": self.host,
            },
        )

    def _beat(self) -> None:
        while not self._stop.wait(self.heartbeat_s):
            try:
                still_ours = self.store.locks.beat(self.name, self.owner, self._clock())
            except StoreError as exc:
                log.warning("lock %s heartbeat failed (will retry): %s", self.name, exc)
                continue
            if not still_ours:
                log.error("lock %s was taken over by another process", self.name)
                self.lost = True
                return


def current_holder(store: LockStore, name: str = APPLY_LOCK_NAME) -> LockHolder | None:
    """The row of lock ``name``, or None when free."""
    return store.locks.holder(name)
