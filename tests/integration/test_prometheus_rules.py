"""The Prometheus rules and the Alertmanager config, checked by the real promtool and amtool.

Binaries come from the Debian packages ``prometheus`` (promtool) and ``prometheus-alertmanager``
(amtool). Without them the checks are skipped locally and fail on CI (CI=true).
"""

from __future__ import annotations

import http.server
import importlib.util
import json
import os
import re
import shutil
import socket
import subprocess
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any, ClassVar

import pytest
import yaml

from support.builders import service, telemetry_sample

ROOT = Path(__file__).resolve().parents[2]
PROM_DIR = ROOT / "deploy" / "prometheus"
RULES_FILE = PROM_DIR / "rules" / "swen.rules.yml"
PROM_CONFIG = PROM_DIR / "prometheus.yml"
AM_CONFIG = ROOT / "deploy" / "alertmanager" / "alertmanager.yml"
OPERATIONS_DOC = ROOT / "docs" / "OPERATIONS.md"

# The metrics the API exports (contract with src/swen/observability/metrics.py).
DOCUMENTED_METRICS = {
    "swen_cost_monthly_usd",
    "swen_latency_p95_ms",
    "swen_availability_ratio",
    "swen_credits_usd",
    "swen_gpu_availability_ratio",
    "swen_error_rate_ratio",
    "swen_placement_info",
    "swen_service_budget_monthly_usd",
    "swen_service_latency_slo_ms",
    "swen_decisions_total",
    "swen_decision_confidence",
    "swen_pipeline_stage_duration_seconds",
    "swen_savings_realised_monthly_usd",
    "swen_open_incidents",
    "swen_remediation_escalated",
    "swen_engine_heartbeat_timestamp_seconds",
    "swen_http_request_duration_seconds",
}
SELF_HEALING_ALERTS = {"ProviderOutage", "HighLatency", "CostSpike"}
REQUIRED_ALERTS = {
    "HighCost",
    "CostSpike",
    "HighLatency",
    "ProviderOutage",
    "GPUUnavailable",
    "SelfHealingFailed",
}


def _binary(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        if os.environ.get("CI"):
            pytest.fail(f"CI requires {name} (apt-get install prometheus prometheus-alertmanager)")
        pytest.skip(f"{name} is not installed (Debian packages prometheus / prometheus-alertmanager)")
    return path


def _run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=60, check=False)


