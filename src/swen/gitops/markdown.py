"""Markdown that external text cannot break, for merge-request descriptions and comments.

GitLab and GitHub render descriptions and comments as Markdown (GLFM, GFM) with inline HTML. Text
SWEN did not write itself - service names, explanations, gate reasons, Terraform resource addresses,
reviewer names - goes through one of these before it reaches either:

- :func:`text`: prose or a table cell. Control characters go, line breaks become spaces (a line
  break would end a table row), ``& < >`` become entities (no HTML: no ``<img>``, no ``<details>``
  left open) and every other character that starts Markdown inline syntax (emphasis, links, code,
  tables, strikethrough, math, headings, references) is backslash-escaped, so the reader sees the
  text as it was, ``|`` included.
- :func:`code`: an inline code span (for names and addresses): its fence is longer than any run of
  backticks inside, and ``|`` is escaped because GFM and GLFM split table cells on ``|`` even inside
  code spans.
- :func:`table`: a pipe table whose cells are already made safe by the two above.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

__all__ = ["code", "paragraphs", "table", "text"]

_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
_ESCAPED = frozenset("\\`*_[]|~#!$%@{}")
"""Characters that open inline syntax on GitHub or GitLab: emphasis ``* _``, code `````, links and
images ``[ ] !``, tables ``|``, strikethrough ``~``, math ``$``, headings ``#``, GitLab's references
(``#`` issues, ``!`` merge requests, ``~`` labels, ``%`` milestones, ``$`` snippets, ``@`` people; GitLab
leaves an escaped reference as text), GitLab's ``{+ +}`` inline diffs, and the escape itself."""
_SPACES = re.compile(r"\s+")
_BACKTICKS = re.compile(r"`+")


def _printable(value: str) -> str:
    """``value`` on one line: whitespace runs (line breaks included) are one space, control
    characters are dropped."""
    return "".join(ch for ch in _SPACES.sub(" ", value) if ch.isprintable()).strip()


def text(value: object) -> str:
    """``value`` as literal Markdown text on one line (safe in prose and in table cells)."""
    out: list[str] = []
    for ch in _printable(str(value)):
        if ch in _ENTITIES:
            out.append(_ENTITIES[ch])
        elif ch in _ESCAPED:
            out.append("\\" + ch)
        else:
            out.append(ch)
    return "".join(out)


def paragraphs(value: object) -> str:
    """Multi-line ``value`` as literal Markdown: each non-empty line through :func:`text`, blank lines
    kept as paragraph breaks. A line that would start a block (a list, a quote, a heading, a
    numbered item) is kept literal by escaping its first character."""
    lines: list[str] = []
    for raw in str(value).splitlines():
        line = text(raw)
        if line and (line[0] in "-+>=" or re.match(r"\d+[.)]", line)):
            line = "\\" + line if line[0] in "-+>=" else re.sub(r"^(\d+)([.)])", r"\1\\\2", line)
        lines.append(line)
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def code(value: object, *, cell: bool = True) -> str:
    """``value`` as an inline code span; ``cell`` (default) escapes ``|`` for a table cell (in prose
    the backslash would show)."""
    body = _printable(str(value))
    if cell:
        body = body.replace("|", "\\|")
    if not body:
        return "` `"
    longest = max((len(run) for run in _BACKTICKS.findall(body)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if body.startswith("`") or body.endswith("`") else ""
    return f"{fence}{pad}{body}{pad}{fence}"


def table(header: Sequence[str], rows: Sequence[Sequence[str]], *, align: Sequence[str] = ()) -> list[str]:
    """Lines of a pipe table. ``header`` and ``rows`` hold cells already made safe with :func:`text`
    or :func:`code`; ``align`` holds ``left`` or ``right`` per column (left by default)."""
    marks = [
        ("---:" if (align[i] if i < len(align) else "left") == "right" else "---") for i in range(len(header))
    ]
    return [
        "| " + " | ".join(header) + " |",
        "|" + "|".join(marks) + "|",
        *("| " + " | ".join(row) + " |" for row in rows),
    ]
