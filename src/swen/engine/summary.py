"""The summary of one engine cycle as plain data (pure; the loop stores and writes it).

- Recommendations (MIGRATE decisions) are what the loop stores. STAY verdicts are not stored every
  cycle: 10,000 services every 30 s would be 10,000 rows and audit events per cycle saying "nothing
  changed". They are in the summary document below, and any one of them can be rebuilt on demand
  with ``EngineResult.decision``.
- ``$SWEN_HOME/ai_decisions.json`` (``Settings.decisions_path``) gets the cycle: the full
  recommendations plus one compact row (action, best candidate, confidence, net savings, the
  conditions that were not met) for every service that is *not* already on its best placement, i.e.
  the ones that move, the ones held back and why, and the ones without data or candidates. Services
  sitting on their best placement are only counted (``counts.at_best``): at 10,000 services, listing
  them all would make the file ~3 MB and cost ~0.2 s per cycle to say nothing new.
  The loop writes it with ``store.exports.atomic_write_json`` (temp file + fsync + rename).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from swen.engine.cycle import NOT_PENDING
from swen.engine.decide import EngineResult

DOCUMENT_SCHEMA = "swen.ai_decisions/1"


def unmet_conditions(result: EngineResult) -> list[list[str]]:
    """Per service, short codes of what kept it from moving ([] for MIGRATE).

    Codes: no_current_data, no_candidate, current_best, in_progress, confidence, savings, repair_cap,
    cooldown. An SLO repair has no savings bar: ``repair_cap`` when its extra cost is over the cap.
    """
    c = result.cycle
    params = c.params
    cur = c.fleet.current_idx
    columns = {
        "no_current_data": ~c.current_has_data & ~c.emergency,
        "no_candidate": c.target < 0,
        "current_best": (c.target >= 0) & (c.target == cur),
        "in_progress": c.pending_idx != NOT_PENDING,
        "confidence": ~(c.confidence > params.min_confidence) & ~c.emergency,
        "savings": ~(c.savings.net > params.min_savings_usd) & ~c.emergency & ~c.slo_repair,
        "repair_cap": c.slo_repair & ~(c.savings.cost_delta_pct <= params.max_repair_cost_pct),
        "cooldown": (c.cooldown_left_s > 0) & ~c.emergency,
    }
    structural = ("no_current_data", "no_candidate", "current_best")
    flags = {code: np.asarray(mask).tolist() for code, mask in columns.items()}
    out: list[list[str]] = []
    for i, moving in enumerate(c.migrate.tolist()):
        if moving:
            out.append([])
            continue
        first = next((code for code in structural if flags[code][i]), None)
        if first is not None:
            out.append([first])
            continue
        waiting = ("in_progress", "confidence", "savings", "repair_cap", "cooldown")
        out.append([code for code in waiting if flags[code][i]])
    return out


def service_rows(result: EngineResult, *, include_at_best: bool = False) -> list[dict[str, Any]]:
    """One compact row per service (no ranking), built from the cycle's arrays; services already on
    their best placement only when ``include_at_best``."""
    c = result.cycle
    keys = [p.key for p in c.fleet.placements]
    ids = {d.service: d.id for d in result.recommendations}
    unmet = unmet_conditions(result)
    rows = zip(
        c.fleet.names,
        c.fleet.current,
        c.target.tolist(),
        c.migrate.tolist(),
        c.emergency.tolist(),
        np.round(c.confidence, 4).tolist(),
        np.round(c.savings.net, 2).tolist(),
        np.round(c.savings.cost_delta_pct, 2).tolist(),
        unmet,
        strict=True,
    )
    return [
        {
            "service": name,
            "action": "migrate" if moving else "stay",
            "emergency": emergency,
            "current": current.key,
            "best": keys[target] if target >= 0 else None,
            "confidence": confidence,
            "net_savings_monthly_usd": net,
            "cost_delta_pct": delta,
            "unmet": codes,
            "decision_id": ids.get(name),
        }
        for name, current, target, moving, emergency, confidence, net, delta, codes in rows
        if include_at_best or codes != ["current_best"]
    ]


def decisions_document(result: EngineResult) -> dict[str, Any]:
    """The content of ai_decisions.json for one cycle."""
    params = result.cycle.params
    return {
        "schema": DOCUMENT_SCHEMA,
        "generated_at": result.created_at.isoformat(),
        "weights": params.weights.model_dump(),
        "thresholds": {
            "min_confidence": params.min_confidence,
            "min_savings_usd": params.min_savings_usd,
            "cooldown_s": params.cooldown_s,
        },
        "counts": {**result.counts, "at_best": _at_best(result)},
        "recommendations": [d.model_dump(mode="json") for d in result.recommendations],
        "services": service_rows(result),
    }


def _at_best(result: EngineResult) -> int:
    c = result.cycle
    return int(np.count_nonzero((c.target >= 0) & (c.target == c.fleet.current_idx) & ~c.migrate))
