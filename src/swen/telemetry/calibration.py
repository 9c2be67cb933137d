"""The packaged confidence calibration table (``src/swen/data/confidence_calibration.json``).

Read as plain data here (the engine reads no files); ``swen.engine.calibration.table_from_dict``
validates it. Written by ``scripts/calibrate_confidence.py``; its provenance is inside the file.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

from swen.domain.errors import ConfigError

FILE = "confidence_calibration.json"


def load_calibration_data() -> dict[str, Any] | None:
    """The packaged table as a dict, or None when the package ships none."""
    path = resources.files("swen").joinpath("data", FILE)
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"{FILE} is not valid JSON: {exc}",
            hint="regenerate it with scripts/calibrate_confidence.py",
            source=FILE,
        ) from exc
    if not isinstance(data, dict):
        raise ConfigError(
            f"{FILE} must hold an object",
            hint="regenerate it with scripts/calibrate_confidence.py",
            source=FILE,
        )
    return data
