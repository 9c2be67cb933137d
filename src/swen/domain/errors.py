"""One root exception, one subclass per layer.

Every error carries a message that says what is wrong and a ``hint`` that says what to do next.
Library errors (SQL, git, subprocess, HTTP) are translated into these at the adapter that meets them.
"""

from __future__ import annotations


def shown(value: object, limit: int = 40) -> str:
    """``value`` quoted for an error message, cut to ``limit`` characters: user input may be huge and
    an error stays one readable line."""
    text = str(value)
    return repr(text if len(text) <= limit else text[:limit] + "...")


class SwenError(Exception):
    """Root of every error SWEN raises on purpose."""

    exit_code: int = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class InvalidInputError(SwenError):
    """Bad user input: a name, a file, a value. ``source`` names the file or field when known."""

    exit_code = 2

    def __init__(self, message: str, *, hint: str | None = None, source: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.source = source

    def __str__(self) -> str:
        base = super().__str__()
        return f"{self.source}: {base}" if self.source else base


class ConfigError(InvalidInputError):
    """Settings, fleet, weights or scenario files that do not validate."""


class NotFoundError(SwenError):
    """Something asked for by name or id does not exist."""

    exit_code = 3


class ConflictError(SwenError):
    """The request contradicts the current state (e.g. an illegal lifecycle transition)."""

    exit_code = 4


class FencedError(ConflictError):
    """A process that lost its lease (leader election) tried to write; nothing was written."""


class StoreError(SwenError):
    """The database could not be reached or refused a write."""


class StateError(StoreError):
    """A stored state value (a key of the flags table) does not validate as its model."""


class TelemetryError(SwenError):
    """The catalog or the simulator failed."""


class EngineError(SwenError):
    """The decision engine could not evaluate."""


class GitOpsError(SwenError):
    """git, the infra repository or a merge-request host failed."""

    def __init__(self, message: str, *, hint: str | None = None, transient: bool = False) -> None:
        super().__init__(message, hint=hint)
        self.transient = transient


class PipelineError(SwenError):
    """A pipeline stage (terraform, policy, notify) failed."""

    def __init__(
        self, message: str, *, hint: str | None = None, stage: str | None = None, transient: bool = False
    ) -> None:
        super().__init__(message, hint=hint)
        self.stage = stage
        self.transient = transient


class PolicyError(PipelineError):
    """The policy could not be evaluated (bad Rego, bad input)."""


class LockError(PipelineError):
    """The apply lock is held by a live process."""


class ObservabilityError(SwenError):
    """Alert intake or anomaly detection failed."""


class AuthError(SwenError):
    """Missing or insufficient credentials."""

    exit_code = 5
