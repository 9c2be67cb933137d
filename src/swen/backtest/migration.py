"""The backtest's migration cost is the engine's (``swen.engine.migration_cost``): one model, not two.

A backtest file's ``migration:`` header (any subset of the fields of :class:`MigrationCost`) sets it
for the bill (``trace.build_grid``) and for the engine the replay runs (``EngineParams.migration``,
``runner.BacktestConfig.engine_params``), so the engine prices every move as the bill charges it.
"""

from __future__ import annotations

from swen.engine.migration_cost import MigrationCost

__all__ = ["MigrationCost"]
