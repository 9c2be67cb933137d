"""Branch names of the GitOps flow, built only from validated pieces.

``ai-rec/<service>-<provider>-<YYYYmmddTHHMMSSZ>`` for a recommendation, ``emergency/...`` for a
self-healing move and ``rollback/...`` for putting a previous placement back. The timestamp is the
decision's ``created_at`` in UTC, so the same decision always yields the same branch (that is what makes
the committer crash-safe: a restart finds the branch it already pushed).

A team's naming rule may put a prefix in front (setting ``branch_prefix``: up to three lowercase
segments, each ending in ``/``, e.g. ``swen/ai-rec/...``); a valid name is recognised with or without it.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from enum import StrEnum

from swen.domain.errors import InvalidInputError
from swen.domain.names import validate_location_name, validate_service_name

TIMESTAMP_FORMAT = "%Y%m%dT%H%M%SZ"


class BranchKind(StrEnum):
    """The prefix of a branch; also the ``kind`` of its merge request."""

    RECOMMENDATION = "ai-rec"
    EMERGENCY = "emergency"
    ROLLBACK = "rollback"


BRANCH_PATTERN = (
    r"^(?:[a-z0-9][a-z0-9-]{0,30}/){0,3}?(ai-rec|emergency|rollback)/"
    r"[a-z][a-z0-9-]{0,62}-[a-z][a-z0-9-]{0,62}-\d{8}T\d{6}Z$"
)
_BRANCH_RE = re.compile(BRANCH_PATTERN)


def branch_timestamp(at: datetime) -> str:
    """``at`` in UTC as ``YYYYmmddTHHMMSSZ``; naive datetimes are refused."""
    if at.tzinfo is None:
        raise InvalidInputError("branch timestamp must be timezone-aware", hint="use datetime.now(UTC)")
    return at.astimezone(UTC).strftime(TIMESTAMP_FORMAT)


def branch_name(kind: BranchKind, service: str, provider: str, at: datetime, *, prefix: str = "") -> str:
    """Build ``<prefix><kind>/<service>-<provider>-<timestamp>`` after validating every piece."""
    validate_service_name(service)
    validate_location_name(provider, "provider")
    name = f"{prefix}{BranchKind(kind).value}/{service}-{provider}-{branch_timestamp(at)}"
    return validate_branch_name(name)


def validate_branch_name(name: str) -> str:
    """Return ``name`` if it is a SWEN branch name, else raise InvalidInputError."""
    if not isinstance(name, str) or not _BRANCH_RE.fullmatch(name) or ".." in name:
        raise InvalidInputError(
            f"invalid branch name {name!r}",
            hint="SWEN branches look like ai-rec/<service>-<provider>-<YYYYmmddTHHMMSSZ>",
        )
    return name


def branch_kind(name: str) -> BranchKind:
    """The kind of a valid SWEN branch name."""
    found = _BRANCH_RE.fullmatch(validate_branch_name(name))
    assert found is not None
    return BranchKind(found.group(1))
