"""Build the model's matrices from a parsed formula and a data frame.

Produces the response (read by the family's ``decode_response`` through
:mod:`interlace.model.response`; the design names no family), prior weights (binomial-type
trials folded in), offset, the dense fixed-effects matrix X (rank-deficient columns dropped
with a warning, as lme4 does) and one :class:`~interlace.model.terms.RandomTerm` per
random-effect term.

Missing values, as R's ``na.omit``: rows with a missing value (NaN, None, NA) in any used
column, in ``weights`` or in ``offset`` are dropped with an :class:`InterlaceWarning` saying how
many; so are rows where a transform in the formula gives NaN (``log(x)`` of a negative x).
Infinite values, in the data or produced by a transform, are a :class:`DataError` naming the
column or term and the row (rows are named by the data frame's index labels).
"""

from __future__ import annotations

import keyword
import re
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from formulaic import Formula, model_matrix

from interlace.caches import bounded_cache
from interlace.errors import (
    DataError,
    FormulaError,
    InterlaceWarning,
    UnsupportedModelError,
)
from interlace.model.formula import ParsedFormula, RandomTermSpec
from interlace.model.param_formulas import ParamDesign
from interlace.model.response import (
    Columns,
    eval_numeric,
    float_column,
    frame_of,
    message_number,
    one_line,
    plain_label,
    read_response,
)
from interlace.model.terms import RandomTerm


@dataclass
class Design:
    """Everything the objective needs, independent of parameter values."""

    y: np.ndarray
    weights: np.ndarray  # prior weights x trials (s / n, cbind() for binomial-type families)
    offset: np.ndarray
    X: np.ndarray
    fe_names: list[str]
    terms: list[RandomTerm]
    response_label: str
    fixed_spec: Any  # formulaic ModelSpec, to rebuild X for new data
    kept_columns: list[int]  # columns of the formulaic matrix kept after the rank check
    parsed: ParsedFormula
    nobs_dropped: int = 0
    dropped_columns: list[str] = field(default_factory=list)
    response_levels: list[Any] | None = None  # two-level text response: [level 0, level 1]
    param_designs: dict[str, ParamDesign] = field(default_factory=dict)  # ziformula etc.

    @property
    def n(self) -> int:
        return self.y.shape[0]

    @property
    def p(self) -> int:
        return self.X.shape[1]


@bounded_cache("design.required_columns", 512, "the columns a term expression reads (formulaic)")
def _required_cached(expr: str) -> frozenset[str]:
    return frozenset(Formula(expr).required_variables)


def _required_columns(expr: str, where: str) -> set[str]:
    try:
        return set(_required_cached(expr))
    except Exception as exc:  # noqa: BLE001 - formulaic raises many types
        raise FormulaError(f"cannot parse {where} {expr!r}: {one_line(exc)}") from None


def _used_columns(parsed: ParsedFormula) -> tuple[dict[str, str], set[str]]:
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
        add(_required_columns(rhs, f"formula of family parameter {name!r}"),
            f"formula '~ {rhs}' of family parameter {name!r}")
    return used, valued


def _check_columns(data: Columns, used: dict[str, str], valued: set[str]) -> None:
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


_SMALL_FACTOR = 20_000  # rows up to which text labels are sorted with numpy


def _sorted_codes(s: pd.Series) -> tuple[np.ndarray, np.ndarray | pd.Index]:
    """Codes of a column's values against its sorted distinct values (pandas' sorted
    factorize; short text columns by numpy's sort, which is faster there)."""
    if len(s) <= _SMALL_FACTOR and _text_column(s):
        # same order: Python compares code points, Arrow compares UTF-8 bytes
        levels, codes = np.unique(s.to_numpy(dtype=object), return_inverse=True)
        return codes.astype(np.int64), levels
    codes, levels = pd.factorize(s, sort=True)
    return codes.astype(np.int64), levels


def _as_vector(name: str, arr: Any, data: pd.DataFrame) -> np.ndarray:
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


def _drop_missing(data: Columns, used: dict[str, str], arrays: dict[str, np.ndarray | None],
                  rows: pd.Index) -> tuple[Columns, dict[str, np.ndarray | None], int, pd.Index]:
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
        keep = ~bad
        data = Columns(frame_of(data).loc[keep].reset_index(drop=True))
        arrays = {k: (None if v is None else v[keep]) for k, v in arrays.items()}
        rows = rows[keep]
    return data, arrays, ndrop, rows


