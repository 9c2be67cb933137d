"""Text from outside, made safe for the terminal before rich prints it.

Alert labels and annotations, merge request titles, reasons, key names, names from fleet files and
anything else that did not come from SWEN's own code may hold terminal escape sequences (``ESC]0;...BEL``
retitles the terminal, ``ESC[2J`` clears it) or rich markup (``[bold red]``, ``[link=...]``) that rich
would render. ``plain(value)`` removes escape sequences and control characters (newlines and tabs are
kept) and escapes rich markup, so the text prints literally; use it for every such value in a table
cell or a ``console.print``. ``clean(value)`` only removes the control characters, for ``typer.echo``.
``one_line(value)`` is ``plain`` for a line of a log: newlines become spaces, so a reason cannot forge
a second line. ``install_safe_log_records()`` makes every log message of the process ``clean`` (the
simulator, the engine and the API log to the terminal of ``swen up``).
"""

from __future__ import annotations

import logging
import re
from typing import Any

from rich.markup import escape

_ESCAPE_SEQUENCE = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"  # CSI: colours, cursor moves, clear screen
    r"|\x1b[\]PX^_][^\x07\x1b]*(?:\x07|\x1b\\)?"  # OSC/DCS/SOS/PM/APC strings (titles, hyperlinks)
    r"|\x1b[ -/]*[0-~]"  # any other escape
    r"|\x9b[0-?]*[ -/]*[@-~]"  # 8-bit CSI
)
_LINE_BREAKS = re.compile(r"[\n\t]+")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")
"""C0 and C1 controls except tab and newline, and the invisible bidirectional controls."""


def clean(value: object) -> str:
    """``value`` as text without terminal escape sequences or control characters (``None`` -> "")."""
    text = "" if value is None else str(value)
    return _CONTROL.sub("", _ESCAPE_SEQUENCE.sub("", text))


def plain(value: object) -> str:
    """``value`` as rich markup that prints literally: ``clean`` and rich's ``escape``."""
    return escape(clean(value))


def one_line(value: object) -> str:
    """``plain(value)`` on one line: each run of newlines and tabs becomes one space (other spacing,
    e.g. the platform log's aligned columns, is kept)."""
    return _LINE_BREAKS.sub(" ", plain(value))


class _CleanLogRecord(logging.LogRecord):
    """A log record whose message has no terminal escape sequence or control character."""

    def getMessage(self) -> str:
        return clean(super().getMessage())


def install_safe_log_records() -> None:
    """Every log record created from now on in this process prints its message ``clean``: log
    messages carry exception texts, names and reasons from outside (a GitLab reviewer, an alert)."""
    factory: Any = _CleanLogRecord
    logging.setLogRecordFactory(factory)
