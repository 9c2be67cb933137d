"""The numpy array types that the engine, the backtest and the simulator annotate with."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
Float32Array = npt.NDArray[np.float32]
BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.intp]
"""Positions and counts in numpy's own index type (what argmax, argsort and fancy indexing give)."""
Int64Array = npt.NDArray[np.int64]
