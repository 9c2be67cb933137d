"""SQL lives only in swen.store: no module outside it imports SQLAlchemy or a database driver."""

from __future__ import annotations

import ast
from pathlib import Path

import swen

SRC = Path(swen.__file__).parent
SQL_PACKAGES = ("sqlalchemy", "psycopg")


def sql_imports(source: str) -> list[str]:
    """The SQL packages ``source`` imports (anywhere, also inside functions), as written."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        found += [name for name in names if name.split(".")[0] in SQL_PACKAGES]
    return found


def _modules() -> dict[str, Path]:
    return {".".join(path.relative_to(SRC.parent).with_suffix("").parts): path for path in SRC.rglob("*.py")}


def test_the_check_sees_every_form_of_import() -> None:
    source = (
        "import sqlalchemy\nimport psycopg.rows as r\n"
        "def f():\n    from sqlalchemy.exc import SQLAlchemyError\n"
    )
    assert sql_imports(source) == ["sqlalchemy", "psycopg.rows", "sqlalchemy.exc"]
    assert sql_imports("import sqlalchemy_utils\nfrom .sqlalchemy import x\nimport os") == []


def test_only_the_store_imports_sql_packages() -> None:
    modules = _modules()
    in_store = {name for name in modules if name.startswith("swen.store.") or name == "swen.store"}
    assert "swen.store.repository" in in_store and len(modules) > len(in_store) > 0
    assert any(sql_imports(modules[name].read_text(encoding="utf-8")) for name in in_store)
    offenders = {
        name: found
        for name, path in sorted(modules.items())
        if name not in in_store and (found := sql_imports(path.read_text(encoding="utf-8")))
    }
    assert offenders == {}, f"move these queries into swen.store (a read model or repository): {offenders}"
