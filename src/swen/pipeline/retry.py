"""Retry with exponential backoff, only for failures marked transient.

A failure is transient when the SwenError says so (``transient=True``: a push refused by a flaky
network, a Terraform state lock held a moment too long, a webhook answering 5xx). Anything else fails
at once with the tool's own message.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from swen.domain.errors import SwenError

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True)
class Backoff:
    """``tries`` attempts; waits ``first_s``, ``first_s * factor``, ... between them."""

    tries: int = 3
    first_s: float = 0.5
    factor: float = 2.0

    def delays(self) -> list[float]:
        return [self.first_s * self.factor**i for i in range(max(self.tries - 1, 0))]


DEFAULT_BACKOFF = Backoff()


def is_transient(exc: BaseException) -> bool:
    return isinstance(exc, SwenError) and bool(getattr(exc, "transient", False))


def with_retry(
    action: Callable[[], T],
    *,
    what: str,
    backoff: Backoff = DEFAULT_BACKOFF,
    on_retry: Callable[[int, BaseException, float], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Run ``action``; on a transient SwenError wait and try again, up to ``backoff.tries`` times."""
    delays = backoff.delays()
    attempt = 0
    while True:
        attempt += 1
        try:
            return action()
        except SwenError as exc:
            if not is_transient(exc) or attempt > len(delays):
                raise
            delay = delays[attempt - 1]
            log.warning(
                "%s failed (attempt %d, transient), retrying in %.1f s: %s", what, attempt, delay, exc
            )
            if on_retry is not None:
                on_retry(attempt, exc, delay)
            sleep(delay)