_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_MINUS_ONE = re.compile(r"\s*-\s*1\s*$")


@bounded_cache("design.simple_terms", 512)
def _simple_terms(expr: str) -> tuple[bool, tuple[str, ...]] | None:
    """(intercept, column names) when ``expr`` is a plain sum of column names with ``1``, ``0``
    or a trailing ``- 1``; None for anything else (handed to formulaic)."""
    text, intercept = expr, True
    m = _MINUS_ONE.search(text)
    if m:
        text, intercept = text[: m.start()], False
    tokens = [t.strip() for t in text.split("+")]
    if "0" in tokens:
        if "1" in tokens or not intercept:
            return None
        intercept = False
    names: list[str] = []
    for t in tokens:
        if t in ("0", "1"):
            continue
        if not _IDENT.match(t) or keyword.iskeyword(t):
            return None
        if t not in names:
            names.append(t)
    if not names and not intercept:
        return None
    return intercept, tuple(names)


def _text_column(s: pd.Series) -> bool:
    """Whether formulaic treats ``s`` as text levels (str dtype, or object holding only str)."""
    if isinstance(s.dtype, pd.StringDtype):
        return True
    return s.dtype == object and pd.api.types.infer_dtype(s, skipna=False) == "string"


def _simple_matrix(expr: str, data: pd.DataFrame) -> tuple[np.ndarray, list[str], tuple] | None:
    """formulaic's model matrix for a plain sum of numeric columns (and, with an intercept, of
    text columns in treatment coding: ``g[T.level]`` against the first sorted level), built with
    numpy: the values, formulaic's column names and a key of the columns' dtypes and levels;
    None when formulaic is needed."""
    terms = _simple_terms(expr)
    if terms is None:
        return None
    intercept, names = terms
    cols = data.columns
    keys, blocks, out_names = [], [], ["Intercept"] if intercept else []
    n = len(data)
    for c in names:
        if c not in cols or not isinstance(cols.get_loc(c), (int, np.integer)):
            return None
        s = data[c]
        if isinstance(s.dtype, np.dtype) and s.dtype.kind in "iuf":
            keys.append((c, s.dtype, None))
            blocks.append(float_column(s)[:, None])
            out_names.append(c)
        elif intercept and _text_column(s):
            codes, levels = _sorted_codes(s)
            levels = tuple(str(v) for v in levels)
            hidden = [v for v in levels[1:] if v.startswith("__")]
            if hidden:
                raise DataError(
                    f"column {c!r} has the level {hidden[0]!r}: formulaic (the formula engine) "
                    f"drops the column of a level whose name starts with '__', which would merge "
                    f"its rows into the reference level {levels[0]!r}; rename the level"
                )
            D = np.zeros((n, max(len(levels) - 1, 0)))
            hit = codes > 0
            D[np.flatnonzero(hit), codes[hit] - 1] = 1.0
            keys.append((c, s.dtype, levels))
            blocks.append(D)
            out_names += [f"{c}[T.{v}]" for v in levels[1:]]
        else:
            return None
    X = np.empty((n, len(out_names)))
    j = 0
    if intercept:
        X[:, 0] = 1.0
        j = 1
    for B in blocks:
        X[:, j : j + B.shape[1]] = B
        j += B.shape[1]
    return X, out_names, tuple(keys)


@bounded_cache("design.simple_spec", 256)
def _simple_spec(expr: str, dtypes: tuple) -> Any:
    """formulaic's ModelSpec for a simple sum (it depends on the columns' dtypes and, for text
    columns, their levels only): built from a sample frame holding each level once."""
    size = max([1] + [len(lv) for _, _, lv in dtypes if lv is not None])
    sample = {}
    for c, dt, lv in dtypes:
        if lv is None:
            sample[c] = np.zeros(size, dtype=dt)
        else:
            sample[c] = pd.Series(list(lv) + [lv[-1]] * (size - len(lv)), dtype=dt)
    return model_matrix(expr, pd.DataFrame(sample), na_action="ignore").model_spec


