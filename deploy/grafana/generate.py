"""Generate SWEN's Grafana dashboards with grafana-foundation-sdk (never edit the JSON by hand).

    python deploy/grafana/generate.py            # rewrite deploy/base/grafana/*.json
    python deploy/grafana/generate.py --check    # exit 1 if the committed JSON differs

The JSON is committed and provisioned through a ConfigMap (deploy/base/kustomization.yaml,
``swen-grafana-dashboards``, labelled ``grafana_dashboard: "1"`` for Grafana's dashboard sidecar).
Every query reads only metrics SWEN exports (``swen.observability.metrics.METRIC_NAMES``); the tests
check both (tests/unit/deploy/test_grafana.py). grafana-foundation-sdk is a dev dependency.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from grafana_foundation_sdk.builders.dashboard import Dashboard, DatasourceVariable, QueryVariable, Row
from grafana_foundation_sdk.builders.prometheus import Dataquery as PromQuery
from grafana_foundation_sdk.builders.stat import Panel as Stat
from grafana_foundation_sdk.builders.timeseries import Panel as Timeseries
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.dashboard import DataSourceRef, VariableRefresh

from swen.observability import metrics as m

OUT_DIR = Path(__file__).resolve().parent.parent / "base" / "grafana"
DATASOURCE = DataSourceRef(type_val="prometheus", uid="${datasource}")
SERVICE = 'service=~"$service"'
RATE_WINDOW = "[$__rate_interval]"


def quantile(q: float, histogram: str, *by: str) -> str:
    """The q-quantile of a histogram family over the rate window, per ``by`` labels."""
    labels = ", ".join((*by, "le"))
    return f"histogram_quantile({q}, sum by ({labels}) (rate({histogram}_bucket{RATE_WINDOW})))"


def increase(series: str, by: str) -> str:
    return f"sum by ({by}) (increase({series}{RATE_WINDOW}))"


@dataclass(frozen=True, slots=True)
class Query:
    expr: str
    legend: str


def _targets(panel: Timeseries | Stat, queries: Sequence[Query]) -> Timeseries | Stat:
    for ref, q in zip("ABCDEFGH", queries, strict=False):
        panel = panel.with_target(PromQuery().expr(q.expr).legend_format(q.legend).ref_id(ref))
    return panel


def series(title: str, unit: str, *queries: Query, description: str = "", width: int = 12) -> Timeseries:
    panel = Timeseries().title(title).description(description).unit(unit).datasource(DATASOURCE)
    return _targets(panel.height(8).span(width), queries)  # type: ignore[return-value]


def stat(title: str, unit: str, query: Query, *, description: str = "", width: int = 6) -> Stat:
    panel = Stat().title(title).description(description).unit(unit).datasource(DATASOURCE)
    return _targets(panel.height(4).span(width), [query])  # type: ignore[return-value]


def _base(uid: str, title: str, description: str) -> Dashboard:
    return (
        Dashboard(title)
        .uid(uid)
        .description(description)
        .tags(["swen", "generated"])
        .refresh("30s")
        .time("now-6h", "now")
        .timezone("browser")
        .with_variable(DatasourceVariable("datasource").label("Prometheus").type("prometheus"))
    )


def _service_variable() -> QueryVariable:
    return (
        QueryVariable("service")
        .label("Service")
        .datasource(DATASOURCE)
        .query(f"label_values({m.PLACEMENT_INFO}, service)")
        .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED)
        .multi(True)
        .include_all(True)
        .all_value(".*")
    )


def fleet() -> Dashboard:
    """Where each service runs and what its candidates cost and deliver."""
    running = f"* on (service, provider, region) group_left {m.PLACEMENT_INFO}{{{SERVICE}}}"
    return (
        _base("swen-fleet", "SWEN / Fleet", "Cost, latency and health of every service where it runs.")
        .with_variable(_service_variable())
        .with_row(Row("Now"))
        .with_panel(stat("Services", "short", Query(f"count({m.PLACEMENT_INFO}{{{SERVICE}}})", "services")))
        .with_panel(
            stat("Monthly cost where running", "currencyUSD",
                 Query(f"sum({m.COST_MONTHLY}{{{SERVICE}}} {running})", "cost"))
        )
        .with_panel(
            stat("Savings realised (monthly)", "currencyUSD", Query(f"{m.SAVINGS_REALISED}", "saved"),
                 description="Net monthly savings of verified moves.")
        )
        .with_panel(
            stat("Open incidents", "short", Query(f"sum({m.OPEN_INCIDENTS}{{{SERVICE}}})", "open"))
        )
        .with_row(Row("Where each service runs"))
        .with_panel(
            series("Monthly cost where running", "currencyUSD",
                   Query(f"{m.COST_MONTHLY}{{{SERVICE}}} {running}", "{{service}} ({{provider}}/{{region}})"),
                   Query(f"{m.SERVICE_BUDGET}{{{SERVICE}}}", "{{service}} budget"))
        )
        .with_panel(
            series("p95 latency where running", "ms",
                   Query(f"{m.LATENCY_P95}{{{SERVICE}}} {running}", "{{service}} ({{provider}}/{{region}})"),
                   Query(f"{m.SERVICE_LATENCY_SLO}{{{SERVICE}}}", "{{service}} SLO"))
        )
        .with_panel(
            series("Availability where running", "percentunit",
                   Query(f"{m.AVAILABILITY}{{{SERVICE}}} {running}", "{{service}}"))
        )
        .with_panel(
            series("Error rate where running", "percentunit",
                   Query(f"{m.ERROR_RATE}{{{SERVICE}}} {running}", "{{service}}"))
        )
        .with_row(Row("Candidates"))
        .with_panel(
            series("Monthly cost per candidate", "currencyUSD",
                   Query(f"{m.COST_MONTHLY}{{{SERVICE}}}", "{{service}} {{provider}}/{{region}}"))
        )
        .with_panel(
            series("GPU availability per candidate", "percentunit",
                   Query(f"{m.GPU_AVAILABILITY}{{{SERVICE}}}", "{{service}} {{provider}}/{{region}}"))
        )
        .with_panel(
            series("Unused credits per provider", "currencyUSD",
                   Query(f"max by (provider) ({m.CREDITS})", "{{provider}}"))
        )
    )  # fmt: skip


def platform() -> Dashboard:
    """How the platform itself behaves: decisions, pipelines, healing, the engine and the API."""
    http = m.HTTP_REQUEST_DURATION
    return (
        _base("swen-platform", "SWEN / Platform", "Decisions, pipelines, self-healing, engine and API.")
        .with_row(Row("Engine"))
        .with_panel(
            stat("Engine heartbeat age", "s", Query(f"time() - {m.ENGINE_HEARTBEAT}", "age"),
                 description="Seconds since the engine loop last beat (/readyz allows 3 intervals).")
        )
        .with_panel(
            stat("Escalated remediations", "short", Query(f"sum({m.REMEDIATION_ESCALATED})", "escalated"))
        )
        .with_panel(stat("Open incidents", "short", Query(f"sum({m.OPEN_INCIDENTS})", "open")))
        .with_panel(
            stat("Decisions (1h)", "short", Query(f"sum(increase({m.DECISIONS_TOTAL}[1h]))", "decisions"))
        )
        .with_panel(
            series("Decisions by outcome", "short",
                   Query(increase(m.DECISIONS_TOTAL, "outcome"), "{{outcome}}"))
        )
        .with_panel(
            series("Decision confidence (median, p10)", "percentunit",
                   Query(quantile(0.5, m.DECISION_CONFIDENCE), "median"),
                   Query(quantile(0.1, m.DECISION_CONFIDENCE), "p10"))
        )
        .with_row(Row("Pipeline"))
        .with_panel(
            series("Pipeline stage duration p95", "s",
                   Query(quantile(0.95, m.PIPELINE_STAGE_DURATION, "stage"), "{{stage}}"))
        )
        .with_panel(
            series("Pipeline stages finished", "short",
                   Query(increase(f"{m.PIPELINE_STAGE_DURATION}_count", "stage"), "{{stage}}"))
        )
        .with_row(Row("Action queue"))
        .with_panel(
            series("Queued actions by state", "short",
                   Query(f"sum by (state) ({m.ACTION_QUEUE_DEPTH})", "{{state}}"),
                   description="Moves the engine queued for its workers (pending, running, done, failed).")
        )
        .with_panel(
            series("Change budget in use (fleet)", "short",
                   Query(f'{m.CHANGE_BUDGET_IN_USE}{{provider="all"}}', "{{resource}}"),
                   Query(f'{m.CHANGE_BUDGET_LIMIT}{{scope="fleet"}}', "limit {{resource}}"),
                   description="Open move MRs and applies in flight against their limits; at the limit, "
                   "moves wait (swen queue says why).")
        )
        .with_row(Row("API"))
        .with_panel(
            series("Requests per second by status", "reqps",
                   Query(f"sum by (status) (rate({http}_count{RATE_WINDOW}))", "{{status}}"))
        )
        .with_panel(
            series("Request latency p99 by route", "s",
                   Query(quantile(0.99, http, "route"), "{{route}}"))
        )
    )  # fmt: skip


DASHBOARDS: dict[str, Callable[[], Dashboard]] = {"swen-fleet.json": fleet, "swen-platform.json": platform}


def render() -> dict[str, str]:
    """File name -> dashboard JSON, exactly as committed."""
    encoder = JSONEncoder(sort_keys=True, indent=2)
    return {name: encoder.encode(build().build()) + "\n" for name, build in DASHBOARDS.items()}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="fail if the committed JSON is out of date")
    parser.add_argument("--out", type=Path, default=OUT_DIR, help="output folder")
    args = parser.parse_args(argv)
    stale = []
    for name, text in render().items():
        path = args.out / name
        if args.check:
            if not path.is_file() or path.read_text(encoding="utf-8") != text:
                stale.append(str(path))
        else:
            args.out.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            print(path)
    if stale:
        print("out of date (run python deploy/grafana/generate.py): " + ", ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
