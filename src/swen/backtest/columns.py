"""Compact, exact storage for the trace's ``T x pairs`` matrices (``trace.build_trace``).

Most of a trace's columns repeat each other or take few values, so storing each cell is waste:

* :class:`CodedMatrix`: a matrix with few distinct values (availability: about ten in a month, the
  simulator clips it and stores it in float16) kept as one-byte codes into a table of those values;
* :class:`GroupedColumns`: columns that are equal at every step (all pairs of one GPU market; all pairs
  of one offer before a service's own price factor) kept once per group;
* :class:`FactoredMatrix`: ``float32(group value x factor)``, the product the trace used to store
  (prices: the offer's price times each service's price factor per provider), recomputed on read.

Every read gives back exactly the values the plain matrix held (same dtype, same bits): the groups are
found from the data as it is built (a group that stops being equal is split, and its earlier steps
keep the value they shared), the codes' table holds every value seen, and the product is the same
IEEE multiplication in the same precision, rounded to float32 the same way. Indexing follows numpy's
rules for ``m[rows]``, ``m[rows, cols]`` with ints, slices and index arrays, so readers do not care
which storage they got.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from swen.domain.arrays import Int64Array

CODE_LIMIT = 256
"""Distinct values a one-byte code holds; beyond it the codes widen to two bytes (still exact)."""


def _bits(row: npt.NDArray[Any]) -> npt.NDArray[Any]:
    """The row's values as unsigned integers of the same width (exact identity, NaN and -0.0 included)."""
    return row.view(np.dtype(f"u{row.dtype.itemsize}"))


def _split_key(index: Any) -> tuple[Any, Any]:
    if isinstance(index, tuple):
        if len(index) != 2:
            raise IndexError(f"a trace matrix takes [rows] or [rows, cols], got {len(index)} indices")
        return index[0], index[1]
    return index, slice(None)


def _pointwise(rows: Any, cols: Any) -> bool:
    """Whether numpy would pair ``rows`` and ``cols`` element by element (both index arrays)."""
    return not isinstance(rows, slice) and np.ndim(rows) > 0 and not isinstance(cols, slice)


class CodedMatrix:
    """A ``T x P`` matrix stored as codes into a table of its distinct values."""

    def __init__(self, steps: int, width: int, dtype: npt.DTypeLike) -> None:
        self.dtype = np.dtype(dtype)
        if self.dtype.itemsize > 2:
            raise ValueError(f"CodedMatrix holds 1- or 2-byte values, not {self.dtype}")
        self.shape = (steps, width)
        self.codes: npt.NDArray[np.unsignedinteger[Any]] = np.zeros(self.shape, dtype=np.uint8)
        self._code_of = np.full(1 << (8 * self.dtype.itemsize), -1, dtype=np.int64)
        """Value (as its bits) -> code; -1: not seen yet."""
        self.table: npt.NDArray[Any] = np.empty(0, dtype=self.dtype)

    def put(self, t: int, row: npt.NDArray[Any]) -> None:
        """Store row ``t`` (cast to the matrix's dtype first, as a plain matrix would)."""
        bits = _bits(np.asarray(row, dtype=self.dtype))
        codes = self._code_of[bits]
        if (codes < 0).any():
            new = np.unique(bits[codes < 0])
            self._code_of[new] = np.arange(self.table.size, self.table.size + new.size)
            self.table = np.concatenate([self.table, new.view(self.dtype)])
            if self.table.size > CODE_LIMIT and self.codes.dtype == np.uint8:
                self.codes = self.codes.astype(np.uint16)
            codes = self._code_of[bits]
        self.codes[t] = codes

    def __getitem__(self, index: Any) -> Any:
        return self.table[self.codes[index]]

    def __array__(self, dtype: npt.DTypeLike | None = None, copy: bool | None = None) -> npt.NDArray[Any]:
        """The whole matrix (``np.asarray``: tests and small traces; readers index it instead)."""
        out: npt.NDArray[Any] = self[slice(None)]
        return out if dtype is None else out.astype(dtype)

    @property
    def nbytes(self) -> int:
        return int(self.codes.nbytes + self.table.nbytes)


