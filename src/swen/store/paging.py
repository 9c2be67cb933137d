"""The one page limit of store reads (the API bounds its own pages lower, per route)."""

from __future__ import annotations

from swen.domain.errors import InvalidInputError

MAX_PAGE = 10_000
"""The most rows one store read returns (``limit``); callers page with ``offset`` or an id cursor."""


def check_page(limit: int | None, offset: int = 0) -> None:
    """InvalidInputError unless ``1 <= limit <= MAX_PAGE`` (None: no limit) and ``offset >= 0``."""
    if limit is not None and not 1 <= limit <= MAX_PAGE:
        raise InvalidInputError(f"limit must be between 1 and {MAX_PAGE}, got {limit}")
    if offset < 0:
        raise InvalidInputError(f"offset must be >= 0, got {offset}")
