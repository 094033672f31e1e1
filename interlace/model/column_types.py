"""What each column a model reads looked like when it was fitted: its kind, dtype and levels.

Predictions on new data convert each column back to this form before coding it
(:mod:`interlace.results.newdata`), so that the answer never depends on whether a column
arrives as integers, text or a category: cbpp's ``period`` fitted as the text "1".."4" and
given as the integers 1..4 must mean the same four levels, not a numeric slope. The record is
made once per fit from the rows the model used (after dropping missing values) and is cheap:
numeric columns keep their dtype only; text, category and boolean columns their observed
levels, taken from the random terms where a column is itself a grouping factor.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from interlace.model.columns import part_columns, text_column
from interlace.model.formula import ParsedFormula
from interlace.model.terms import RandomTerm

#: The kinds of column: numbers, text labels, a pandas category, booleans.
KINDS = ("numeric", "text", "category", "bool")


@dataclass(frozen=True, eq=False)
class ColumnType:
    """One column as fitted. ``levels`` are the values seen in the fit's rows (sorted as the
    design codes them: text by code point, a category in its categories' order, booleans
    False then True, other objects by value); None for numeric columns. New values match a
    level when their text does (1, 1.0 and '1' all match the level '1'). ``categories`` /
    ``ordered`` are a category column's full categories. ``valued``: used as a number or
    fixed-effect factor (predictions must know every value); ``grouping``: part of a grouping
    factor (unseen values are new groups)."""

    name: str
    kind: str
    dtype: Any
    levels: Any = None  # a sequence (tuple, array or Index), in order
    categories: tuple | None = None
    ordered: bool = False
    valued: bool = False
    grouping: bool = False


def column_kind(s: pd.Series) -> str:
    """The kind of a column: "bool", "category", "text" (str, or object holding only str),
    "numeric" (numbers and anything else formulaic reads as numbers)."""
    dt = s.dtype
    if pd.api.types.is_bool_dtype(dt):
        return "bool"
    if isinstance(dt, pd.CategoricalDtype):
        return "category"
    if text_column(s) or (isinstance(dt, np.dtype) and dt.kind == "O"):
        return "text"  # formulaic codes object columns (text or not) as levels
    return "numeric"


def _observed_levels(s: pd.Series, kind: str) -> tuple:
    """The distinct values of a non-numeric column in the design's order (numpy on the
    distinct values only: this runs on every fit)."""
    if kind == "category":
        cats, codes = s.dtype.categories, np.asarray(s.array.codes)  # (not the .cat accessor)
        used = np.flatnonzero(np.bincount(codes[codes >= 0], minlength=len(cats)))
        return tuple(cats) if used.size == len(cats) else tuple(cats[used])
    values = pd.unique(s.to_numpy(dtype=object))
    values = values[~pd.isna(values)]
    if kind == "bool":
        return tuple(bool(v) for v in np.unique(values.astype(bool)))
    if text_column(s):
        return tuple(np.unique(values.astype(str)).tolist())
    try:  # an object column of other values (numbers...): the values themselves, sorted
        return tuple(sorted(values))
    except TypeError:
        return tuple(sorted(values, key=str))


def record_columns(data: Any, parsed: ParsedFormula, terms: list[RandomTerm],
                   known: dict[str, Any] | None = None) -> dict[str, ColumnType]:
    """The :class:`ColumnType` of every column the formula's right-hand side reads (fixed
    part, offsets, random terms' expressions, grouping factors, family-parameter formulas) on
    the rows the fit used (the response's columns are not needed to predict). Text levels
    already found are reused: ``known`` (those of the fixed-effects matrix) and the terms'
    levels of single grouping columns."""
    parts = part_columns(parsed)
    grouping = {v for _, gv in parts.terms for v in gv}
    valued = set(parts.fixed | parts.params).union(*(e for e, _ in parts.terms))
    found = dict(known or {})
    found.update({t.group: t.level_values for t in terms if ":" not in t.group})
    out: dict[str, ColumnType] = {}
    for name in sorted(valued | grouping):
        s = data[name]
        kind = column_kind(s)
        levels = None
        if kind == "text" and name in found:
            levels = found[name]
        elif kind != "numeric":
            levels = _observed_levels(s, kind)
        cat = s.dtype if kind == "category" else None
        out[name] = ColumnType(
            name, kind, s.dtype, levels,
            categories=None if cat is None else tuple(cat.categories),
            ordered=bool(cat.ordered) if cat is not None else False,
            valued=name in valued, grouping=name in grouping)
    return out
