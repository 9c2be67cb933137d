"""Decision engine: vectorised scoring, hard constraints, confidence, savings, decisions, explanations.

The engine is pure: :func:`swen.engine.decide.evaluate` takes :class:`~swen.engine.decide.EngineInputs`
and returns an :class:`~swen.engine.decide.EngineResult` holding frozen ``Decision`` objects. It reads no
clock, no store and no file; the loop feeds it and persists what it returns.
"""
