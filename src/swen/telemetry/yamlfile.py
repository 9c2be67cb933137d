"""Shared reading of user YAML files (fleet, scenarios, backtests): one-line errors naming file, field and
fix. Every YAML file SWEN reads goes through ``read_yaml`` (``swen.domain.safe_yaml``), which refuses
anchors and aliases."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError

from swen.domain.errors import ConfigError
from swen.domain.names import LOCATION_NAME_PATTERN, SERVICE_NAME_PATTERN
from swen.domain.safe_yaml import read_yaml as read_yaml  # the settings file uses it too (config layer)

_HINTS = {
    "missing": "add this field",
    "extra_forbidden": "remove this field (it is not a known setting)",
    "finite_number": "use a finite number (NaN and infinity are rejected)",
    "float_parsing": "use a number",
    "float_type": "use a number",
    "int_parsing": "use a whole number",
    "int_type": "use a whole number",
    "int_from_float": "use a whole number",
    "bool_parsing": "use true or false",
    "bool_type": "use true or false",
    "greater_than": "use a larger number",
    "greater_than_equal": "use a larger number (negative values are rejected)",
    "less_than": "use a smaller number",
    "less_than_equal": "use a smaller number",
    "enum": "use one of the listed values",
    "literal_error": "use one of the listed values",
    "string_type": "use a text value",
    "tuple_type": "use a list, e.g. [aws, alibaba]",
    "list_type": "use a list",
    "dict_type": "use a mapping (key: value)",
    "model_type": "use a mapping (key: value)",
}


def field_path(prefix: str, loc: Sequence[int | str]) -> str:
    text = prefix
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def validation_error(label: str, prefix: str, exc: ValidationError) -> ConfigError:
    """The first pydantic error as a one-line ConfigError: '<file>: <field>: <problem> (<fix>)'."""
    err = exc.errors(include_url=False)[0]
    field = field_path(prefix, [p for p in err["loc"] if p not in ("function-after", "function-plain")])
    msg = str(err["msg"]).removeprefix("Value error, ").removeprefix("Assertion failed, ")
    got = err.get("input")
    shown = (
        "" if err["type"] in ("missing", "model_type") or isinstance(got, dict | list) else f" (got {got!r})"
    )
    hint = _HINTS.get(err["type"], "fix the value")
    where = f"{field}: " if field else ""  # a model-level error has no field
    return ConfigError(f"{where}{msg}{shown}".replace("\n", " "), hint=hint, source=label)


def check_name(label: str, field: str, value: object, *, location: bool = False) -> str:
    """A service (or provider/region) name that breaks the DNS-label pattern is a ConfigError."""
    pattern = LOCATION_NAME_PATTERN if location else SERVICE_NAME_PATTERN
    if not isinstance(value, str) or not re.fullmatch(pattern, value):
        raise ConfigError(
            f"{field}: {value!r} breaks {pattern}",
            hint="use lowercase letters, digits and '-', starting with a letter (max 63)",
            source=label,
        )
    return value


def check_finite(label: str, prefix: str, data: Any) -> None:
    """Reject NaN/infinity anywhere in ``data`` before validation, naming the field."""
    if isinstance(data, float) and not math.isfinite(data):
        raise ConfigError(
            f"{prefix}: {data!r} is not a finite number",
            hint="use a finite number (NaN and infinity are rejected)",
            source=label,
        )
    if isinstance(data, dict):
        for key, value in data.items():
            check_finite(label, field_path(prefix, [str(key)]), value)
    elif isinstance(data, list):
        for index, value in enumerate(data):
            check_finite(label, field_path(prefix, [index]), value)
