"""Ownership rules the code must keep (read from the source with ``ast``; nothing is imported).

Only ``swen.moves`` changes a decision's status or records a placement: the store's
``transition``/``transition_in``/``record_placement`` are called nowhere else outside ``swen.store``.
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "swen"
OWNED_WRITES = {"transition", "transition_in", "record_placement", "record_placements"}


def _calls(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    return [
        (node.lineno, node.func.attr)
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in OWNED_WRITES
        # a store write is reached through the store (self.store.x, store.x, self._store.x)
        and "store" in ast.unparse(node.func.value).lower()
    ]


def test_only_moves_changes_statuses_and_placements() -> None:
    offenders = [
        f"{path.relative_to(SRC.parent)}:{line} calls {name}"
        for path in sorted(SRC.rglob("*.py"))
        if not path.is_relative_to(SRC / "moves") and not path.is_relative_to(SRC / "store")
        for line, name in _calls(path)
    ]
    assert offenders == [], "status/placement writes outside swen.moves:\n" + "\n".join(offenders)


def test_the_rule_sees_a_write(tmp_path: Path) -> None:
    sample = tmp_path / "x.py"
    sample.write_text("def f(self):\n    self.store.transition('d', 'failed')\n", encoding="utf-8")
    assert _calls(sample) == [(2, "transition")]
