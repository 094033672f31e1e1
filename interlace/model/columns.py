"""Read and check the data's columns against a parsed formula.

Which columns a model uses, whether they exist once with a type a model can use, ``weights=`` and
``offset=`` as vectors, how a column's values are coded (text levels, sorted factor codes), and
missing values as R's ``na.omit``: rows with a missing value (NaN, None, NA) in any used column,
in ``weights`` or in ``offset`` are dropped with an :class:`InterlaceWarning` saying how many;
infinite values are a :class:`DataError` naming the column and the row.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from formulaic import Formula

from interlace.caches import bounded_cache
from interlace.errors import DataError, FormulaError, InterlaceWarning
from interlace.model.formula import ParsedFormula, parse_formula
from interlace.model.response import (
    Columns,
    float_column,
    frame_of,
    message_number,
    one_line,
    plain_label,
)

_BACKTICKED = re.compile(r"`([^`]+)`")


@bounded_cache("columns.required_columns", 512, "the columns a term expression reads (formulaic)")
def _required_cached(expr: str) -> frozenset[str]:
    """formulaic's required variables, backtick-quoted names whole: formulaic reports
    ```total.fruits``` as ``total`` (an attribute access), so each quoted name stands in as a
    plain placeholder while formulaic reads the expression."""
    quoted: dict[str, str] = {}

    def hold(m: re.Match) -> str:
        key = f"_interlace_quoted_{len(quoted)}_"
        quoted[key] = m.group(1)
        return key

    found = Formula(_BACKTICKED.sub(hold, expr)).required_variables
    return frozenset(quoted.get(v, v) for v in found)


def _required_columns(expr: str, where: str) -> set[str]:
    try:
        return set(_required_cached(expr))
    except Exception as exc:  # noqa: BLE001 - formulaic raises many types
        raise FormulaError(f"cannot parse {where} {expr!r}: {one_line(exc)}") from None


def used_columns(parsed: ParsedFormula) -> tuple[dict[str, str], set[str]]:
    """Each used column mapped to the formula part that uses it (for error messages), and the
    set of columns used as numbers or fixed-effect factors (not only as grouping factors)."""
    used: dict[str, str] = {}
    valued: set[str] = set()

    def add(cols, where, value=True):
        for v in cols:
            used.setdefault(v, where)
            if value:
                valued.add(v)

    r = parsed.response
    for e in r.exprs:
        add(_required_columns(f"I({e}) ~ 1", "response"), f"response {r.text!r}")
    add(_required_columns(parsed.fixed, "fixed-effects part"),
        f"fixed-effects term in {parsed.fixed!r}")
    for off in parsed.offsets:
        add(_required_columns(f"I({off})", "offset"), f"offset({off})")
    for spec in parsed.random:
        add(_required_columns(spec.expr, "random-effect term"), f"random-effect term {spec}")
        add(spec.group_vars, f"grouping factor of {spec}", value=False)
    for name, rhs in parsed.params.items():
        where = f"formula '~ {rhs}' of family parameter {name!r}"
        valued_cols, groups = param_formula_columns(name, rhs)
        add(valued_cols, where)
        add(groups, f"grouping factor in the {where}", value=False)
    return used, valued


def param_formula_columns(name: str, rhs: str) -> tuple[set[str], list[str]]:
    """(the columns a family parameter's formula reads as values, its grouping columns): a
    ``ziformula`` may hold random terms ``(1 | g)``."""
    fixed, specs = rhs, []
    if "|" in rhs:
        sub = parse_formula(f"__response__ ~ {rhs}")
        fixed, specs = sub.fixed, sub.random
    cols = set(_required_columns(fixed, f"formula of family parameter {name!r}"))
    groups: list[str] = []
    for spec in specs:
        cols |= _required_columns(spec.expr, "random-effect term")
        groups += spec.group_vars
    return cols, groups


@dataclass(frozen=True)
class PartColumns:
    """The columns each part of a formula's right-hand side reads: ``fixed`` (the fixed
    effects and offsets), ``params`` (family-parameter formulas) and, per random term in the
    formula's order, the columns of its expression and its grouping columns (a prediction
    reads a term's columns only when it includes the term)."""

    fixed: frozenset[str]
    params: frozenset[str]
    terms: tuple[tuple[frozenset[str], tuple[str, ...]], ...]

    def columns(self, terms: list[int] | None = None) -> list[str]:
        """The columns a prediction with the random ``terms`` (indices; all if None) reads."""
        idx = range(len(self.terms)) if terms is None else terms
        out = set(self.fixed) | set(self.params)
        for i in idx:
            out |= self.terms[i][0] | set(self.terms[i][1])
        return sorted(out)


