"""The wall clock, in one place: every "now" SWEN stores is timezone-aware UTC."""

from __future__ import annotations

from datetime import UTC, datetime

from swen.domain.errors import InvalidInputError


def utcnow() -> datetime:
    """The current time as a timezone-aware UTC datetime."""
    return datetime.now(UTC)


def aware_utc(value: datetime, what: str = "timestamps") -> datetime:
    """``value`` in UTC; InvalidInputError when it is naive (a naive time is ambiguous)."""
    if value.tzinfo is None:
        raise InvalidInputError(f"{what} must be timezone-aware (UTC)", hint="use datetime.now(UTC)")
    return value.astimezone(UTC)
