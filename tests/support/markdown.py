"""Markdown rendered as GitHub and GitLab render it (tables, strikethrough, raw HTML passed through),
by markdown-it-py's GFM-like preset (a CommonMark parser; rich already depends on it). Tests check the
HTML a reviewer's browser would get, not the Markdown text."""

from __future__ import annotations

from markdown_it import MarkdownIt

_GFM = MarkdownIt("gfm-like", {"linkify": False}).disable("linkify")


def render_gfm(text: str) -> str:
    """HTML of ``text``; raw HTML in it stays HTML, as on both hosts before their sanitiser."""
    return _GFM.render(text)