class SimpleModelMatrix:
    """What build_design reads of a formulaic ModelMatrix (values, ``columns``, ``model_spec``)
    for the numpy-built matrix of a plain sum of numeric columns."""

    def __init__(self, values: np.ndarray, columns: list[str], expr: str, dtypes: tuple) -> None:
        self.values, self.columns = values, columns
        self._key = (expr, dtypes)

    @property
    def shape(self) -> tuple[int, int]:
        return self.values.shape

    @property
    def model_spec(self) -> Any:
        return _simple_spec(*self._key)

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        return self.values if dtype is None else self.values.astype(dtype, copy=bool(copy))


def _fixed_matrix(parsed: ParsedFormula, data: pd.DataFrame):
    simple = _simple_matrix(parsed.fixed, data)
    if simple is not None:
        return SimpleModelMatrix(simple[0], simple[1], parsed.fixed, simple[2])
    try:
        mm = model_matrix(parsed.fixed, frame_of(data), na_action="ignore")
    except Exception as exc:  # noqa: BLE001
        raise FormulaError(f"cannot build fixed effects from {parsed.fixed!r}: {one_line(exc)}"
                           ) from None
    return mm


def drop_rank_deficient(X: np.ndarray, names: list[str], tol: float = 1e-7
                        ) -> tuple[list[int], list[str]]:
    """Indices of a full-rank column subset, and the names of the dropped columns.

    As R's default QR (LINPACK ``dqrdc2``, used by lme4's ``chkRank.drop.cols``): columns are
    taken in order and one is dropped when its part orthogonal to the columns kept before it
    is below ``tol`` times its own norm, so of ``x`` and ``x2 = 2 * x`` it is ``x2`` that goes.
    """
    n, p = X.shape
    if p == 0:
        return [], []
    if n >= p:
        # Fast accept: Cholesky of the Gram matrix of unit columns gives R's diagonal over the
        # column norms with an absolute error of about p * eps in its square, so ratios above
        # 1e-3 are far from the 1e-7 cut; anything closer (or overflowing) goes to the QR.
        G = X.T @ X
        d = np.sqrt(np.diag(G))
        if np.all((d > 1e-100) & (d < 1e100)):  # no under- or overflow in the squares
            try:
                c = np.diag(np.linalg.cholesky(G / np.outer(d, d)))
            except np.linalg.LinAlgError:
                c = np.zeros(p)
            if np.all(c > 1e-3):
                return list(range(p)), []
    scale = np.max(np.abs(X), axis=0)
    scale[scale == 0] = 1.0
    Xs = X / scale  # the test is invariant to column scale; this avoids overflow
    norms = np.linalg.norm(Xs, axis=0)
    if n >= p:
        R = np.linalg.qr(Xs, mode="r")
        if np.all(np.abs(np.diag(R)) > tol * norms):
            return list(range(p)), []
    Q = np.empty((n, 0))
    keep: list[int] = []
    for j in range(p):
        if norms[j] == 0:
            continue
        r = Xs[:, j] - Q @ (Q.T @ Xs[:, j])
        r = r - Q @ (Q.T @ r)  # re-orthogonalise (classical Gram-Schmidt twice)
        nr = float(np.linalg.norm(r))
        if nr > tol * norms[j]:
            Q = np.column_stack([Q, r / nr])
            keep.append(j)
    kept = set(keep)
    dropped = [names[j] for j in range(p) if j not in kept]
    return keep, dropped


def group_codes(data: pd.DataFrame | Columns, group: str) -> tuple[np.ndarray, pd.Index]:
    """Integer codes and level labels of a grouping factor ``a`` or interaction ``a:b``."""
    codes, values, dtype = _group_codes(data, group)
    return codes, values if isinstance(values, pd.Index) else pd.Index(values, dtype=dtype)


def _group_codes(data: pd.DataFrame | Columns, group: str) -> tuple[np.ndarray, Any, Any]:
    """Codes, sorted level labels (an Index, or an array with the dtype its Index takes)."""
    parts = [v.strip() for v in group.split(":")]
    if len(parts) == 1:
        s = data[parts[0]]
        if isinstance(s.dtype, pd.CategoricalDtype):
            codes = s.cat.codes.to_numpy().astype(np.int64)
            levels = pd.Index(s.cat.categories)
            used = np.unique(codes)
            if len(used) < len(levels):  # drop unused levels, as lme4 does
                remap = -np.ones(len(levels), np.int64)
                remap[used] = np.arange(len(used))
                codes, levels = remap[codes], levels[used]
            return codes, levels, None
        if _text_column(s):
            codes, levels = _sorted_codes(s)
            return codes, levels, s.dtype
        try:
            codes, levels = pd.factorize(s, sort=True)
        except TypeError:  # unorderable mixed labels: fall back to their text
            codes, levels = pd.factorize(s.astype(str), sort=True)
        return codes.astype(np.int64), pd.Index(levels), None
    labels = data[parts[0]].astype(str)
    for v in parts[1:]:
        labels = labels + ":" + data[v].astype(str)
    codes, levels = pd.factorize(labels, sort=True)
    return codes.astype(np.int64), pd.Index(levels), None


