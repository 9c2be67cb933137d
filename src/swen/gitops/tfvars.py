"""Read and edit the ``service_placement`` map of ``terraform.tfvars`` without disturbing anything else.

The file looks like this (the infra template owns the exact set of keys per entry)::

    service_placement = {
      service-1 = {
        provider      = "aws"
        region        = "us-east-1"
        instance_type = "m5.large"
      }
    }

``read_placements`` parses it with python-hcl2. ``edit_placement`` edits exactly one entry: the HCL
parser (python-hcl2's Lark grammar, which records character positions) finds the span of that
service's ``provider``/``region``/``instance_type`` values, only those characters are replaced, and the
result goes through ``terraform fmt -`` so it stays fmt-clean. Every other byte (comments, other
entries, other variables) is kept; python-hcl2's ``dumps`` is never used because it drops comments.

``terraform fmt`` formats the whole file, so a file on main that is not fmt-clean gets its other
lines normalised too (whitespace only); the infra template is fmt-clean and the pipeline's validate
stage checks ``fmt -check``, so in practice only the edited entry changes.

The map's variable name is a parameter (``variable``, default ``service_placement``; an adopted
repository may call it ``placements``), and so is the file's name in messages (``source``).

A service that has no entry is a ``NotFoundError`` unless the caller passes ``new_entry``: then the
edit adds the service's entry at the end of the map (``render_entry``), so a service added to the fleet
later gets its entry through the same merge request as its first move, never an error loop.
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from lark import Token, Tree
from lark.exceptions import LarkError
from pydantic import BaseModel, ConfigDict, Field

from swen.domain.errors import ConflictError, GitOpsError, InvalidInputError, NotFoundError
from swen.domain.names import validate_location_name, validate_service_name

PLACEMENT_VARIABLE = "service_placement"
INSTANCE_TYPE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
_INSTANCE_TYPE_RE = re.compile(INSTANCE_TYPE_PATTERN)
_FMT_TIMEOUT_S = 30.0


class PlacementEntry(BaseModel):
    """One service's entry of ``service_placement`` as read from terraform.tfvars."""

    model_config = ConfigDict(frozen=True)

    service: str
    provider: str
    region: str
    instance_type: str | None = None
    stateful: bool = False
    attributes: dict[str, Any] = Field(default_factory=dict)
    """Every attribute of the entry as python-hcl2 read it (gpu_count, replicas, ...)."""


def validate_instance_type(value: str) -> str:
    """Return ``value`` if it is a safe instance type (e.g. ``m5.large``, ``ecs.g7.xlarge``)."""
    if not isinstance(value, str) or not _INSTANCE_TYPE_RE.fullmatch(value):
        raise InvalidInputError(
            f"invalid instance type {value!r}",
            hint=f"use letters, digits, '.', '_' and '-' (pattern {INSTANCE_TYPE_PATTERN})",
        )
    return value


def _unquote(value: Any) -> Any:
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value


def read_placements(
    text: str, *, source: str = "terraform.tfvars", variable: str = PLACEMENT_VARIABLE
) -> dict[str, PlacementEntry]:
    """Parse ``text`` and return the entries of its placement map (``variable``) by service name."""
    from hcl2.api import loads

    try:
        data = loads(text)
    except LarkError as exc:
        raise InvalidInputError(
            f"cannot parse HCL: {_first_line(exc)}", hint="fix the syntax of the file", source=source
        ) from None
    raw = data.get(variable)
    if not isinstance(raw, dict):
        raise InvalidInputError(
            f"no {variable} map", hint=f"declare {variable} = {{ ... }} in {source}", source=source
        )
    entries: dict[str, PlacementEntry] = {}
    for key, body in raw.items():
        name = _unquote(key)
        if not isinstance(body, dict) or "provider" not in body or "region" not in body:
            raise InvalidInputError(f"entry {name!r} of {variable} needs provider and region", source=source)
        instance_type = _unquote(body.get("instance_type"))
        entries[name] = PlacementEntry(
            service=name,
            provider=str(_unquote(body["provider"])),
            region=str(_unquote(body["region"])),
            instance_type=None if instance_type is None else str(instance_type),
            stateful=body.get("stateful") is True,
            attributes={str(_unquote(k)): _unquote(v) for k, v in body.items()},
        )
    return entries


# --- span editing ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Span:
    start: int
    end: int


@dataclass(frozen=True)
class _EntrySpan:
    whole: _Span
    body: _Span  # the value object, braces included
    values: dict[str, _Span]  # attribute name -> span of its value expression
    last_elem_end: int


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _trees(node: Tree[Any], data: str) -> list[Tree[Any]]:
    return [c for c in node.children if isinstance(c, Tree) and c.data == data]


