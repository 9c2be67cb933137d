"""Help that reads like a manual page: ``SwenTyper`` is ``typer.Typer`` with commands and groups that

- write arguments as NAME in the usage line and the help (``swen explain [OPTIONS] SERVICE``, optional
  ones as ``[NAME]``), not ``{service}``;
- show flags (``--json``, ``--force``, ``--progress/--no-progress``, ``--help``) as flags, without a
  ``<bool>`` value they do not take.

A parameter with a fixed set of values is declared as an enum, so the help lists them (``<a|b|c>``),
with a ``parser=`` that raises a SwenError, so a wrong value stays a one-line error.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from enum import StrEnum
from typing import Any, TypeVar

import typer
from typer import _click
from typer.core import TyperArgument, TyperCommand, TyperGroup, TyperOption
from typer.models import CommandFunctionType

from swen.domain.errors import InvalidInputError, shown

E = TypeVar("E", bound=StrEnum)


def _tidy(params: list[Any]) -> list[Any]:
    """Arguments named in capitals, flags without a value type (in place; returns ``params``)."""
    for param in params:
        if isinstance(param, TyperArgument) and param.metavar is None and param.name:
            param.metavar = param.name.upper()
        elif isinstance(param, TyperOption) and param.is_flag and param.metavar is None:
            param.metavar = ""
    return params


def _usage(param: Any, ctx: _click.Context) -> list[str]:
    if not isinstance(param, TyperArgument):
        return list(param.get_usage_pieces(ctx))
    name = param.metavar or (param.name or "ARG").upper()
    name = name if param.required else f"[{name}]"
    return [name + ("..." if param.nargs != 1 else "")]


class SwenCommand(TyperCommand):
    """A command whose help writes arguments as NAME and flags as flags."""

    def get_params(self, ctx: _click.Context) -> list[Any]:
        return _tidy(list(super().get_params(ctx)))

    def collect_usage_pieces(self, ctx: _click.Context) -> list[str]:
        pieces = [self.options_metavar] if self.options_metavar else []
        for param in self.get_params(ctx):
            pieces.extend(_usage(param, ctx))
        return pieces


class SwenGroup(TyperGroup):
    """A command group whose help shows its flags (``--help``) as flags."""

    def get_params(self, ctx: _click.Context) -> list[Any]:
        return _tidy(list(super().get_params(ctx)))


class SwenTyper(typer.Typer):
    """``typer.Typer`` whose groups and commands are SwenGroup and SwenCommand."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("cls", SwenGroup)
        super().__init__(**kwargs)

    def command(
        self, name: str | None = None, *, cls: type[TyperCommand] | None = None, **kwargs: Any
    ) -> Callable[[CommandFunctionType], CommandFunctionType]:
        return super().command(name, cls=cls or SwenCommand, **kwargs)


def choices(values: Iterable[object]) -> str:
    """The metavar of a text option with a fixed set of values: ``<a|b|c>`` (what the help shows for an
    enum), for options that keep ``str`` so their own one-line error names a wrong value."""
    return "<" + "|".join(str(v) for v in values) + ">"


def enum_parser(kind: type[E], what: str) -> Callable[[str], E]:
    """A Typer ``parser`` for an enum parameter: a wrong value is one InvalidInputError line naming
    ``what`` and the values (Typer's own check would be a framed usage box)."""

    def parse(value: str) -> E:
        try:
            return kind(value)
        except ValueError:
            raise InvalidInputError(
                f"unknown {what} {shown(value)}", hint=f"use one of {', '.join(str(v) for v in kind)}"
            ) from None

    parse.__name__ = f"parse_{what.replace(' ', '_')}"
    return parse