def part_columns(parsed: ParsedFormula) -> PartColumns:
    """The columns of each right-hand-side part of ``parsed`` (see :class:`PartColumns`)."""
    fixed = set(_required_columns(parsed.fixed, "fixed-effects part"))
    for off in parsed.offsets:
        fixed |= _required_columns(f"I({off})", "offset")
    params: set[str] = set()
    for name, rhs in parsed.params.items():
        cols, groups = param_formula_columns(name, rhs)
        params |= cols | set(groups)
    terms = tuple((frozenset(_required_columns(spec.expr, "random-effect term")),
                   tuple(spec.group_vars)) for spec in parsed.random)
    return PartColumns(frozenset(fixed), frozenset(params), terms)


def check_columns(data: Columns, used: dict[str, str], valued: set[str]) -> None:
    """Every used column exists once and has a type the model can use."""
    if isinstance(data.columns, pd.MultiIndex):
        raise DataError("data has MultiIndex (hierarchical) column names; flatten them to "
                        "single names first")
    missing = [c for c in used if c not in data.columns]
    if missing:
        avail = ", ".join(map(str, list(data.columns)[:30]))
        msgs = []
        for c in missing:
            if re.search(rf"(?<![\w.]){re.escape(c)}\s*\(", used[c]):
                msgs.append(f"{c!r} (used in {used[c]}) is neither a column of the data nor a "
                            f"function formulaic knows")
            else:
                msgs.append(f"column {c!r} (used in {used[c]}) is not in the data")
        raise DataError("; ".join(msgs) + f". Available columns: {avail}")
    for c in used:
        loc = data.columns.get_loc(c)
        if not isinstance(loc, (int, np.integer)):
            count = int(np.sum(data.columns == c))
            raise DataError(f"column {c!r} (used in {used[c]}) appears {count} times in the data; "
                            f"column names must be unique")
    for c in valued:
        dt = data[c].dtype
        bad = (dt.kind in "mMc" or isinstance(dt, (pd.PeriodDtype, pd.IntervalDtype, pd.DatetimeTZDtype)))
        if bad:
            raise DataError(
                f"column {c!r} (used in {used[c]}) has dtype {dt}, which a model cannot use as a "
                f"number; convert it (e.g. to days since a start date) or to a category"
            )


def warn_numeric_text(data: Columns, used: dict[str, str], valued: set[str]) -> None:
    """Warn about predictors held as text whose every value reads as a number: they become
    factors (as R treats text), which is right for labels and wrong for measurements."""
    for c in sorted(valued):
        where = used[c]
        s = data[c]
        if where.startswith("response") or not text_column(s):
            continue
        labels = pd.unique(s.dropna())
        if len(labels) == 0 or not _all_numbers(labels):
            continue
        shown = ", ".join(repr(v) for v in sorted(labels, key=float)[:4])
        warnings.warn(
            f"column {c!r} (used in {where}) holds text whose every value reads as a number "
            f"({shown}{', ...' if len(labels) > 4 else ''}): it is fitted as a factor with "
            f"{len(labels)} levels, as R fits text. If it is a measurement, convert it with "
            f"pd.to_numeric; if it is a factor, make it categorical "
            f"(data[{c!r}].astype('category')) and this warning goes away",
            InterlaceWarning, stacklevel=5)


def _all_numbers(labels: np.ndarray) -> bool:
    """Whether every label parses as a finite or infinite number."""
    return not pd.isna(pd.to_numeric(pd.Series(labels, dtype=object), errors="coerce")).any()


def text_column(s: pd.Series) -> bool:
    """Whether formulaic treats ``s`` as text levels (str dtype, or object holding only str)."""
    if isinstance(s.dtype, pd.StringDtype):
        return True
    return s.dtype == object and pd.api.types.infer_dtype(s, skipna=False) == "string"


_SMALL_FACTOR = 20_000  # rows up to which text labels are sorted with numpy


def sorted_codes(s: pd.Series) -> tuple[np.ndarray, np.ndarray | pd.Index]:
    """Codes of a column's values against its sorted distinct values (pandas' sorted
    factorize; short text columns by numpy's sort, which is faster there)."""
    if len(s) <= _SMALL_FACTOR and text_column(s):
        # same order: Python compares code points, Arrow compares UTF-8 bytes
        levels, codes = np.unique(s.to_numpy(dtype=object), return_inverse=True)
        return codes.astype(np.int64), levels
    codes, levels = pd.factorize(s, sort=True)
    return codes.astype(np.int64), levels