def _span(node: Tree[Any]) -> _Span:
    return _Span(node.meta.start_pos, node.meta.end_pos)


def _key_text(elem: Tree[Any], text: str) -> str:
    key = elem.children[0]
    assert isinstance(key, Tree)
    return str(_unquote(text[key.meta.start_pos : key.meta.end_pos].strip()))


def _value_object(node: Tree[Any]) -> Tree[Any] | None:
    """The ``object`` tree under an attribute/object_elem value, or None if it is something else."""
    value = node.children[-1]
    if isinstance(value, Tree) and value.data == "expr_term":
        inner = value.children[0] if value.children else None
        if isinstance(inner, Tree) and inner.data == "object":
            return inner
    return None


@dataclass(frozen=True)
class _MapSpan:
    body: _Span  # the map's object, braces included
    entries: dict[str, _EntrySpan]


def _find_map(text: str, variable: str, source: str) -> _MapSpan:
    from hcl2.parser import parser

    try:
        tree = parser().parse(text + "\n")
    except LarkError as exc:
        raise InvalidInputError(
            f"cannot parse HCL: {_first_line(exc)}", hint=f"fix the syntax of {source}"
        ) from None
    body = _trees(tree, "body")[0] if tree.data == "start" else tree
    for attr in _trees(body, "attribute"):
        name = attr.children[0]
        if not (isinstance(name, Tree) and _tok(name) == variable):
            continue
        mapping = _value_object(attr)
        if mapping is None:
            break
        entries: dict[str, _EntrySpan] = {}
        for elem in _trees(mapping, "object_elem"):
            service = _key_text(elem, text)
            entry = _value_object(elem)
            if entry is None:
                raise InvalidInputError(f"entry {service!r} of {variable} in {source} is not an object")
            elems = _trees(entry, "object_elem")
            values = {
                _key_text(e, text): _span(e.children[-1]) for e in elems if isinstance(e.children[-1], Tree)
            }
            last = max((e.meta.end_pos for e in elems), default=entry.meta.start_pos + 1)
            entries[service] = _EntrySpan(_span(elem), _span(entry), values, last)
        return _MapSpan(_span(mapping), entries)
    raise InvalidInputError(
        f"{source} has no {variable} map", hint=f"declare {variable} = {{ ... }} in {source}"
    )


def _tok(identifier: Tree[Any]) -> str:
    first = identifier.children[0]
    return str(first) if isinstance(first, Token) else ""


def edit_placement(
    text: str,
    service: str,
    provider: str,
    region: str,
    instance_type: str | None = None,
    *,
    terraform_bin: str = "terraform",
    variable: str = PLACEMENT_VARIABLE,
    source: str = "terraform.tfvars",
    new_entry: Mapping[str, str | int | bool] | None = None,
) -> str:
    """Return ``text`` with only ``service``'s provider/region (and instance_type if given) changed.

    ``instance_type=None`` leaves an existing ``instance_type`` untouched. The result is
    ``terraform fmt``-clean. Raises InvalidInputError for bad names, NotFoundError for a service with
    no entry (unless ``new_entry`` gives the other attributes of the entry to add: then the service's
    entry is appended to the map) and ConflictError when the entry already has exactly these values.
    """
    validate_service_name(service)
    validate_location_name(provider, "provider")
    validate_location_name(region, "region")
    if instance_type is not None:
        validate_instance_type(instance_type)
    mapping = _find_map(text, variable, source)
    entry = mapping.entries.get(service)
    wanted = {"provider": provider, "region": region}
    if instance_type is not None:
        wanted["instance_type"] = instance_type
    if entry is None:
        if new_entry is None:
            raise NotFoundError(
                f"service {service!r} has no entry in {variable} of {source}",
                hint=f"add the service's entry to {source} on main first",
            )
        return terraform_fmt(
            _append_entry(
                text, mapping, service, {**wanted, **{k: v for k, v in new_entry.items() if k not in wanted}}
            ),
            terraform_bin=terraform_bin,
        )
    current = {k: text[s.start : s.end] for k, s in entry.values.items()}
    if all(current.get(k) == f'"{v}"' for k, v in wanted.items()):
        raise ConflictError(
            f"{source} already places {service} at {provider}/{region}",
            hint="nothing to change",
        )
    edits: list[tuple[int, int, str]] = []
    for key, value in wanted.items():
        span = entry.values.get(key)
        if span is not None:
            edits.append((span.start, span.end, f'"{value}"'))
        else:
            edits.append((entry.last_elem_end, entry.last_elem_end, _new_attribute(text, entry, key, value)))
    edited = text
    for start, end, replacement in sorted(edits, reverse=True):
        edited = edited[:start] + replacement + edited[end:]
    return terraform_fmt(edited, terraform_bin=terraform_bin)


