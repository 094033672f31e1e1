"""Reading the data for the response: the design's side of the family's ``decode_response``.

The family decodes the response (:meth:`interlace.families.base.Family.decode_response`);
this module gives it the means: :class:`DesignResponse` carries the formula's left-hand side and
callbacks that evaluate an expression to a float column, return a raw column and name rows.
It also holds the column-reading helpers the design shares (numeric columns as floats,
expressions through formulaic, index labels and numbers for messages).
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd
from formulaic import model_matrix

from interlace.errors import DataError, FormulaError
from interlace.model.formula import ResponseSpec, unquote_name

_ANSI = re.compile(r"\x1b\[[0-9;]*m|[\u29da\u29db]")


def one_line(exc: BaseException) -> str:
    """A third-party exception's message on one line, without terminal colour codes."""
    text = _ANSI.sub("", str(exc))
    return " ".join(text.split()) or type(exc).__name__


def plain_label(x: Any) -> Any:
    """An index label as plain Python (``3``, not ``np.int64(3)``)."""
    return x.item() if isinstance(x, np.generic) else x


def message_number(x: Any) -> Any:
    """A value for a message: ``1.5``, not ``np.float64(1.5)``."""
    x = plain_label(x)
    if isinstance(x, float) and x.is_integer() and abs(x) < 1e15:
        return int(x)
    return x


class Columns:
    """A data frame whose columns are each read once (pandas' column access costs ~15 us, so
    re-reading them per check was a fifth of a small model's design). Offers what the design
    reads of a frame: ``[name]``, ``columns``, ``len``; ``frame`` for formulaic."""

    __slots__ = ("frame", "_cache")

    def __init__(self, frame: pd.DataFrame) -> None:
        self.frame = frame
        self._cache: dict[str, pd.Series] = {}

    def __getitem__(self, name: str) -> pd.Series:
        s = self._cache.get(name)
        if s is None:
            s = self._cache[name] = self.frame[name]
        return s

    def __len__(self) -> int:
        return len(self.frame)

    @property
    def columns(self) -> pd.Index:
        return self.frame.columns


def frame_of(data: pd.DataFrame | Columns) -> pd.DataFrame:
    """The pandas frame behind ``data`` (formulaic needs a real one)."""
    return data.frame if isinstance(data, Columns) else data


def float_column(s: pd.Series) -> np.ndarray:
    """A numeric or boolean column as float64, missing values as NaN (numpy columns without
    pandas' masked-value conversion, which costs more than the copy)."""
    dt = s.dtype
    if isinstance(dt, np.dtype) and dt.kind in "iufb":
        return np.array(s.array, dtype=float)  # a copy: the caller's frame stays untouched
    return s.to_numpy(dtype=float, na_value=np.nan)


def eval_numeric(expr: str, data: pd.DataFrame, what: str) -> np.ndarray:
    """Evaluate a column name (bare, or quoted in backticks) or a formulaic expression to
    one numeric column."""
    name = unquote_name(expr)
    if name != expr and name in data.columns:
        expr = name
    if expr in data.columns:
        s = data[expr]
        if isinstance(s, pd.DataFrame):
            raise DataError(f"{what} column {expr!r} appears {s.shape[1]} times in the data")
        if not pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
            raise DataError(f"{what} column {expr!r} must be numeric, got dtype {s.dtype}")
        return float_column(s)
    try:
        mm = model_matrix(f"0 + I({expr})", frame_of(data), na_action="ignore")
    except Exception as exc:  # noqa: BLE001
        raise FormulaError(f"cannot evaluate {what} {expr!r}: {one_line(exc)}") from None
    if mm.shape[1] != 1:
        raise DataError(f"{what} {expr!r} must give one numeric column, got {mm.shape[1]}")
    return np.asarray(mm, dtype=float)[:, 0]


class DesignResponse:
    """The response as the family sees it (the :class:`~interlace.families.base.Response`
    contract): the formula's kind, expressions and text, and the data's rows."""

    __slots__ = ("kind", "exprs", "text", "_data", "_rows")

    def __init__(self, spec: ResponseSpec, data: pd.DataFrame | Columns, rows: pd.Index) -> None:
        self.kind, self.exprs, self.text = spec.kind, tuple(spec.exprs), spec.text
        self._data, self._rows = data, rows

    def numeric(self, expr: str, what: str) -> np.ndarray:
        """``expr`` as one float column (see :func:`eval_numeric`)."""
        return eval_numeric(expr, self._data, what)

    def column(self, expr: str) -> pd.Series | None:
        """The data's column named ``expr``, or None (no such column, or a repeated name)."""
        if expr not in self._data.columns:
            return None
        s = self._data[expr]
        return None if isinstance(s, pd.DataFrame) else s

    def row(self, i: int) -> Any:
        """The index label of row ``i``."""
        return plain_label(self._rows[i])


def read_response(spec: ResponseSpec, data: pd.DataFrame | Columns, family: Any, rows: pd.Index
                  ) -> tuple[np.ndarray, np.ndarray | None, list | None]:
    """(y, trials or None, two-level labels or None), as the family decodes them."""
    y, trials, levels = family.decode_response(DesignResponse(spec, data, rows))
    return np.asarray(y, dtype=float), trials, levels
