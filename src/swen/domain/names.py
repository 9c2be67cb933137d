"""Validation of every externally supplied name before it reaches a branch, a path, a shell or HCL."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator

from swen.domain.errors import InvalidInputError

SERVICE_NAME_PATTERN = r"^[a-z][a-z0-9-]{0,62}$"
# Provider and region names follow the same DNS-label rule (aws, us-east-1, ap-southeast-1).
LOCATION_NAME_PATTERN = r"^[a-z][a-z0-9-]{0,62}$"
_SERVICE_RE = re.compile(SERVICE_NAME_PATTERN)
_LOCATION_RE = re.compile(LOCATION_NAME_PATTERN)


def _check(value: str, regex: re.Pattern[str], what: str) -> str:
    if not isinstance(value, str) or not regex.fullmatch(value):
        raise InvalidInputError(
            f"invalid {what} name {value!r}",
            hint=f"use lowercase letters, digits and '-', starting with a letter, at most 63 characters "
            f"(pattern {regex.pattern})",
        )
    return value


def validate_service_name(value: str) -> str:
    """Return ``value`` if it is a valid service name, else raise InvalidInputError."""
    return _check(value, _SERVICE_RE, "service")


def validate_location_name(value: str, what: str = "provider/region") -> str:
    """Return ``value`` if it is a valid provider or region name, else raise InvalidInputError."""
    return _check(value, _LOCATION_RE, what)


def _pyd_service(value: str) -> str:
    try:
        return validate_service_name(value)
    except InvalidInputError as exc:
        raise ValueError(str(exc)) from None


def _pyd_location(value: str) -> str:
    try:
        return validate_location_name(value)
    except InvalidInputError as exc:
        raise ValueError(str(exc)) from None


ServiceName = Annotated[str, AfterValidator(_pyd_service)]
LocationName = Annotated[str, AfterValidator(_pyd_location)]