class GroupedColumns:
    """Columns grouped by equality at every step: ``values[t, group_of[p]]`` is column p at step t.

    ``initial`` groups columns expected to be equal (e.g. pairs of one offer); :meth:`put` checks each
    row against its groups and splits a group whose columns differ, so the storage is exact whatever
    ``initial`` says."""

    def __init__(self, steps: int, initial: Int64Array, dtype: npt.DTypeLike) -> None:
        self.dtype = np.dtype(dtype)
        _, self.rep, inverse = np.unique(initial, return_index=True, return_inverse=True)
        self.group_of: Int64Array = inverse.astype(np.int64).ravel()
        self.values: npt.NDArray[Any] = np.empty((steps, self.rep.size), dtype=self.dtype)
        self.splits = 0

    def put(self, t: int, row: npt.NDArray[Any]) -> None:
        row = np.asarray(row, dtype=self.dtype)
        bits = _bits(row)
        if not np.array_equal(bits[self.rep][self.group_of], bits):
            self._split(bits)
        self.values[t] = row[self.rep]

    def _split(self, bits: npt.NDArray[Any]) -> None:
        """Split the groups by this row's values; earlier steps keep their group's shared value."""
        keys = np.column_stack([self.group_of, bits.astype(np.int64)])
        _, rep, inverse = np.unique(keys, axis=0, return_index=True, return_inverse=True)
        self.values = np.ascontiguousarray(self.values[:, self.group_of[rep]])
        self.rep, self.group_of = rep, inverse.astype(np.int64).ravel()
        self.splits += 1

    def __getitem__(self, index: Any) -> Any:
        rows, cols = _split_key(index)
        groups = self.group_of[cols]
        if _pointwise(rows, cols):
            return self.values[rows, groups]
        return self.values[rows][..., groups]

    def __array__(self, dtype: npt.DTypeLike | None = None, copy: bool | None = None) -> npt.NDArray[Any]:
        """The whole matrix (``np.asarray``: tests and small traces; readers index it instead)."""
        out: npt.NDArray[Any] = self[slice(None)]
        return out if dtype is None else out.astype(dtype)

    @property
    def shape(self) -> tuple[int, int]:
        return (int(self.values.shape[0]), int(self.group_of.size))

    @property
    def nbytes(self) -> int:
        return int(self.values.nbytes + self.group_of.nbytes)


class FactoredMatrix:
    """``float32(base[t, p] x factor[t, factor_of[p]])``: the product a plain float32 matrix stored.

    ``base``: the columns before the factor (:class:`GroupedColumns`, float64); ``factor``: ``T x F``
    (float64), one column per distinct factor; None: no factor (the base alone, rounded to float32)."""

    dtype = np.dtype(np.float32)

    def __init__(
        self, base: GroupedColumns, factor: npt.NDArray[np.float64] | None, factor_of: Int64Array | None
    ) -> None:
        if (factor is None) != (factor_of is None):
            raise ValueError("factor and factor_of go together")
        self.base, self.factor, self.factor_of = base, factor, factor_of

    def __getitem__(self, index: Any) -> Any:
        values = self.base[index]
        if self.factor is not None and self.factor_of is not None:
            rows, cols = _split_key(index)
            which = self.factor_of[cols]
            if _pointwise(rows, cols):
                values = values * self.factor[rows, which]
            else:
                values = values * self.factor[rows][..., which]
        return np.asarray(values).astype(np.float32) if np.ndim(values) else np.float32(values)

    def __array__(self, dtype: npt.DTypeLike | None = None, copy: bool | None = None) -> npt.NDArray[Any]:
        """The whole matrix (``np.asarray``: tests and small traces; readers index it instead)."""
        out: npt.NDArray[Any] = self[slice(None)]
        return out if dtype is None else out.astype(dtype)

    @property
    def shape(self) -> tuple[int, int]:
        return self.base.shape

    @property
    def nbytes(self) -> int:
        extra = (
            0 if self.factor is None or self.factor_of is None else self.factor.nbytes + self.factor_of.nbytes
        )
        return self.base.nbytes + int(extra)
