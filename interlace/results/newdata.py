"""New data brought to the form the model was fitted on, or an error saying why it cannot be.

Every column a prediction reads is converted to the kind and levels it had when fitting
(:class:`~interlace.model.column_types.ColumnType`) before it is coded, so the answer never
depends on how a column was typed: a factor fitted as the text "1".."4" may arrive as the
integers 1..4 (or 1.0..4.0, or a category) and means the same levels; a numeric predictor may
arrive as text holding numbers. What cannot be converted is a :class:`DataError` naming the
column, the value and the row (newdata's index label):

* a column the prediction needs is missing from newdata;
* a missing value (NaN, None, NA) in a predictor;
* text that is not a number in a numeric predictor;
* a value of a factor predictor (also ``C(x)`` of a numeric column) not seen when fitting:
  the model has no coefficient for it (formulaic would code it as the reference level).

Grouping columns are converted the same way; their unseen values (and missing values) are new
groups, which the caller accepts or refuses (``allow_new_levels``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from interlace.errors import DataError
from interlace.model.column_types import ColumnType
from interlace.model.response import message_number, plain_label

_C_CALL = re.compile(r"^C\(\s*([A-Za-z_.][A-Za-z0-9_.]*)\s*(?:,.*)?\)$")
_SHOWN = 8  # levels listed in a message


@dataclass
class PreparedData:
    """newdata with the needed columns converted (positions 0..n-1), as given (``raw``, for
    messages), its own index (for outputs and messages) and, per grouping column, the rows
    holding a new group."""

    frame: pd.DataFrame
    raw: pd.DataFrame
    index: pd.Index
    new_group: dict[str, np.ndarray]

    def __len__(self) -> int:
        return len(self.index)


def _where(c: str, used: dict[str, str]) -> str:
    return f"column {c!r} (used in {used[c]})" if c in used else f"column {c!r}"


def _row(index: pd.Index, mask: np.ndarray) -> str:
    """'row 3' (or 'rows 3, 7, ...') of newdata: the index labels where ``mask`` holds."""
    at = np.flatnonzero(mask)
    labels = ", ".join(repr(plain_label(index[i])) for i in at[:3])
    more = f" and {len(at) - 3} more" if len(at) > 3 else ""
    return f"row{'s' if len(at) > 1 else ''} {labels}{more}"


def _levels_text(levels: Any) -> str:
    lv = [repr(plain_label(v)) for v in list(levels)[:_SHOWN]]
    return ", ".join(lv) + (f", ... ({len(levels)} in all)" if len(levels) > _SHOWN else "")


def _check_frame(newdata: Any, columns: list[str], used: dict[str, str]) -> None:
    """A DataFrame with flat, unique names holding every needed column."""
    if not isinstance(newdata, pd.DataFrame):
        raise DataError(f"newdata must be a pandas DataFrame, got {type(newdata).__name__}")
    if isinstance(newdata.columns, pd.MultiIndex):
        raise DataError("newdata has MultiIndex (hierarchical) column names; flatten them first")
    missing = [c for c in columns if c not in newdata.columns]
    if missing:
        raise DataError(f"newdata lacks {', '.join(_where(c, used) for c in missing)}; the "
                        f"prediction needs it. Available columns: "
                        f"{', '.join(map(str, list(newdata.columns)[:30]))}")
    for c in columns:
        if not isinstance(newdata.columns.get_loc(c), (int, np.integer)):
            raise DataError(f"newdata has {int(np.sum(newdata.columns == c))} columns named "
                            f"{c!r}; column names must be unique")


def _missing(s: pd.Series) -> np.ndarray:
    return np.asarray(s.isna(), dtype=bool)


def as_numbers(s: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """A column as floats and the rows whose (non-missing) value is not a number."""
    if isinstance(s.dtype, pd.CategoricalDtype):
        s = s.astype(object)
    if pd.api.types.is_numeric_dtype(s.dtype):  # numbers and booleans
        vals = s.to_numpy(dtype=float, na_value=np.nan)
        return vals, np.zeros(len(s), bool)
    if s.dtype.kind in "mM" or isinstance(s.dtype, (pd.PeriodDtype, pd.IntervalDtype)):
        return np.full(len(s), np.nan), ~_missing(s)
    vals = pd.to_numeric(s.astype(object), errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    return vals, np.isnan(vals) & ~_missing(s)


def _value_keys(uniques: pd.Index) -> tuple[pd.Index, pd.Index]:
    """The distinct values of a column as text, exactly and in a canonical form for numbers
    (an integral float 1.0 reads '1'), to match against the levels' text."""
    exact = uniques.astype(str)
    canon = exact
    if uniques.dtype.kind == "f":
        v = uniques.to_numpy(dtype=float)
        whole = np.isfinite(v) & (v == np.round(v)) & (np.abs(v) < 2**53)
        canon = pd.Index(np.where(whole, np.where(whole, v, 0).astype(np.int64).astype(str),
                                  exact.to_numpy(dtype=object)), dtype=object)
    elif uniques.dtype.kind == "b":
        canon = pd.Index(np.where(uniques.to_numpy(dtype=bool), "1", "0"), dtype=object)
    elif uniques.dtype == object and pd.api.types.infer_dtype(uniques) != "string":
        canon = pd.Index([_canonical(v) for v in uniques], dtype=object)  # mixed objects
    return exact, canon