_ATTRIBUTE_KEY_RE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


def render_entry(service: str, attributes: Mapping[str, str | int | bool], *, indent: str = "  ") -> str:
    """One entry of the placement map as HCL (``service = { key = value ... }``), every piece validated.

    Strings are limited to the safe name alphabet (they come from the fleet and the catalog); numbers
    and booleans are written as HCL literals."""
    validate_service_name(service)
    lines = [f"{indent}{service} = {{"]
    for key, value in attributes.items():
        if not _ATTRIBUTE_KEY_RE.fullmatch(key):
            raise InvalidInputError(f"invalid attribute name {key!r} for the entry of {service}")
        if isinstance(value, bool):
            literal = "true" if value else "false"
        elif isinstance(value, int):
            literal = str(value)
        elif isinstance(value, str):
            literal = f'"{validate_instance_type(value)}"'  # the widest safe alphabet of an entry value
        else:
            raise InvalidInputError(f"attribute {key} of {service}: unsupported value {value!r}")
        lines.append(f"{indent}  {key} = {literal}")
    lines.append(f"{indent}}}")
    return "\n".join(lines)


def replace_map(
    text: str,
    entries: Sequence[tuple[str, Mapping[str, str | int | bool], str]],
    *,
    variable: str = PLACEMENT_VARIABLE,
    source: str = "terraform.tfvars",
    terraform_bin: str = "terraform",
) -> str:
    """``text`` with the placement map's body replaced by ``entries`` (service, attributes, comment),
    everything outside the map (the file's header comments, other variables) kept byte for byte."""
    mapping = _find_map(text, variable, source)
    blocks = []
    for service, attributes, comment in entries:
        note = "".join(ch if ch.isprintable() else " " for ch in comment).strip()
        blocks.append((f"  # {note}\n" if note else "") + render_entry(service, attributes))
    body = "{\n" + "\n\n".join(blocks) + "\n}"
    edited = text[: mapping.body.start] + body + text[mapping.body.end :]
    return terraform_fmt(edited, terraform_bin=terraform_bin)


def _append_entry(
    text: str, mapping: _MapSpan, service: str, attributes: Mapping[str, str | int | bool]
) -> str:
    """``text`` with ``service``'s entry added before the closing brace of the map."""
    close = mapping.body.end - 1  # the map's closing brace
    assert text[close] == "}"
    before = text[:close].rstrip(" \t")
    block = render_entry(service, attributes)
    if not before.endswith("\n"):
        before += "\n"
    spacer = "" if before.rstrip().endswith("{") else "\n"
    return f"{before}{spacer}{block}\n{text[close:]}"


def _new_attribute(text: str, entry: _EntrySpan, key: str, value: str) -> str:
    body = text[entry.body.start : entry.body.end]
    if "\n" not in body:
        return f', {key} = "{value}"'
    line_start = text.rfind("\n", 0, entry.last_elem_end) + 1
    indent = re.match(r"[ \t]*", text[line_start:]).group(0)  # type: ignore[union-attr]
    return f'\n{indent}{key} = "{value}"'


def terraform_fmt(text: str, *, terraform_bin: str = "terraform") -> str:
    """Run ``terraform fmt -`` on ``text`` (own empty CLI config) and return the formatted text."""
    with tempfile.TemporaryDirectory(prefix="swen-fmt-") as tmp:
        cli_config = os.path.join(tmp, "terraformrc")
        with open(cli_config, "w", encoding="utf-8"):
            pass
        env = {**os.environ, "TF_CLI_CONFIG_FILE": cli_config, "TF_IN_AUTOMATION": "1"}
        try:
            proc = subprocess.run(
                [terraform_bin, "fmt", "-no-color", "-"],
                input=text,
                capture_output=True,
                text=True,
                env=env,
                timeout=_FMT_TIMEOUT_S,
                check=False,
            )
        except FileNotFoundError:
            raise GitOpsError(
                f"terraform binary {terraform_bin!r} not found",
                hint="install terraform or set SWEN_TERRAFORM_BIN",
            ) from None
        except subprocess.TimeoutExpired:
            raise GitOpsError("terraform fmt timed out", transient=True) from None
    if proc.returncode != 0:
        raise GitOpsError(
            f"terraform fmt rejected the edited placement file: {proc.stderr.strip()}",
            hint="the file on main may not be valid HCL",
        )
    return proc.stdout
