"""Render the fast test profile of the Prometheus and Alertmanager configs.

The expressions have ONE source of truth, ``rules/swen.rules.yml``. The fast profile used by the
integration tests only changes timings:

- scrape and evaluation interval 1 s;
- every ``for:`` duration divided by 60 and clamped to [1 s, 5 s] (``for: 0m`` stays 0 s);
- every range window ``[...]`` in an expression divided by 60 with a floor of 10 s (``[1h]`` -> ``[60s]``),
  so averages still span several 1 s scrapes;
- the Alertmanager webhook points at the test API and a temporary bearer-token file.

Usage from a test::

    spec = importlib.util.spec_from_file_location("fast_profile", "deploy/prometheus/fast_profile.py")
    ...
    prom_yml = render_prometheus(tmp, api_target="127.0.0.1:8123", alertmanager_target="127.0.0.1:9193")
    am_yml = render_alertmanager(tmp, alerts_url="http://127.0.0.1:8123/alerts", token_file=tmp / "token")

or from a shell::

    python deploy/prometheus/fast_profile.py OUT_DIR --api 127.0.0.1:8123 --am 127.0.0.1:9193
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
RULES_FILE = HERE / "rules" / "swen.rules.yml"
ALERTMANAGER_FILE = HERE.parent / "alertmanager" / "alertmanager.yml"

_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_DURATION = re.compile(r"(\d+)(ms|s|m|h|d|w)")
_FOR_LINE = re.compile(r"^(\s*for:\s*)(\S+)\s*$", re.MULTILINE)
_RANGE = re.compile(r"\[(\d+(?:ms|s|m|h|d|w))\]")

SPEEDUP = 60
FOR_MAX_S = 5
WINDOW_MIN_S = 10


def parse_duration(text: str) -> float:
    """Seconds in a Prometheus duration such as ``1h30m`` or ``5s``."""
    parts = _DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"not a Prometheus duration: {text!r}")
    return sum(int(n) * _UNITS[u] for n, u in parts)


def _fast_for(match: re.Match[str]) -> str:
    seconds = parse_duration(match.group(2))
    fast = 0 if seconds == 0 else min(FOR_MAX_S, max(1, round(seconds / SPEEDUP)))
    return f"{match.group(1)}{fast}s"


def _fast_range(match: re.Match[str]) -> str:
    seconds = parse_duration(match.group(1))
    return f"[{max(WINDOW_MIN_S, round(seconds / SPEEDUP))}s]"


def fast_rules_text(rules_text: str) -> str:
    """The rule file with fast timings; expressions otherwise unchanged."""
    return _RANGE.sub(_fast_range, _FOR_LINE.sub(_fast_for, rules_text))


def render_prometheus(out_dir: Path, *, api_target: str, alertmanager_target: str | None) -> Path:
    """Write ``prometheus.yml`` and ``rules/swen.rules.yml`` (fast timings) into ``out_dir``."""
    rules_dir = out_dir / "rules"
    rules_dir.mkdir(parents=True, exist_ok=True)
    (rules_dir / "swen.rules.yml").write_text(fast_rules_text(RULES_FILE.read_text()))
    config: dict[str, Any] = yaml.safe_load((HERE / "prometheus.yml").read_text())
    config["global"].update({"scrape_interval": "1s", "evaluation_interval": "1s", "scrape_timeout": "1s"})
    config["rule_files"] = [str(rules_dir / "swen.rules.yml")]
    for job in config["scrape_configs"]:
        for static in job["static_configs"]:
            static["targets"] = [api_target]
    if alertmanager_target is None:
        config.pop("alerting", None)
    else:
        config["alerting"]["alertmanagers"] = [{"static_configs": [{"targets": [alertmanager_target]}]}]
    path = out_dir / "prometheus.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def render_alertmanager(out_dir: Path, *, alerts_url: str, token_file: Path) -> Path:
    """Write ``alertmanager.yml`` pointing the platform receiver at ``alerts_url`` with ``token_file``."""
    config: dict[str, Any] = yaml.safe_load(ALERTMANAGER_FILE.read_text())
    for receiver in config["receivers"]:
        for hook in receiver.get("webhook_configs", []):
            hook["url"] = alerts_url
            hook["http_config"]["authorization"]["credentials_file"] = str(token_file)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "alertmanager.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--api", default="127.0.0.1:8000", help="host:port of the SWEN API to scrape")
    parser.add_argument("--am", default="127.0.0.1:9093", help="host:port of Alertmanager")
    parser.add_argument("--token-file", type=Path, help="bearer token file for the webhook")
    args = parser.parse_args()
    print(render_prometheus(args.out_dir, api_target=args.api, alertmanager_target=args.am))
    if args.token_file:
        url = f"http://{args.api}/alerts"
        print(render_alertmanager(args.out_dir, alerts_url=url, token_file=args.token_file))


if __name__ == "__main__":
    main()