def _canonical(v: Any) -> str:
    """One value's text, an integral float written as an integer (4.0 reads '4')."""
    if isinstance(v, (float, np.floating)) and np.isfinite(v) and float(v).is_integer():
        return str(int(v))
    if isinstance(v, (bool, np.bool_)):
        return "1" if v else "0"
    return str(v)


def level_codes(s: pd.Series, ct: ColumnType) -> np.ndarray:
    """Per row, the index of its value among the fitted levels ``ct.levels``: matched as text,
    so that 1, 1.0, '1' and a category '1' all find the level '1'; -1 for a value not seen
    when fitting, -2 for a missing value."""
    lv = np.asarray(ct.levels, dtype=object)
    if ct.kind == "bool":  # booleans also match 0 / 1
        levels = pd.Index(np.where(lv.astype(bool), "1", "0"), dtype=object)
    else:
        levels = pd.Index(lv.astype(str), dtype=object)
    codes, uniques = pd.factorize(s.astype(object) if isinstance(s.dtype, pd.CategoricalDtype)
                                  else s, use_na_sentinel=True)
    uniques = pd.Index(uniques)
    exact, canon = _value_keys(uniques)
    if ct.kind == "bool":
        exact = canon
    idx = levels.get_indexer(exact)
    retry = idx < 0
    if retry.any():
        idx[retry] = levels.get_indexer(canon[retry])
    out = np.full(len(s), -2, np.int64)
    hit = codes >= 0
    out[hit] = idx[codes[hit]]
    return out


def rebuild(ct: ColumnType, codes: np.ndarray) -> pd.Series:
    """The column with the fitted dtype holding the levels ``codes`` index (all >= 0)."""
    if ct.kind == "category":
        pos = pd.Index(list(ct.categories)).get_indexer(list(ct.levels))
        return pd.Series(pd.Categorical.from_codes(pos[codes], categories=list(ct.categories),
                                                   ordered=ct.ordered))
    if ct.kind == "bool":
        return pd.Series(np.asarray(ct.levels, dtype=bool)[codes])
    arr = np.asarray(list(ct.levels), dtype=object)[codes]
    return pd.Series(arr, dtype=object) if ct.dtype == object else pd.Series(arr).astype(ct.dtype)


def _unseen_error(c: str, used: dict[str, str], s: pd.Series, bad: np.ndarray,
                  index: pd.Index, levels: Any) -> DataError:
    vals = pd.unique(s[bad])
    shown = ", ".join(repr(message_number(plain_label(v))) for v in vals[:5])
    return DataError(f"newdata {_where(c, used)} has the value{'s' if len(vals) > 1 else ''} "
                     f"{shown} ({_row(index, bad)}), not among the levels seen when fitting "
                     f"({_levels_text(levels)}): the model has no estimate for "
                     f"{'them' if len(vals) > 1 else 'it'}")