def random_columns(spec: RandomTermSpec, data: pd.DataFrame) -> tuple[np.ndarray, list[str]]:
    """The raw Z columns of a term's left-hand expression (R's naming for the intercept)."""
    if spec.expr.replace(" ", "") in ("1", "1+0", "0+1"):  # the common case, without formulaic
        return np.ones((len(data), 1)), ["(Intercept)"]
    simple = _simple_matrix(spec.expr, data)
    if simple is not None:
        return simple[0], ["(Intercept)" if c == "Intercept" else c for c in simple[1]]
    try:
        mm = model_matrix(spec.expr, frame_of(data), na_action="ignore")
    except Exception as exc:  # noqa: BLE001
        raise FormulaError(f"cannot build random-effect term {spec}: {one_line(exc)}") from None
    names = ["(Intercept)" if c == "Intercept" else str(c) for c in mm.columns]
    if not names:
        raise FormulaError(f"random-effect term {spec} has no columns (nothing left of '|' "
                           f"once '0' or '- 1' removes the intercept)")
    return np.asarray(mm, dtype=float), names


def build_random_terms(parsed: ParsedFormula, data: pd.DataFrame,
                       columns: list[tuple[np.ndarray, list[str]]] | None = None
                       ) -> list[RandomTerm]:
    """One RandomTerm per spec; ``columns`` are the terms' Z columns when already built."""
    terms = []
    n = len(data)
    for i, spec in enumerate(parsed.random):
        codes, levels, dtype = _group_codes(data, spec.group)
        if len(levels) < 2:
            shown = f" ({plain_label(levels[0])!r})" if len(levels) else ""
            raise DataError(
                f"grouping factor {spec.group!r} in {spec} has {len(levels)} level{shown}; a "
                f"random effect needs at least 2 levels"
            )
        Z, names = random_columns(spec, data) if columns is None else columns[i]
        q = len(levels) * Z.shape[1]
        if q > n:
            raise DataError(
                f"number of observations ({n}) < number of random effects ({q} = {len(levels)} "
                f"levels x {Z.shape[1]} columns) for term {spec}; the random-effects parameters "
                f"are unidentifiable (lme4's check.nobs.vs.nRE)"
            )
        terms.append(RandomTerm(spec.group, names, codes, levels, Z, spec.correlated, spec.expr,
                                dtype))
    return terms


def _evaluate(parsed: ParsedFormula, data: pd.DataFrame, family: Any, rows: pd.Index):
    """Response, fixed matrix, formula offsets and random-term columns on ``data``."""
    y, trials, levels01 = read_response(parsed.response, data, family, rows)
    mm = _fixed_matrix(parsed, data)
    offsets = [(f"offset({e})", eval_numeric(e, data, "offset")) for e in parsed.offsets]
    zcols = [random_columns(spec, data) for spec in parsed.random]
    return y, trials, levels01, mm, offsets, zcols


def _nonfinite(parsed: ParsedFormula, parts, rows: pd.Index) -> np.ndarray:
    """Rows where a transform gave NaN (to drop); a DataError for infinite values."""
    y, trials, _, mm, offsets, zcols = parts
    X = np.asarray(mm, dtype=float)
    named = [(f"response {parsed.response.text!r}", y[:, None])]
    if trials is not None:
        named.append((f"trials of {parsed.response.text!r}", trials[:, None]))
    named.append((f"fixed-effects part {parsed.fixed!r}", X))
    named += [(o, v[:, None]) for o, v in offsets]
    named += [(f"random-effect term {spec}", Z) for spec, (Z, _) in zip(parsed.random, zcols)]
    nan = np.zeros(len(y), bool)
    for what, M in named:
        if M.shape[0] != len(y):
            raise DataError(f"{what} gives {M.shape[0]} rows but the data has {len(y)}; check "
                            f"the formula's transforms")
        if np.isfinite(M).all():
            continue  # the common case: one pass
        inf = np.isinf(M)
        if inf.any():
            i, j = (int(a[0]) for a in np.nonzero(inf))
            col = f", column {str(mm.columns[j])!r}," if M is X else ""
            raise DataError(f"{what}{col} is infinite ({M[i, j]}) at row {plain_label(rows[i])!r}; a "
                            f"transform such as log(0) or 1/0 produced it")
        nan |= np.isnan(M).any(axis=1)
    return nan