def as_vector(name: str, arr: Any, data: pd.DataFrame) -> np.ndarray:
    """``weights=``/``offset=`` as a float vector with one entry per row of the data."""
    n0 = len(data)
    if isinstance(arr, str):
        if arr not in data.columns:
            raise DataError(f"{name}={arr!r} is not a column of the data. Available columns: "
                            f"{', '.join(map(str, list(data.columns)[:30]))}")
        s = data[arr]
        if isinstance(s, pd.DataFrame):
            raise DataError(f"{name} column {arr!r} appears {s.shape[1]} times in the data")
        if not pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s):
            raise DataError(f"{name} column {arr!r} must be numeric, got dtype {s.dtype}")
        return float_column(s)
    if isinstance(arr, (dict, set, frozenset)):
        raise DataError(f"{name} must be a sequence of numbers, one per row; got a "
                        f"{type(arr).__name__}")
    try:
        if isinstance(arr, (pd.Series, pd.DataFrame)):
            a = arr.to_numpy(dtype=float, na_value=np.nan)
        else:
            a = np.asarray(arr, dtype=float)
    except (TypeError, ValueError) as exc:
        raise DataError(f"{name} must be numeric, one number per row: {one_line(exc)}") from None
    if a.ndim == 0:
        raise DataError(f"{name} must give one number per row ({n0} rows), got the single "
                        f"value {message_number(a[()])!r}")
    if a.ndim == 2 and a.shape[1] == 1:
        a = a[:, 0]
    if a.ndim != 1:
        raise DataError(f"{name} must be one-dimensional (one number per row), got shape {a.shape}")
    if a.shape[0] != n0:
        raise DataError(f"{name} has length {a.shape[0]} but the data has {n0} rows")
    return a


def _first_bad(mask: np.ndarray, rows: pd.Index) -> Any:
    return plain_label(rows[int(np.flatnonzero(mask)[0])])


def drop_missing(data: Columns, used: dict[str, str], arrays: dict[str, np.ndarray | None],
                  rows: pd.Index) -> tuple[Columns, dict[str, np.ndarray | None], int, pd.Index]:
    """The data, the ``weights``/``offset`` arrays and the row labels without the rows missing a
    value (as R's na.omit, with a warning), and how many were dropped; infinite values raise."""
    cols = list(used)
    where: list[str] = []
    bad = np.zeros(len(data), bool)
    for arr in arrays.values():
        if arr is not None:
            bad |= np.isnan(arr)
    for c in cols:
        s = data[c]
        dt = s.dtype
        if isinstance(dt, np.dtype) and dt.kind in "iub":
            continue  # numpy integers and booleans hold neither missing nor infinite values
        if isinstance(dt, np.dtype) and dt.kind == "f":
            vals = s.to_numpy()
            bad |= np.isnan(vals)
        else:
            bad |= np.asarray(s.array.isna(), dtype=bool)  # the array's own test: no Series
            if not (pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s)):
                continue
            vals = float_column(s)
        inf = np.isinf(vals)
        if inf.any():
            i = int(np.flatnonzero(inf)[0])
            raise DataError(f"column {c!r} (used in {used[c]}) has an infinite value "
                            f"({vals[i]}) at row {plain_label(rows[i])!r}; {int(inf.sum())} "
                            f"infinite value(s) in all")
    for name, arr in arrays.items():
        if arr is not None and np.isinf(arr).any():
            raise DataError(f"{name} has an infinite value at row "
                            f"{_first_bad(np.isinf(arr), rows)!r}")
    ndrop = int(bad.sum())
    if ndrop:
        where += [c for c in cols if data[c].isna().any()]
        where += [k for k, v in arrays.items() if v is not None and np.isnan(v).any()]
        if ndrop == len(data):
            raise DataError(f"no rows left after dropping the {ndrop} rows with missing values "
                            f"(in {', '.join(map(str, where))})")
        warnings.warn(
            f"dropped {ndrop} of {len(data)} rows with missing values "
            f"(in {', '.join(map(str, where))}), as R's na.omit does",
            InterlaceWarning,
            stacklevel=4,
        )
        data, arrays, rows = keep_rows(data, arrays, rows, ~bad)
    return data, arrays, ndrop, rows


def keep_rows(data: Columns, arrays: dict[str, np.ndarray | None], rows: pd.Index,
              keep: np.ndarray) -> tuple[Columns, dict[str, np.ndarray | None], pd.Index]:
    """The data, the ``weights=``/``offset=`` vectors and the row labels on the rows ``keep``
    marks (positions renumbered from 0; the labels kept for messages)."""
    data = Columns(frame_of(data).loc[keep].reset_index(drop=True))
    arrays = {k: (None if v is None else v[keep]) for k, v in arrays.items()}
    return data, arrays, rows[keep]
