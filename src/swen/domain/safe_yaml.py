"""Parsing YAML that users write (settings, fleet, scenarios, backtests): one-line errors naming the
file, and no anchors or aliases. Every YAML file SWEN reads goes through ``read_yaml``; it lives in the
domain so that the settings (``swen.config``) and the layers above share it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from swen.domain.errors import ConfigError


class _AnchorRefused(yaml.MarkedYAMLError):
    pass


class _NoAnchorLoader(yaml.SafeLoader):
    """SafeLoader that refuses anchors and aliases (``&name``/``*name``/``<<: *name``) before it builds
    anything: a few hundred bytes of nested aliases expand to billions of nodes ("billion laughs"), and
    no SWEN file needs them."""

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        event = self.peek_event()  # type: ignore[no-untyped-call]
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
            raise _AnchorRefused(
                problem="YAML anchors and aliases (&name, *name) are not allowed",
                problem_mark=event.start_mark,
            )
        return super().compose_node(parent, index)


def read_yaml(path: Path, label: str) -> Any:
    """Parse ``path``; unreadable or invalid YAML is a ConfigError naming the file."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        where = label if len(label) <= 200 else label[:200] + "..."
        raise ConfigError(
            f"cannot read the file: {exc.strerror}", hint="check the path", source=where
        ) from None
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"not UTF-8 text (byte {exc.start})", hint="save the file as UTF-8", source=label
        ) from None
    try:
        return yaml.load(text, Loader=_NoAnchorLoader)  # a SafeLoader without aliases
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "syntax error"
        hint = "write the values out in full" if isinstance(exc, _AnchorRefused) else "fix the YAML syntax"
        raise ConfigError(f"not valid YAML{where}: {problem}", hint=hint, source=label) from None