def build_design(parsed: ParsedFormula, data: pd.DataFrame, family, weights=None, offset=None
                 ) -> Design:
    """Validate the data against the formula and build the model's matrices."""
    _check_model_inputs(parsed, data)
    used, valued = _used_columns(parsed)
    rows = data.index
    if not (isinstance(rows, pd.RangeIndex) and rows.start == 0 and rows.step == 1):
        data = data.reset_index(drop=True)  # positions, not labels, from here on
    data = Columns(data)
    _check_columns(data, used, valued)
    arrays = {name: (None if arr is None else _as_vector(name, arr, data))
              for name, arr in (("weights", weights), ("offset", offset))}
    data, arrays, ndrop, rows = _drop_missing(data, used, arrays, rows)
    data, arrays, rows, parts, nnan = _drop_transform_nan(parsed, data, family, arrays, rows)
    ndrop += nnan
    y, trials, levels01, mm, offsets, zcols = parts
    wts = _prior_weights(parsed, arrays["weights"], trials, rows)
    _validate_response(parsed, family, y, wts, trials, ndrop)
    X, fe_names, keep, dropped = _fixed_columns(parsed, mm)
    off = np.zeros(len(data)) if arrays["offset"] is None else arrays["offset"].copy()
    for _, v in offsets:
        off += v
    terms = build_random_terms(parsed, data, zcols)
    pdesigns = {name: _param_design(name, rhs, data, rows) for name, rhs in parsed.params.items()}
    return Design(y=y, weights=wts, offset=off, X=X, fe_names=fe_names, terms=terms,
                  response_label=parsed.response.text, fixed_spec=mm.model_spec,
                  kept_columns=keep, parsed=parsed, nobs_dropped=ndrop,
                  dropped_columns=dropped, response_levels=levels01, param_designs=pdesigns)


def _check_model_inputs(parsed: ParsedFormula, data: Any) -> None:
    """A data frame with rows, and a formula with random effects."""
    if not isinstance(data, pd.DataFrame):
        raise DataError(f"data must be a pandas DataFrame, got {type(data).__name__}; convert it "
                        f"with pandas.DataFrame(...) and name the columns used in the formula")
    if not parsed.random:
        raise FormulaError(
            "the model has no random-effect terms; add '(1 | group)' to the formula or pass "
            "groups='column' (use a GLM library for models without random effects)"
        )
    if len(data) == 0:
        raise DataError("data has no rows")


def _drop_transform_nan(parsed: ParsedFormula, data: Columns, family, arrays: dict,
                        rows: pd.Index) -> tuple:
    """The evaluated formula parts, after dropping rows where a transform gives NaN (as R's
    na.omit); returns the data, arrays, row labels, parts and the number of rows dropped."""
    parts = _evaluate(parsed, data, family, rows)
    nan = _nonfinite(parsed, parts, rows)
    if not nan.any():
        return data, arrays, rows, parts, 0
    k = int(nan.sum())
    if k == len(data):
        raise DataError(f"no rows left: transforms in {parsed.text!r} give NaN on every row")
    warnings.warn(
        f"dropped {k} of {len(data)} rows where a transform in {parsed.text!r} gives NaN "
        f"(e.g. log of a negative number), as R's na.omit does",
        InterlaceWarning,
        stacklevel=4,
    )
    keep = ~nan
    data = Columns(frame_of(data).loc[keep].reset_index(drop=True))
    arrays = {k_: (None if v is None else v[keep]) for k_, v in arrays.items()}
    rows = rows[keep]
    parts = _evaluate(parsed, data, family, rows)
    _nonfinite(parsed, parts, rows)
    return data, arrays, rows, parts, k


