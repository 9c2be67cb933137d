"""Validation of every externally supplied name before it reaches a branch, a path, a shell or HCL."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated

from pydantic import AfterValidator

from swen.domain.errors import InvalidInputError

SERVICE_NAME_PATTERN = r"^[a-z][a-z0-9-]{0,62}$"
# Provider and region names follow the same DNS-label rule (aws, us-east-1, ap-southeast-1).
LOCATION_NAME_PATTERN = r"^[a-z][a-z0-9-]{0,62}$"
# Alertmanager (Prometheus) label names; SWEN needs the alertname label and reads service/provider/region.
ALERT_LABEL_NAME_PATTERN = r"^[a-zA-Z_][a-zA-Z0-9_]*$"
ALERTNAME_MAX_LENGTH = 128
_SERVICE_RE = re.compile(SERVICE_NAME_PATTERN)
_LOCATION_RE = re.compile(LOCATION_NAME_PATTERN)
_LABEL_NAME_RE = re.compile(ALERT_LABEL_NAME_PATTERN)


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


def validate_alert_labels(labels: Mapping[str, str]) -> None:
    """The labels of an alert SWEN records: an ``alertname`` of 1..ALERTNAME_MAX_LENGTH characters,
    Prometheus label names, and valid names in ``service``, ``provider`` and ``region`` when present.
    InvalidInputError's ``source`` names the offending label (None when alertname is missing)."""
    if not 1 <= len(labels.get("alertname", "")) <= ALERTNAME_MAX_LENGTH:
        raise InvalidInputError(
            f"the label alertname is missing or longer than {ALERTNAME_MAX_LENGTH} characters",
            source=None if "alertname" not in labels else "alertname",
        )
    for name in labels:
        if not _LABEL_NAME_RE.fullmatch(name):
            raise InvalidInputError(f"invalid label name {name!r}", source=name)
    for label, check in (("service", validate_service_name), ("provider", validate_location_name),
                         ("region", validate_location_name)):  # fmt: skip
        if label in labels:
            try:
                check(labels[label])
            except InvalidInputError as exc:
                raise InvalidInputError(exc.message, hint=exc.hint, source=label) from None
