"""Generated deployment files are current, and the Grafana dashboards query only SWEN's metrics."""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from support.deploy_tools import ROOT, tool
from swen.observability.metrics import METRIC_NAMES

GRAFANA_DIR = ROOT / "deploy" / "base" / "grafana"
HISTOGRAM_SUFFIXES = ("_bucket", "_count", "_sum")
PROMQL_WORDS = {
    "by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless", "bool",
    "offset", "inf", "nan",
}  # fmt: skip


def load(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(path.stem + "_under_test", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def grafana() -> ModuleType:
    return load(ROOT / "deploy" / "grafana" / "generate.py")


def test_committed_dashboards_are_what_the_generator_builds(grafana: ModuleType) -> None:
    rendered = grafana.render()
    assert sorted(rendered) == sorted(p.name for p in GRAFANA_DIR.glob("*.json"))
    for name, text in rendered.items():
        assert (GRAFANA_DIR / name).read_text() == text, f"run python deploy/grafana/generate.py ({name})"


def test_generator_check_mode_catches_a_hand_edit(grafana: ModuleType, tmp_path: Path) -> None:
    assert grafana.main(["--out", str(tmp_path)]) == 0
    assert grafana.main(["--check", "--out", str(tmp_path)]) == 0
    edited = tmp_path / "swen-fleet.json"
    edited.write_text(edited.read_text().replace("SWEN / Fleet", "Fleet (edited)"))
    assert grafana.main(["--check", "--out", str(tmp_path)]) == 1


def test_monitoring_configs_are_current() -> None:
    monitoring = load(ROOT / "deploy" / "base" / "monitoring" / "generate.py")
    assert monitoring.main(["--check"]) == 0, "run python deploy/base/monitoring/generate.py"


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression reads (label matchers, ranges and groupings removed)."""
    text = re.sub(r'"[^"]*"', "", expr)
    text = re.sub(r"\{[^}]*\}|\[[^\]]*\]", "", text)
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", text)
    names = set()
    for match in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", text):
        rest = text[match.end() :].lstrip()
        if rest.startswith("(") or match.group(0).lower() in PROMQL_WORDS:
            continue  # a function or a keyword
        names.add(match.group(0))
    return names


def exported(name: str) -> bool:
    if name in METRIC_NAMES:
        return True
    return any(name.endswith(s) and name.removesuffix(s) in METRIC_NAMES for s in HISTOGRAM_SUFFIXES)


def family(name: str) -> str:
    """The metric family of an exported series name (a histogram's _bucket/_count/_sum stripped)."""
    if name in METRIC_NAMES:
        return name
    return next(name.removesuffix(s) for s in HISTOGRAM_SUFFIXES if name.removesuffix(s) in METRIC_NAMES)


def dashboard_queries() -> list[tuple[str, str]]:
    queries = []
    for path in sorted(GRAFANA_DIR.glob("*.json")):
        board: dict[str, Any] = json.loads(path.read_text())
        for panel in board["panels"]:
            queries += [(f"{path.name}: {panel['title']}", t["expr"]) for t in panel.get("targets", [])]
        for variable in board["templating"]["list"]:
            if variable["type"] == "query":
                queries.append((f"{path.name}: ${variable['name']}", variable["query"]))
    return queries


def test_metric_name_extraction() -> None:
    expr = 'histogram_quantile(0.9, sum by (le) (rate(swen_x_bucket{a="b"}[5m]))) * on (s) group_left y'
    assert metric_names(expr) == {"swen_x_bucket", "y"}
    assert metric_names("time() - swen_engine_heartbeat_timestamp_seconds") == {
        "swen_engine_heartbeat_timestamp_seconds"
    }


def test_dashboards_query_only_metrics_swen_exports() -> None:
    queries = dashboard_queries()
    assert len(queries) >= 20
    used = set()
    for where, expr in queries:
        names = metric_names(re.sub(r"label_values\((\w+),.*\)", r"\1", expr))
        assert names, f"{where}: no metric in {expr!r}"
        unknown = {n for n in names if not exported(n)}
        assert not unknown, f"{where}: {sorted(unknown)} are not exported by swen.observability.metrics"
        used |= {family(n) for n in names}
    assert used == METRIC_NAMES, f"metrics with no panel: {sorted(METRIC_NAMES - used)}"


def test_dashboard_queries_parse_as_promql(tmp_path: Path) -> None:
    """promtool checks each query (as a recording rule), so a broken expression fails here."""
    promtool = tool("promtool")
    rules = ["groups:", "  - name: grafana", "    rules:"]
    for i, (_, expr) in enumerate(dashboard_queries()):
        if expr.startswith("label_values("):
            continue  # a Grafana function, not PromQL
        promql = expr.replace("$__rate_interval", "5m").replace("$service", ".*")
        rules += [f"      - record: grafana:query_{i}", f"        expr: {json.dumps(promql)}"]
    path = tmp_path / "queries.yml"
    path.write_text("\n".join(rules) + "\n")
    out = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stdout + out.stderr
