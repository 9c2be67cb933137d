"""What every tab shares: error sentences instead of tracebacks, the SIMULATED price note, formats."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from datetime import datetime

import streamlit as st

from swen.dashboard.client import DashboardError
from swen.dashboard.data import ApiTarget
from swen.domain.providers import PROVIDERS

_log = logging.getLogger(__name__)
SIMULATED_NOTE = (
    "Alibaba Cloud prices are **SIMULATED**: synthetic prices derived from AWS list prices "
    "(no published Alibaba price was found)."
)


def show_error(exc: Exception) -> None:
    """One sentence (and what to do) for an API problem; never a traceback."""
    if isinstance(exc, DashboardError):
        st.error(f"{exc.message}." + (f" To fix it: {exc.hint}." if exc.hint else ""))
    else:
        st.error(f"This part of the dashboard could not be drawn ({type(exc).__name__}: {exc}).")


def guarded(target: ApiTarget, draw: Callable[[ApiTarget], None]) -> None:
    """Run ``draw``; an error becomes an ``st.error`` sentence (a traceback only in debug mode)."""
    try:
        draw(target)
    except DashboardError as exc:
        show_error(exc)
    except Exception as exc:  # the dashboard must keep running whatever a tab meets
        _log.exception("tab failed")
        show_error(exc)
        if target.debug:
            st.exception(exc)


def is_simulated(provider: str) -> bool:
    return provider in PROVIDERS and PROVIDERS.get(provider).simulated_prices


def price_label(usd: float | None, simulated: bool) -> str:
    if usd is None:
        return "no data"
    return f"${usd:,.0f}" + (" (SIMULATED)" if simulated else "")


def simulated_caption() -> None:
    st.caption(":orange[" + SIMULATED_NOTE + "]")


def when(ts: datetime | None) -> str:
    return ts.strftime("%Y-%m-%d %H:%M:%S UTC") if ts else "-"


def money(usd: float | None, *, cents: bool = False, signed: bool = False) -> str:
    """``$1,234`` (``$1,234.56`` with cents, ``+$12``/``-$12`` signed); "-" for no value."""
    if usd is None:
        return "-"
    text = f"${abs(usd):,.{2 if cents else 0}f}"
    if signed:
        return ("+" if usd >= 0 else "-") + text
    return ("-" if usd < 0 else "") + text


def text_or_dash(value: object) -> str:
    """A table cell: the value as text, "-" for nothing (never a raw "None")."""
    return "-" if value is None or value == "" else str(value)


_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+!|<>~$:-])")


def md(text: object) -> str:
    """Text from outside (reasons, titles, labels) made literal for ``st.markdown``."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", "" if text is None else str(text)).replace("\n", " ")
