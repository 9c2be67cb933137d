"""Reading the packaged CSV files row by row, with errors that name the file, the row and the field."""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from swen.domain.errors import TelemetryError


@dataclass(frozen=True)
class Row:
    """One data row of a CSV file. ``line`` is the 1-based line number in the file (header = line 1)."""

    label: str
    line: int
    values: dict[str, str]

    def where(self, field: str) -> str:
        return f"{self.label} line {self.line}, column {field}"

    def fail(self, field: str, problem: str, hint: str) -> TelemetryError:
        return TelemetryError(f"{self.where(field)}: {problem}", hint=hint)

    def text(self, field: str, *, required: bool = True) -> str:
        value = (self.values.get(field) or "").strip()
        if required and not value:
            raise self.fail(field, "is empty", f"fill in {field} or remove the row")
        return value

    def number(self, field: str, *, required: bool = True, positive: bool = False) -> float | None:
        raw = self.text(field, required=required)
        if not raw:
            return None
        try:
            value = float(raw)
        except ValueError:
            raise self.fail(field, f"{raw!r} is not a number", "use a plain decimal number") from None
        if not math.isfinite(value):
            raise self.fail(field, f"{raw!r} is not finite", "use a finite decimal number")
        if value < 0:
            raise self.fail(field, f"{value} is negative", "prices, sizes and times must be >= 0")
        if positive and value == 0:
            raise self.fail(field, "is 0", "use a number > 0")
        return value

    def required_number(self, field: str, *, positive: bool = False) -> float:
        value = self.number(field, positive=positive)
        if value is None:  # unreachable: number(required=True) raises on a blank cell
            raise self.fail(field, "is empty", f"fill in {field}")
        return value


def read_rows(text: str, label: str, required_columns: Sequence[str]) -> Iterator[Row]:
    """Yield the data rows of ``text``; a missing column is an error naming the file."""
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in required_columns if c not in (reader.fieldnames or [])]
    if missing:
        raise TelemetryError(
            f"{label}: missing column(s) {', '.join(missing)}",
            hint=f"the header must contain {', '.join(required_columns)}",
        )
    for values in reader:
        yield Row(label=label, line=reader.line_num, values=values)
