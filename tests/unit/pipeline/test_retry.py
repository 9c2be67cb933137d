"""Backoff only for transient failures."""

from __future__ import annotations

import pytest

from swen.domain.errors import GitOpsError, PipelineError
from swen.pipeline.retry import Backoff, with_retry


def test_transient_failures_are_retried_with_growing_delays() -> None:
    slept: list[float] = []
    calls: list[int] = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise GitOpsError("git push failed: the remote end hung up unexpectedly", transient=True)
        return "pushed"

    assert (
        with_retry(flaky, what="push", backoff=Backoff(tries=3, first_s=0.5), sleep=slept.append) == "pushed"
    )
    assert slept == [0.5, 1.0]


def test_permanent_failure_is_raised_at_once_with_the_tools_message() -> None:
    slept: list[float] = []

    def rejected() -> None:
        raise GitOpsError("git push failed: ! [remote rejected] main (pre-receive hook declined)")

    with pytest.raises(GitOpsError, match="hook declined"):
        with_retry(rejected, what="push", sleep=slept.append)
    assert slept == []


def test_gives_up_after_the_last_try() -> None:
    slept: list[float] = []
    attempts: list[int] = []

    def locked() -> None:
        attempts.append(1)
        raise PipelineError("Error acquiring the state lock", transient=True)

    with pytest.raises(PipelineError, match="state lock"):
        with_retry(locked, what="plan", backoff=Backoff(tries=3, first_s=0.1), sleep=slept.append)
    assert len(attempts) == 3 and slept == pytest.approx([0.1, 0.2])
