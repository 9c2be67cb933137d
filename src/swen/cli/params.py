"""Shared command-line parameter types.

Ids (``id_argument``/``id_option``, and the ready-made ``MrIdArgument``, ``IncidentIdArgument``,
``KeyIdArgument``): merge request, incident and API key ids are 64-bit signed integers in the store,
so anything but a whole number from 1 to 2^63-1 is refused before it reaches SQL, with a one-line
error (a 23-digit id used to end in an OverflowError traceback from the database driver).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

import typer

from swen.domain.errors import InvalidInputError, shown

MAX_ID = 2**63 - 1
"""Largest id the store can hold (a 64-bit signed integer)."""


def id_parser(what: str, hint: str) -> Callable[[str], int]:
    """A Typer ``parser``: a whole number from 1 to MAX_ID, else InvalidInputError naming ``what``."""

    def parse(value: str) -> int:
        text = str(value).strip()
        number = text.isascii() and text.isdigit()
        if not (number and len(text) <= 19 and 1 <= int(text) <= MAX_ID):
            problem = "" if number else " is not a whole number: it"
            raise InvalidInputError(
                f"{what} {shown(text)}{problem} must be between 1 and {MAX_ID}", hint=hint
            )
        return int(text)

    parse.__name__ = f"parse_{what.replace(' ', '_')}"
    return parse


def id_argument(what: str, *, help: str, hint: str) -> Any:
    """``typer.Argument`` for an id: ``Annotated[int, id_argument("merge request id", ...)]``."""
    return typer.Argument(parser=id_parser(what, hint), metavar="ID", help=help, show_default=False)


def id_option(*names: str, what: str, help: str, hint: str) -> Any:
    """``typer.Option`` for an id: ``Annotated[int, id_option("--mr", what="merge request id", ...)]``."""
    return typer.Option(*names, parser=id_parser(what, hint), metavar="ID", help=help, show_default=False)


MrIdArgument = Annotated[
    int,
    id_argument("merge request id", help="Merge request id (see `swen mr list`).", hint="see `swen mr list`"),
]
IncidentIdArgument = Annotated[
    int,
    id_argument(
        "incident id", help="Incident id (see `swen incident list`).", hint="see `swen incident list`"
    ),
]
KeyIdArgument = Annotated[
    int, id_argument("key id", help="Key id (see `swen keys list`).", hint="see `swen keys list`")
]
MrIdOption = Annotated[
    int,
    id_option(
        "--mr",
        what="merge request id",
        help="MR id (GitLab IID when SWEN_MR_HOST=gitlab).",
        hint="see `swen mr list`, or the GitLab merge request's IID",
    ),
]