def _fast_profile() -> ModuleType:
    spec = importlib.util.spec_from_file_location("swen_fast_profile", PROM_DIR / "fast_profile.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _rules(path: Path = RULES_FILE) -> list[dict[str, Any]]:
    doc = yaml.safe_load(path.read_text())
    return [rule for group in doc["groups"] for rule in group["rules"]]


def _alerts(path: Path = RULES_FILE) -> dict[str, dict[str, Any]]:
    return {rule["alert"]: rule for rule in _rules(path) if "alert" in rule}


# --- promtool / amtool -----------------------------------------------------------------------------


def test_promtool_check_rules() -> None:
    result = _run(_binary("promtool"), "check", "rules", RULES_FILE)
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_unit_tests_pass() -> None:
    test_files = sorted((PROM_DIR / "tests").glob("*.test.yml"))
    assert test_files, "no promtool unit tests found"
    result = _run(_binary("promtool"), "test", "rules", *test_files)
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_check_config() -> None:
    result = _run(_binary("promtool"), "check", "config", PROM_CONFIG)
    assert result.returncode == 0, result.stdout + result.stderr


def test_amtool_check_config() -> None:
    result = _run(_binary("amtool"), "check-config", AM_CONFIG)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("labels", "receiver"),
    [
        (["alertname=ProviderOutage", "severity=critical", "self_healing=true"], "swen-platform"),
        (["alertname=CostSpike", "severity=warning", "self_healing=true"], "swen-platform"),
        (["alertname=SelfHealingFailed", "severity=critical"], "swen-platform"),
        (["alertname=HighCost", "severity=warning"], "oncall"),
    ],
)
def test_alertmanager_routes(labels: list[str], receiver: str) -> None:
    result = _run(
        _binary("amtool"),
        "config",
        "routes",
        "test",
        f"--config.file={AM_CONFIG}",
        "--verify.receivers=",
        *labels,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.split() == [receiver]


def test_self_healing_route_is_fast_and_authenticated() -> None:
    config = yaml.safe_load(AM_CONFIG.read_text())
    assert config["route"]["group_wait"] == "30s"
    healing = [r for r in config["route"]["routes"] if 'self_healing="true"' in r.get("matchers", [])]
    assert len(healing) == 1 and healing[0]["group_wait"] == "1s"
    platform = next(r for r in config["receivers"] if r["name"] == "swen-platform")
    (hook,) = platform["webhook_configs"]
    assert hook["url"].endswith("/alerts") and hook["send_resolved"] is True
    auth = hook["http_config"]["authorization"]
    assert auth["type"] == "Bearer" and auth["credentials_file"]


def test_fast_profile_is_valid_and_keeps_the_expressions(tmp_path: Path) -> None:
    profile = _fast_profile()
    token = tmp_path / "token"
    token.write_text("secret\n")
    prom = profile.render_prometheus(
        tmp_path, api_target="127.0.0.1:18000", alertmanager_target="127.0.0.1:19093"
    )
    am = profile.render_alertmanager(tmp_path, alerts_url="http://127.0.0.1:18000/alerts", token_file=token)
    result = _run(_binary("promtool"), "check", "config", prom)
    assert result.returncode == 0, result.stdout + result.stderr
    result = _run(_binary("amtool"), "check-config", am)
    assert result.returncode == 0, result.stdout + result.stderr

    fast_rules = _rules(tmp_path / "rules" / "swen.rules.yml")
    slow_rules = _rules()
    assert len(fast_rules) == len(slow_rules)
    window = re.compile(r"\[\w+\]")
    for fast, slow in zip(fast_rules, slow_rules, strict=True):
        assert window.sub("[]", fast["expr"]) == window.sub("[]", slow["expr"])
        if "for" in fast:
            assert profile.parse_duration(fast["for"]) <= 5
    assert yaml.safe_load(prom.read_text())["global"]["evaluation_interval"] == "1s"


# --- rule conventions ------------------------------------------------------------------------------


def test_required_alerts_carry_labels_and_runbooks() -> None:
    alerts = _alerts()
    assert set(alerts) >= REQUIRED_ALERTS
    doc = OPERATIONS_DOC.read_text() if OPERATIONS_DOC.exists() else ""
    anchors = {_anchor(line) for line in doc.splitlines() if line.startswith("#")}
    for name, rule in alerts.items():
        assert rule["labels"]["severity"] in {"critical", "warning"}, name
        assert rule["labels"]["kind"], name
        assert {"summary", "description", "runbook_url"} <= set(rule["annotations"]), name
        page, _, anchor = rule["annotations"]["runbook_url"].partition("#")
        assert page == "docs/OPERATIONS.md" and anchor in anchors, f"{name}: runbook anchor #{anchor} missing"
        assert (rule["labels"].get("self_healing") == "true") == (name in SELF_HEALING_ALERTS), name
    for name in ("ProviderOutage", "HighLatency", "SelfHealingFailed"):
        assert alerts[name]["labels"]["severity"] == "critical"


def test_every_alert_has_a_firing_and_a_quiet_unit_test() -> None:
    fired: set[str] = set()
    quiet: set[str] = set()
    for path in (PROM_DIR / "tests").glob("*.test.yml"):
        for test in yaml.safe_load(path.read_text())["tests"]:
            for case in test.get("alert_rule_test", []):
                (fired if case.get("exp_alerts") else quiet).add(case["alertname"])
    alerts = set(_alerts())
    assert alerts <= fired, f"alerts never shown to fire: {alerts - fired}"
    assert alerts <= quiet, f"alerts never shown to stay quiet: {alerts - quiet}"


def test_service_alerts_join_the_current_placement() -> None:
    recording = {rule["record"]: rule["expr"] for rule in _rules() if "record" in rule}
    for name, rule in _alerts().items():
        if rule["labels"]["kind"] == "platform":
            continue
        expr = _expand(rule["expr"], recording)
        assert "swen_placement_info" in expr and "== 1" in expr, name


def _anchor(heading: str) -> str:
    text = heading.lstrip("#").strip().lower()
    return re.sub(r"[^a-z0-9 _-]", "", text).replace(" ", "-")


def _expand(expr: str, recording: dict[str, str]) -> str:
    for _ in range(5):
        for name, body in recording.items():
            expr = expr.replace(name, f"({body})")
    return expr


# --- every metric a rule names is exported by the API ----------------------------------------------

_PROMQL_KEYWORDS = {
    "and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right", "offset", "bool",
    "inf", "nan",
}  # fmt: skip


def metric_names_in(expr: str) -> set[str]:
    """Metric (and recording-rule) names referenced by a PromQL expression."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # string literals
    text = re.sub(r"\{[^}]*\}", "", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", "", text)  # range windows and subqueries
    # label lists of by/without/on/ignoring/group_left/group_right
    text = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    names = set()
    for match in re.finditer(r"(?<![\w:.])([A-Za-z_:][\w:]*)(?![\w:])(?!\s*\()", text):
        word = match.group(1)
        if word.lower() not in _PROMQL_KEYWORDS and not re.fullmatch(r"\d+[smhdwy]", word):
            names.add(word)
    return names


def test_metric_name_extraction() -> None:
    expr = (
        'max by(service, provider) (rate(swen_x_total{route="/a b"}[5m])) > on(service) group_left(region) '
        "swen_y and time() - swen_z offset 5m > 3"
    )
    assert metric_names_in(expr) == {"swen_x_total", "swen_y", "swen_z"}


def _exposed_names(families: Any) -> set[str]:
    suffixes = {
        "counter": ("_total", "_created"),
        "histogram": ("_bucket", "_count", "_sum", "_created"),
        "summary": ("_count", "_sum", "_created"),
        "gauge": ("",),
        "info": ("_info",),
    }
    names: set[str] = set()
    for family in families:
        names.add(family.name)
        names.update(family.name + suffix for suffix in suffixes.get(family.type, ("",)))
        names.update(sample.name for sample in family.samples)
    return names


def api_metric_names(database_url: str) -> set[str]:
    """Every sample name the API exposes: families collected from ``build_registry`` on a real store."""
    from swen.observability.metrics import build_registry
    from swen.store.repository import Store

    store = Store.from_url(database_url)
    try:
        families = list(build_registry(store).registry.collect())
    finally:
        store.close()
    return _exposed_names(families)


def test_every_metric_in_a_rule_is_exported_by_the_api(swen_home: Path) -> None:
    rules = _rules()
    recorded = {rule["record"] for rule in rules if "record" in rule}
    referenced = set().union(*(metric_names_in(str(rule["expr"])) for rule in rules)) - recorded
    assert {"swen_placement_info", "swen_availability_ratio", "swen_cost_monthly_usd"} <= referenced
    assert referenced <= DOCUMENTED_METRICS, (
        f"rules name undocumented metrics: {referenced - DOCUMENTED_METRICS}"
    )
    exported = api_metric_names(f"sqlite:///{swen_home / 'swen.db'}")
    assert exported, "swen.observability.metrics declares no metric families"
    missing = referenced - exported
    assert not missing, f"metrics used by alert rules but not exported by the API: {sorted(missing)}"


# --- the fast profile against the real servers -----------------------------------------------------


class _Capture(http.server.BaseHTTPRequestHandler):
    """Webhook receiver: keeps every POST body with its Authorization header."""

    received: ClassVar[list[tuple[str, dict[str, Any]]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        type(self).received.append((self.headers.get("Authorization", ""), json.loads(body)))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *_args: object) -> None:
        return


class _Metrics(http.server.BaseHTTPRequestHandler):
    """Serves the exposition of the API's real metrics registry over a store."""

    body: ClassVar[bytes] = b""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.end_headers()
        self.wfile.write(type(self).body)

    def log_message(self, *_args: object) -> None:
        return


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _serve(handler: type[http.server.BaseHTTPRequestHandler]) -> http.server.ThreadingHTTPServer:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", _free_port()), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def _outage_exposition(database_url: str) -> bytes:
    """/metrics of a store where checkout-api runs on aws/us-east-1 (down) and gcp is a healthy candidate."""
    from prometheus_client import generate_latest

    from swen.observability.metrics import build_registry
    from swen.store.repository import Store

    checkout_api = service("checkout-api", latency_slo_ms=80, monthly_budget_usd=2000)
    now = datetime.now(UTC)
    samples = [
        telemetry_sample("checkout-api", where, ts=now, hourly=0.096, latency=20.0, availability=availability)
        for where, availability in (("aws/us-east-1", 0.1), ("gcp/us-central1", 0.05))
    ]
    store = Store.from_url(database_url)
    try:
        store.upsert_services([checkout_api])
        store.insert_samples(samples)
        return bytes(generate_latest(build_registry(store).registry))
    finally:
        store.close()


@pytest.mark.slow
def test_fast_profile_delivers_an_outage_to_the_webhook_end_to_end(tmp_path: Path, swen_home: Path) -> None:
    """Real Prometheus + Alertmanager on loopback with the fast profile: ProviderOutage for the current
    placement only reaches the webhook with the bearer token, and the payload passes alert intake."""
    prometheus, alertmanager = _binary("prometheus"), _binary("prometheus-alertmanager")
    database_url = f"sqlite:///{swen_home / 'swen.db'}"
    _Metrics.body = _outage_exposition(database_url)
    _Capture.received = []
    metrics_server, hook_server = _serve(_Metrics), _serve(_Capture)
    profile = _fast_profile()
    token = tmp_path / "alert-token"
    token.write_text("s3cret-token")
    am_port, prom_port = _free_port(), _free_port()
    api = f"127.0.0.1:{metrics_server.server_address[1]}"
    prom_yml = profile.render_prometheus(tmp_path, api_target=api, alertmanager_target=f"127.0.0.1:{am_port}")
    hook_url = f"http://127.0.0.1:{hook_server.server_address[1]}/alerts"
    am_yml = profile.render_alertmanager(tmp_path / "am", alerts_url=hook_url, token_file=token)
    procs = [
        subprocess.Popen(
            [alertmanager, f"--config.file={am_yml}", f"--storage.path={tmp_path / 'am-data'}",
             f"--web.listen-address=127.0.0.1:{am_port}", "--cluster.listen-address=",
             f"--web.external-url=http://127.0.0.1:{am_port}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        ),
        subprocess.Popen(
            [prometheus, f"--config.file={prom_yml}", f"--storage.tsdb.path={tmp_path / 'prom-data'}",
             f"--web.listen-address=127.0.0.1:{prom_port}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        ),
    ]  # fmt: skip
    try:
        started = time.monotonic()
        deadline = started + 60
        while time.monotonic() < deadline and not _Capture.received:
            time.sleep(0.25)
        print(f"fast profile: first webhook {time.monotonic() - started:.1f} s after the servers started")
        time.sleep(3)  # room for a (wrong) second group, e.g. the gcp candidate
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=10)
        metrics_server.shutdown()
        hook_server.shutdown()
    assert _Capture.received, "no webhook within 60 s"
    assert {auth for auth, _ in _Capture.received} == {"Bearer s3cret-token"}
    fired = {
        (a["labels"]["alertname"], a["labels"]["service"], a["labels"]["provider"])
        for _, body in _Capture.received
        for a in body["alerts"]
    }
    # the gcp candidate is down too, but nothing runs there: only the current placement pages
    assert fired == {("ProviderOutage", "checkout-api", "aws")}
    payload = _Capture.received[0][1]

    from swen.observability.alerts import intake
    from swen.store.repository import Store

    store = Store.from_url(database_url)
    try:
        result = intake(store, payload)
    finally:
        store.close()
    assert result.new_alerts == 1 and len(result.incidents_opened) == 1
    assert result.remediation_requested == result.incidents_opened
