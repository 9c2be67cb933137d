"""The rehearsal's generated configs are accepted by the real programs (``haproxy -c``, ``promtool check
config``, ``amtool check-config``) and say what the topology needs: a health-checked backend per API
replica with redispatch, every replica scraped, alerts sent through haproxy with the token file."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from swen.config import load_settings
from swen.domain.errors import ConfigError
from swen.supervisor import StartupError
from swen.supervisor.binaries import Needed, locate
from swen.supervisor.configs import (
    Replica,
    alertmanager_config,
    haproxy_config,
    prometheus_config,
    rules_text,
)

REPLICAS = [Replica("api-1", "127.0.0.1", 18001), Replica("api-2", "127.0.0.1", 18002)]


def _check(argv: list[str]) -> None:
    if shutil.which(argv[0]) is None:
        pytest.skip(f"needs {argv[0]}")
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def test_haproxy_config_checks_each_replica_and_redispatches(tmp_path: Path) -> None:
    text = haproxy_config(bind="127.0.0.1:18000", replicas=REPLICAS, stats_socket=tmp_path / "s.sock")
    assert "option redispatch 1" in text and "retry-on conn-failure" in text
    assert "http-check send meth GET uri /healthz" in text
    assert "server api-2 127.0.0.1:18002 check inter 500ms fall 2 rise 2" in text
    config = tmp_path / "haproxy.cfg"
    config.write_text(text)
    _check(["haproxy", "-c", "-q", "-f", str(config)])


def test_prometheus_config_scrapes_every_replica_with_the_deploy_rules(tmp_path: Path) -> None:
    rules = tmp_path / "swen.rules.yml"
    rules.write_text(rules_text())
    text = prometheus_config(rules_file=rules, replicas=REPLICAS, alertmanager="127.0.0.1:19093")
    config = yaml.safe_load(text)
    assert config["rule_files"] == [str(rules)]
    assert [s["targets"] for s in config["scrape_configs"][0]["static_configs"]] == [
        ["127.0.0.1:18001"], ["127.0.0.1:18002"]
    ]  # fmt: skip
    assert config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] == ["127.0.0.1:19093"]
    path = tmp_path / "prometheus.yml"
    path.write_text(text)
    _check(["promtool", "check", "config", str(path)])


def test_alertmanager_config_sends_to_haproxy_with_the_token_file(tmp_path: Path) -> None:
    token = tmp_path / "alert-token"
    token.write_text("secret")
    text = alertmanager_config(alerts_url="http://127.0.0.1:18000/alerts", token_file=token)
    hooks = [h for r in yaml.safe_load(text)["receivers"] for h in r.get("webhook_configs", [])]
    assert hooks and all(h["url"] == "http://127.0.0.1:18000/alerts" for h in hooks)
    assert all(h["http_config"]["authorization"]["credentials_file"] == str(token) for h in hooks)
    path = tmp_path / "alertmanager.yml"
    path.write_text(text)
    _check(["amtool", "check-config", str(path)])


def test_a_checkout_without_deploy_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(StartupError, match="from a SWEN git checkout"):
        alertmanager_config(alerts_url="http://x/alerts", token_file=tmp_path / "t", deploy=tmp_path)


def test_missing_programs_are_named_with_their_packages() -> None:
    with pytest.raises(StartupError) as raised:
        locate([Needed("no-such-haproxy-x", "haproxy", "the load balancer"), Needed("sh", "dash", "a shell")])
    assert "cannot find no-such-haproxy-x (the load balancer; Debian package haproxy)" in str(raised.value)
    assert "apt-get install haproxy" in str(raised.value) and "dash" not in str(raised.value)


def test_rehearsal_ports_come_from_one_setting_and_a_duplicate_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SWEN_REHEARSAL", '{"api_ports": [9001, 9002], "postgres_port": 6543}')
    settings = load_settings()
    assert settings.rehearsal.api_ports == (9001, 9002) and settings.rehearsal.postgres_port == 6543
    assert settings.rehearsal.engines == 2  # the design's count unless told
    monkeypatch.setenv("SWEN_REHEARSAL", '{"api_ports": [9001, 9001]}')
    with pytest.raises(ConfigError, match=r"rehearsal\.api_ports: .*names a port twice: 9001, 9001"):
        load_settings()
    monkeypatch.setenv("SWEN_REHEARSAL", "8001,8002")
    with pytest.raises(ConfigError, match=r"SWEN_REHEARSAL is not valid JSON; it must be a JSON object"):
        load_settings()