def _prior_weights(parsed: ParsedFormula, w: np.ndarray | None, trials: np.ndarray | None,
                   rows: pd.Index) -> np.ndarray:
    """Prior weights times the trials of a successes / trials response."""
    if w is not None and np.any(w <= 0):
        i = int(np.flatnonzero(w <= 0)[0])
        raise DataError(f"weights must be positive; row {plain_label(rows[i])!r} has weight "
                        f"{message_number(w[i])!r} ({int(np.sum(w <= 0))} non-positive in all)")
    if parsed.response.kind == "ratio" and trials is not None and w is not None:
        if not np.allclose(w, trials):
            raise DataError(
                f"response {parsed.response.text!r} already gives the trials "
                f"({parsed.response.exprs[1]!r}); weights= must equal them or be omitted"
            )
        w = None
    n = len(rows)
    prior = np.ones(n) if w is None else w
    return prior * trials if trials is not None else prior


def _validate_response(parsed: ParsedFormula, family, y: np.ndarray, wts: np.ndarray,
                       trials: np.ndarray | None, ndrop: int) -> None:
    """The family's check of y, its message completed with how the response was read."""
    try:
        family.validate(y, wts, parsed.response.text)
    except DataError as exc:
        notes = []
        if parsed.response.kind == "ratio" and trials is None:
            notes.append(f"'{parsed.response.text}' is a division for family {family.name!r}; it "
                         f"is a proportion of trials only for families that read successes / "
                         f"trials, such as family='binomial'")
        if trials is not None:
            notes.append("a 's / n' or cbind(s, f) response is a proportion of trials, for "
                         "binomial-type families")
        if ndrop:
            notes.append(f"row numbers count rows after dropping {ndrop} with missing values")
        if notes:
            raise DataError(f"{exc} ({'; '.join(notes)})") from None
        raise


def _fixed_columns(parsed: ParsedFormula, mm: Any) -> tuple:
    """X without rank-deficient columns (dropped with a warning, as lme4 does), its names, the
    kept and the dropped columns."""
    fe_all = ["(Intercept)" if c == "Intercept" else str(c) for c in mm.columns]
    Xall = np.asarray(mm, dtype=float)
    keep, dropped = drop_rank_deficient(Xall, fe_all)
    if dropped:
        warnings.warn(
            f"fixed-effect model matrix is rank deficient so dropping {len(dropped)} "
            f"column(s): {', '.join(dropped)}",
            InterlaceWarning,
            stacklevel=4,
        )
    if not keep:
        raise UnsupportedModelError(
            f"the fixed-effects part {parsed.fixed!r} gives no usable column "
            f"({'all are zero' if Xall.shape[1] else 'e.g. 0 + or - 1 with no other fixed term'}"
            f"); interlace needs at least one fixed effect - keep the intercept"
        )
    X = np.ascontiguousarray(Xall[:, keep])
    return X, [fe_all[j] for j in keep], keep, dropped


def _param_design(name: str, rhs: str, data: pd.DataFrame, rows: pd.Index) -> ParamDesign:
    """The model matrix of a family parameter's formula, full rank, finite."""
    where = f"formula '~ {rhs}' of family parameter {name!r}"
    try:
        mm = model_matrix(rhs, frame_of(data), na_action="ignore")
    except Exception as exc:  # noqa: BLE001 - formulaic raises many types
        raise FormulaError(f"cannot build the {where}: {one_line(exc)}") from None
    names = ["(Intercept)" if c == "Intercept" else str(c) for c in mm.columns]
    M = np.asarray(mm, dtype=float)
    bad = ~np.isfinite(M)
    if bad.any():
        i, j = np.argwhere(bad)[0]
        raise DataError(f"the {where} gives a non-finite value ({M[i, j]}) in column "
                        f"{names[j]!r} at row {plain_label(rows[i])!r}")
    keep, dropped = drop_rank_deficient(M, names)
    if dropped:
        warnings.warn(f"the {where} is rank deficient so dropping {len(dropped)} column(s): "
                      f"{', '.join(dropped)}", InterlaceWarning, stacklevel=4)
    if not keep:
        raise UnsupportedModelError(f"the {where} gives no usable column")
    return ParamDesign(name, rhs, np.ascontiguousarray(M[:, keep]), [names[j] for j in keep],
                       mm.model_spec, keep)