def _numeric_column(c: str, ct: ColumnType, s: pd.Series, index: pd.Index,
                    used: dict[str, str]) -> tuple[pd.Series, np.ndarray | None]:
    """A column fitted as numbers: floats (a predictor: every value a number), or for a
    grouping column the fitted dtype with rows that cannot be a fitted group marked new."""
    vals, bad = as_numbers(s)
    miss = _missing(s)
    if ct.valued:
        if miss.any():
            raise DataError(f"newdata {_where(c, used)} has a missing value ({_row(index, miss)}); "
                            f"a prediction needs every predictor's value")
        if bad.any():
            v = s[bad].iloc[0]
            raise DataError(f"newdata {_where(c, used)} has the value {plain_label(v)!r} "
                            f"({_row(index, bad)}), which is not a number; the column was "
                            f"numeric ({ct.dtype}) when fitting")
        return pd.Series(vals), None
    new = miss | bad
    if np.dtype(ct.dtype).kind in "iu":  # an integer grouping column: integers only
        new |= ~np.isfinite(vals) | (vals != np.round(np.nan_to_num(vals)))
        vals = np.where(new, 0, np.nan_to_num(vals)).astype(ct.dtype)
    else:
        vals = np.where(new, 0.0, vals)
    return pd.Series(vals), new


def _level_column(c: str, ct: ColumnType, s: pd.Series, index: pd.Index,
                  used: dict[str, str]) -> tuple[pd.Series, np.ndarray | None]:
    """A column fitted as levels (text, category, booleans), with the fitted dtype."""
    codes = level_codes(s, ct)
    if ct.valued:
        miss = codes == -2
        if miss.any():
            raise DataError(f"newdata {_where(c, used)} has a missing value ({_row(index, miss)}); "
                            f"a prediction needs every predictor's value")
        if (codes == -1).any():
            raise _unseen_error(c, used, s, codes == -1, index, ct.levels)
    new = codes < 0
    return rebuild(ct, np.where(new, 0, codes)), (new if ct.grouping else None)


def prepare_newdata(types: dict[str, ColumnType], newdata: Any, columns: list[str],
                    used: dict[str, str]) -> PreparedData:
    """Check ``newdata`` for the ``columns`` a prediction reads and convert each to its
    fitted form (``types``); ``used`` says where the formula uses each (for messages)."""
    _check_frame(newdata, columns, used)
    index = newdata.index
    raw = frame = newdata.reset_index(drop=True)
    converted: dict[str, pd.Series] = {}
    new_group: dict[str, np.ndarray] = {}
    for c in columns:
        ct = types.get(c)
        if ct is None:
            continue
        s = frame[c]
        if ct.kind == "numeric":
            col, new = _numeric_column(c, ct, s, index, used)
        else:
            col, new = _level_column(c, ct, s, index, used)
        converted[c] = col
        if ct.grouping:
            new_group[c] = np.zeros(len(frame), bool) if new is None else new
    if converted:
        frame = frame.assign(**converted)
    return PreparedData(frame, raw, index, new_group)


def check_spec_levels(spec: Any, prepared: PreparedData, used: dict[str, str]) -> None:
    """Every value of a factor in a formulaic model spec (a text column, or ``C(x)`` of a
    numeric one) is among the levels it had when fitting; formulaic itself codes an unseen
    level as the reference level."""
    state = getattr(spec, "encoder_state", None) or {}
    frame = prepared.frame
    for factor, (kind, st) in state.items():
        if getattr(kind, "value", kind) != "categorical" or not isinstance(st, dict):
            continue
        m = _C_CALL.match(str(factor))
        col = str(factor) if factor in frame.columns else (m.group(1) if m else None)
        cats = st.get("categories")
        if col is None or col not in frame.columns or cats is None:
            continue
        s = frame[col]
        values = s.astype(object) if isinstance(s.dtype, pd.CategoricalDtype) else s
        bad = pd.Index(list(cats)).get_indexer(values) < 0
        if bad.any():
            raise _unseen_error(col, used, prepared.frame[col], bad, prepared.index, cats)
