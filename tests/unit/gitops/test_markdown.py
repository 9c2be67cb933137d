"""External text in merge-request Markdown reads as the text it was, in prose and in table cells."""

from __future__ import annotations

import html

import pytest

from support.markdown import render_gfm
from swen.gitops import markdown as md

HOSTILE = [
    "a | b",
    "<script>alert(1)</script>",
    "<details><summary>x",
    "**bold** _em_ ~~gone~~ [link](http://x) ![img](http://x)",
    "$x^2$ and $$y$$",
    "`tick` and ``two``",
    "back\\slash \\| \\<b>",
    "@team #12 !3 ~label %milestone",
    "tab\there\x1b[31m red\x00",
]


def _cells(rendered: str) -> list[str]:
    return [c.split(">", 1)[1].split("</td>")[0] for c in rendered.split("<td")[1:]]


@pytest.mark.parametrize("value", HOSTILE)
def test_text_in_a_table_cell_renders_as_itself(value: str) -> None:
    rendered = render_gfm("\n".join(md.table(["a", "b", "c"], [["x", md.text(value), "y"]])))
    cells = _cells(rendered)
    assert len(cells) == 3 and cells[0] == "x" and cells[2] == "y"
    expected = " ".join("".join(ch for ch in value if ch.isprintable() or ch.isspace()).split())
    assert html.unescape(cells[1]) == expected
    assert "<script" not in rendered and "<details" not in rendered and "<strong" not in rendered


@pytest.mark.parametrize(
    "value", ['module.app["a|b"].x', "`", "a ``b`` c", "``x``", 'terraform_data.placement["s"]']
)
def test_code_span_in_a_table_cell_renders_as_itself(value: str) -> None:
    rendered = render_gfm("\n".join(md.table(["a", "b"], [[md.code(value), "y"]])))
    cells = _cells(rendered)
    assert len(cells) == 2 and cells[1] == "y"
    assert html.unescape(cells[0]) == f"<code>{value}</code>"


def test_code_in_prose_keeps_the_pipe_unescaped() -> None:
    assert render_gfm(md.code("a|b", cell=False)) == "<p><code>a|b</code></p>\n"


def test_paragraphs_keep_lines_but_start_no_block() -> None:
    text = md.paragraphs("- not a list\n1. not numbered\n> not a quote\n\n# not a heading\nplain")
    rendered = render_gfm(text)
    assert rendered.count("<p>") == 2
    for tag in ("<ul", "<ol", "<blockquote", "<h1"):
        assert tag not in rendered
    assert "- not a list" in rendered and "1. not numbered" in rendered and "&gt; not a quote" in rendered


def test_empty_values() -> None:
    assert md.text("") == "" and md.text("\n\t") == ""
    assert md.code("") == "` `"
