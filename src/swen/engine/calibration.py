"""Confidence calibration as plain data, and the measures of how well calibrated it is (pure).

The engine's raw probability (``confidence.raw_probability``) is mapped through an isotonic
(monotone, piecewise-linear) curve fitted on replays: among replayed moves whose raw probability was
near x, the share that was still net positive after the payback horizon
(``HINDSIGHT_HORIZON_S``). The fit is done offline (``scripts/calibrate_confidence.py`` with
scikit-learn's ``IsotonicRegression``) and packaged as ``src/swen/data/confidence_calibration.json``
with its provenance; the engine only interpolates the table (numpy), so it stays light and pure.

The table holds one fold per shipped scenario, each fitted on every *other* scenario, and one fold
fitted on all of them (``"all"``, used live and for scenarios the table has never seen): a backtest of
a shipped scenario is scored with the fold that did not see it (:meth:`CalibrationTable.for_scenario`).

Reliability: bins of width 0.1 over confidence; per bin the mean confidence, the observed share of
positives and the count. ``ECE = sum_b n_b / N x |positives_b - confidence_b|``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from swen.domain.arrays import FloatArray
from swen.engine.forecast import DurationModel

HINDSIGHT_HORIZON_S = 3 * 86400.0
"""A move is *right* when, this long after it was decided, what it saved (target vs staying, at the
trace's prices) exceeds its one-time cost. Three days: past the payback of every move in the shipped
fleet and long enough that price noise (which reverts within hours) averages out."""
MIN_HORIZON_S = 86400.0
"""Moves decided with less than this left in a replay are not labelled (too little hindsight)."""


class Fold(BaseModel):
    """One isotonic curve (``x`` raw probability -> ``y`` calibrated) and its duration model."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    fitted_on: tuple[str, ...]
    x: tuple[float, ...] = Field(min_length=2)
    y: tuple[float, ...] = Field(min_length=2)
    samples: int = Field(ge=0)
    duration: dict[str, tuple[float, ...]] | None = None
    """``DurationModel.to_dict()`` fitted on the same scenarios (None: the default model)."""

    @model_validator(mode="after")
    def _monotone(self) -> Fold:
        if len(self.x) != len(self.y):
            raise ValueError("calibration x and y must have the same length")
        if any(b < a for a, b in zip(self.x, self.x[1:], strict=False)):
            raise ValueError("calibration x must be non-decreasing")
        if any(b < a - 1e-12 for a, b in zip(self.y, self.y[1:], strict=False)):
            raise ValueError("calibration y must be non-decreasing (isotonic)")
        if not all(0 <= v <= 1 for v in (*self.x, *self.y)):
            raise ValueError("calibration values must lie in [0, 1]")
        return self

    def apply(self, raw: FloatArray | float) -> FloatArray:
        out: FloatArray = np.interp(np.asarray(raw, dtype=np.float64), self.x, self.y)
        return out

    def duration_model(self) -> DurationModel | None:
        return None if self.duration is None else DurationModel.from_dict(self.duration)


class CalibrationTable(BaseModel):
    """Folds by name: each shipped scenario's (fitted without it) and ``"all"``."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    schema_: str = Field(default="swen.confidence_calibration/1", alias="schema")
    provenance: dict[str, Any] = Field(default_factory=dict)
    folds: dict[str, Fold]

    @model_validator(mode="after")
    def _has_all(self) -> CalibrationTable:
        if "all" not in self.folds:
            raise ValueError("a calibration table needs an 'all' fold")
        return self

    def for_scenario(self, name: str | None) -> Fold:
        """The fold that never saw scenario ``name`` (``"all"`` for a scenario outside the table)."""
        fold = self.folds.get(name or "all", self.folds["all"])
        if name is not None and name in fold.fitted_on:  # "all" asked for a fitted scenario
            raise ValueError(f"no fold of the calibration table leaves out scenario {name!r}")
        return fold


def reliability(
    confidence: Sequence[float] | FloatArray, positive: Sequence[bool] | np.ndarray, bins: int = 10
) -> list[dict[str, float | int]]:
    """Reliability diagram data: per non-empty bin of width 1/bins, its edges, mean confidence, observed
    share of positives and count."""
    conf = np.clip(np.asarray(confidence, dtype=np.float64), 0.0, 1.0)
    pos = np.asarray(positive, dtype=bool)
    if conf.shape != pos.shape:
        raise ValueError("confidence and outcomes must have the same length")
    idx = np.minimum((conf * bins).astype(np.intp), bins - 1)
    out: list[dict[str, float | int]] = []
    for b in range(bins):
        sel = idx == b
        n = int(np.count_nonzero(sel))
        if n:
            out.append(
                {
                    "low": b / bins,
                    "high": (b + 1) / bins,
                    "confidence": float(conf[sel].mean()),
                    "positive_share": float(pos[sel].mean()),
                    "count": n,
                }
            )
    return out


def expected_calibration_error(
    confidence: Sequence[float] | FloatArray, positive: Sequence[bool] | np.ndarray, bins: int = 10
) -> float | None:
    """``sum_b n_b / N x |positives_b - confidence_b|`` over equal-width bins (None without data)."""
    rows = reliability(confidence, positive, bins)
    total = sum(int(r["count"]) for r in rows)
    if not total:
        return None
    return float(
        sum(int(r["count"]) / total * abs(float(r["positive_share"]) - float(r["confidence"])) for r in rows)
    )


def table_from_dict(data: Mapping[str, Any]) -> CalibrationTable:
    return CalibrationTable.model_validate(data)
