"""Sensitivity sweeps: how captured savings and migrations move with the weights or the thresholds.

One trace, one static and one oracle (they do not depend on the engine's settings) and one platform
replay per setting:

* ``weights``: the default weights and five variants that lean on one factor each (table below);
* ``thresholds``: min_confidence in {0.60, 0.70, 0.80} x min_savings_usd in {25, 50, 100}
  (the defaults are 0.70 and $50).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from rich.table import Table

from swen.backtest.runner import Prepared, ProgressFactory, no_progress, replay_platform
from swen.backtest.trace import Progress
from swen.domain.models import Weights
from swen.engine.params import EngineParams
from swen.pipeline.policy import PolicyGate

SweepKind = Literal["weights", "thresholds"]
SWEEP_KINDS: tuple[SweepKind, ...] = ("weights", "thresholds")

WEIGHT_SETS: tuple[tuple[str, Weights], ...] = (
    ("default", Weights()),
    ("cost-heavy", Weights(cost=0.60, latency=0.20, credits=0.10, availability=0.10)),
    ("cost-only", Weights(cost=0.85, latency=0.05, credits=0.05, availability=0.05)),
    ("latency-heavy", Weights(cost=0.25, latency=0.45, credits=0.15, availability=0.15)),
    ("credits-heavy", Weights(cost=0.30, latency=0.20, credits=0.40, availability=0.10)),
    ("availability-heavy", Weights(cost=0.30, latency=0.20, credits=0.15, availability=0.35)),
)
CONFIDENCES = (0.60, 0.70, 0.80)
SAVINGS_USD = (25.0, 50.0, 100.0)


@dataclass(frozen=True)
class SweepRow:
    label: str
    params: EngineParams
    captured_savings: float | None
    platform_usd: float
    migrations: int
    slo_minutes: float
    outage_minutes: float
    auto_share: float | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "weights": self.params.weights.model_dump(),
            "min_confidence": self.params.min_confidence,
            "min_savings_usd": self.params.min_savings_usd,
            "captured_savings": None if self.captured_savings is None else round(self.captured_savings, 4),
            "platform_cost_usd": round(self.platform_usd, 2),
            "migrations": self.migrations,
            "slo_violation_minutes": round(self.slo_minutes, 1),
            "outage_minutes": round(self.outage_minutes, 1),
            "auto_share": None if self.auto_share is None else round(self.auto_share, 4),
        }


def settings_for(kind: SweepKind, base: EngineParams) -> list[tuple[str, EngineParams]]:
    if kind == "weights":
        return [(name, base.model_copy(update={"weights": w})) for name, w in WEIGHT_SETS]
    return [
        (
            f"conf>{c:.2f} save>${s:g}",
            base.model_copy(update={"min_confidence": c, "min_savings_usd": s}),
        )
        for c in CONFIDENCES
        for s in SAVINGS_USD
    ]


def run_sweep(
    prepared: Prepared, kind: SweepKind, *, progress: ProgressFactory = no_progress
) -> list[SweepRow]:
    gate = PolicyGate()
    rows = []
    for label, params in settings_for(kind, prepared.config.params):
        result = replay_platform(prepared, params=params, gate=gate, progress=_labelled(progress, label))
        platform = result.platform
        rows.append(
            SweepRow(
                label=label,
                params=params,
                captured_savings=result.captured_savings,
                platform_usd=platform.total_usd,
                migrations=int(platform.migrations.sum()),
                slo_minutes=float(platform.slo_minutes.sum()),
                outage_minutes=float(platform.outage_minutes.sum()),
                auto_share=result.policy.auto_share,
            )
        )
    return rows


def _labelled(progress: ProgressFactory, label: str) -> ProgressFactory:
    def factory(what: str, total: int) -> Progress:
        return progress(f"{what} [{label}]", total)

    return factory


def sweep_document(prepared: Prepared, kind: SweepKind, rows: list[SweepRow]) -> dict[str, Any]:
    config = prepared.config
    return {
        "sweep": kind,
        "scenario": config.spec.name,
        "days": config.days,
        "seed": config.seed,
        "services": len(prepared.services),
        "static_cost_usd": round(prepared.static.total_usd, 2),
        "oracle_cost_usd": round(prepared.oracle.total_usd, 2),
        "oracle_migrations": int(prepared.oracle.migrations.sum()),
        "rows": [row.to_dict() for row in rows],
    }


def sweep_table(doc: dict[str, Any]) -> Table:
    by_weights = doc["sweep"] == "weights"
    table = Table(
        title=(
            f"Sweep over {doc['sweep']}: {doc['scenario']}, {doc['services']} services, "
            f"{doc['days']:g} days, seed {doc['seed']} (static ${doc['static_cost_usd']:,.2f}, "
            f"oracle ${doc['oracle_cost_usd']:,.2f}, {doc['oracle_migrations']} oracle migrations)"
        ),
        title_justify="left",
    )
    setting = ("weights", "c/l/cr/a") if by_weights else ("min conf", "min save")
    for col in (*setting, "captured", "cost", "moves", "SLO min", "outage min", "auto"):
        table.add_column(col, justify="left" if col == setting[0] else "right")
    for row in doc["rows"]:
        w = row["weights"]
        cap, share = row["captured_savings"], row["auto_share"]
        if by_weights:
            first = row["label"]
            second = f"{w['cost']:.2f}/{w['latency']:.2f}/{w['credits']:.2f}/{w['availability']:.2f}"
        else:
            first, second = f"{row['min_confidence']:.2f}", f"${row['min_savings_usd']:g}"
        table.add_row(
            first,
            second,
            "n/a" if cap is None else f"{cap:.3f}",
            f"${row['platform_cost_usd']:,.0f}",
            str(row["migrations"]),
            f"{row['slo_violation_minutes']:g}",
            f"{row['outage_minutes']:g}",
            "n/a" if share is None else f"{share:.2f}",
        )
    return table
