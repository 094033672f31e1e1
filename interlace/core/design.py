"""Build the model's matrices from a parsed formula and a data frame.

Produces the response, prior weights (binomial trials folded in), offset, the dense
fixed-effects matrix X (rank-deficient columns dropped with a warning, as lme4 does) and one
:class:`~interlace.core.terms.RandomTerm` per random-effect term. Rows with missing values in
any used column are dropped with a warning (R's ``na.omit``); infinite values are an error.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd
from formulaic import Formula, model_matrix

from interlace.core.errors import DataError, FormulaError, InterlaceWarning
from interlace.core.formula import ParsedFormula, RandomTermSpec
from interlace.core.terms import RandomTerm


@dataclass
class Design:
    """Everything the objective needs, independent of parameter values."""

    y: np.ndarray
    weights: np.ndarray  # prior weights x binomial trials
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

    @property
    def n(self) -> int:
        return self.y.shape[0]

    @property
    def p(self) -> int:
        return self.X.shape[1]


@lru_cache(maxsize=512)
def _required_cached(expr: str) -> frozenset[str]:
    return frozenset(Formula(expr).required_variables)


def _required_columns(expr: str, where: str) -> set[str]:
    try:
        return set(_required_cached(expr))
    except Exception as exc:  # noqa: BLE001 - formulaic raises many types
        raise FormulaError(f"cannot parse {where} {expr!r}: {exc}") from None


def _used_columns(parsed: ParsedFormula) -> dict[str, str]:
    """Map each used column to the formula part that uses it (for error messages)."""
    used: dict[str, str] = {}
    r = parsed.response
    for e in r.exprs:
        for v in _required_columns(f"I({e}) ~ 1", "response"):
            used.setdefault(v, f"response {r.text!r}")
    for v in _required_columns(parsed.fixed, "fixed-effects part"):
        used.setdefault(v, f"fixed-effects term in {parsed.fixed!r}")
    for off in parsed.offsets:
        for v in _required_columns(f"I({off})", "offset"):
            used.setdefault(v, f"offset({off})")
    for spec in parsed.random:
        for v in _required_columns(spec.expr, "random-effect term"):
            used.setdefault(v, f"random-effect term {spec}")
        for v in spec.group_vars:
            used.setdefault(v, f"grouping factor of {spec}")
    return used


def _check_columns(data: pd.DataFrame, used: dict[str, str]) -> None:
    missing = [c for c in used if c not in data.columns]
    if missing:
        avail = ", ".join(map(str, list(data.columns)[:30]))
        raise DataError(
            "; ".join(f"column {c!r} (used in {used[c]}) is not in the data" for c in missing)
            + f". Available columns: {avail}"
        )


def _drop_missing(data: pd.DataFrame, used: dict[str, str], arrays: dict[str, np.ndarray | None]
                  ) -> tuple[pd.DataFrame, dict[str, np.ndarray | None], int]:
    cols = list(used)
    frame = data[cols]
    bad = frame.isna().any(axis=1).to_numpy().copy()
    for arr in arrays.values():
        if arr is not None:
            bad |= np.isnan(arr)
    for c in cols:
        s = frame[c]
        if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
            vals = s.to_numpy(dtype=float, na_value=np.nan)
            if np.isinf(vals).any():
                i = int(np.flatnonzero(np.isinf(vals))[0])
                raise DataError(f"column {c!r} (used in {used[c]}) has an infinite value at row {i}")
    for name, arr in arrays.items():
        if arr is not None and np.isinf(arr).any():
            raise DataError(f"{name} has infinite values")
    ndrop = int(bad.sum())
    if ndrop:
        cols_na = [c for c in cols if frame[c].isna().any()]
        warnings.warn(
            f"dropped {ndrop} of {len(data)} rows with missing values "
            f"(in {', '.join(cols_na) or 'weights/offset'}), as R's na.omit does",
            InterlaceWarning,
            stacklevel=4,
        )
        keep = ~bad
        data = data.loc[keep].reset_index(drop=True)
        arrays = {k: (None if v is None else v[keep]) for k, v in arrays.items()}
    if len(data) == 0:
        raise DataError("no rows left after dropping rows with missing values")
    return data, arrays, ndrop


def _eval_numeric(expr: str, data: pd.DataFrame, what: str) -> np.ndarray:
    """Evaluate a column name or a formulaic expression to one numeric column."""
    if expr in data.columns:
        s = data[expr]
        if pd.api.types.is_bool_dtype(s):
            return s.to_numpy(dtype=float)
        if not pd.api.types.is_numeric_dtype(s):
            raise DataError(f"{what} column {expr!r} must be numeric, got dtype {s.dtype}")
        return s.to_numpy(dtype=float)
    try:
        mm = model_matrix(f"0 + I({expr})", data, na_action="ignore")
    except Exception as exc:  # noqa: BLE001
        raise FormulaError(f"cannot evaluate {what} {expr!r}: {exc}") from None
    if mm.shape[1] != 1:
        raise DataError(f"{what} {expr!r} must give one numeric column, got {mm.shape[1]}")
    return np.asarray(mm, dtype=float)[:, 0]


def _response(parsed: ParsedFormula, data: pd.DataFrame, family_name: str
              ) -> tuple[np.ndarray, np.ndarray | None, list | None]:
    """(y, trials or None, two-level labels or None)."""
    r = parsed.response
    if r.kind == "cbind":
        s = _eval_numeric(r.exprs[0], data, "cbind() successes")
        f = _eval_numeric(r.exprs[1], data, "cbind() failures")
        if np.any(s < 0) or np.any(f < 0):
            raise DataError(f"cbind({r.exprs[0]}, {r.exprs[1]}) has negative counts")
        n = s + f
        if np.any(n <= 0):
            i = int(np.flatnonzero(n <= 0)[0])
            raise DataError(f"cbind({r.exprs[0]}, {r.exprs[1]}) has zero trials at row {i}")
        return s / n, n, None
    if r.kind == "ratio":
        s = _eval_numeric(r.exprs[0], data, "successes")
        n = _eval_numeric(r.exprs[1], data, "trials")
        if np.any(n <= 0):
            i = int(np.flatnonzero(n <= 0)[0])
            raise DataError(f"trials column {r.exprs[1]!r} must be positive; row {i} has {n[i]!r}")
        if np.any(s > n):
            i = int(np.flatnonzero(s > n)[0])
            raise DataError(
                f"successes {r.exprs[0]!r} exceed trials {r.exprs[1]!r} at row {i} "
                f"({s[i]!r} > {n[i]!r})"
            )
        return s / n, n, None
    expr = r.exprs[0]
    if expr in data.columns:
        s = data[expr]
        if not pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s):
            if isinstance(s.dtype, pd.CategoricalDtype):
                levels = list(s.cat.categories)
            else:
                levels = sorted(pd.unique(s.astype(str)))
                s = s.astype(str)
            if family_name != "binomial" or len(levels) != 2:
                raise DataError(
                    f"response {expr!r} is not numeric (levels: {levels[:5]}); a text or "
                    f"categorical response needs family='binomial' and exactly two levels"
                )
            y = (s == levels[1]).to_numpy(dtype=float)
            return y, None, levels
    return _eval_numeric(expr, data, "response"), None, None


def _fixed_matrix(parsed: ParsedFormula, data: pd.DataFrame):
    try:
        mm = model_matrix(parsed.fixed, data, na_action="ignore")
    except Exception as exc:  # noqa: BLE001
        raise FormulaError(f"cannot build fixed effects from {parsed.fixed!r}: {exc}") from None
    return mm


def drop_rank_deficient(X: np.ndarray, names: list[str]) -> tuple[list[int], list[str]]:
    """Indices of a full-rank column subset (pivoted QR, lme4's tolerance 1e-7), and dropped."""
    from scipy.linalg import qr

    if X.shape[1] == 0:
        return [], []
    _, R, piv = qr(X, mode="economic", pivoting=True)
    d = np.abs(np.diag(R))
    rank = int(np.sum(d > 1e-7 * d[0])) if d.size and d[0] > 0 else 0
    keep = sorted(piv[:rank].tolist())
    dropped = [names[j] for j in range(X.shape[1]) if j not in set(keep)]
    return keep, dropped


def group_codes(data: pd.DataFrame, group: str) -> tuple[np.ndarray, pd.Index]:
    """Integer codes and level labels of a grouping factor ``a`` or interaction ``a:b``."""
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
            return codes, levels
        codes, levels = pd.factorize(s, sort=True)
        return codes.astype(np.int64), pd.Index(levels)
    labels = data[parts[0]].astype(str)
    for v in parts[1:]:
        labels = labels + ":" + data[v].astype(str)
    codes, levels = pd.factorize(labels, sort=True)
    return codes.astype(np.int64), pd.Index(levels)


def random_columns(spec: RandomTermSpec, data: pd.DataFrame) -> tuple[np.ndarray, list[str]]:
    """The raw Z columns of a term's left-hand expression (R's naming for the intercept)."""
    if spec.expr.replace(" ", "") in ("1", "1+0", "0+1"):  # the common case, without formulaic
        return np.ones((len(data), 1)), ["(Intercept)"]
    try:
        mm = model_matrix(spec.expr, data, na_action="ignore")
    except Exception as exc:  # noqa: BLE001
        raise FormulaError(f"cannot build random-effect term {spec}: {exc}") from None
    names = ["(Intercept)" if c == "Intercept" else str(c) for c in mm.columns]
    if not names:
        raise FormulaError(f"random-effect term {spec} has no columns")
    return np.asarray(mm, dtype=float), names


def build_random_terms(parsed: ParsedFormula, data: pd.DataFrame) -> list[RandomTerm]:
    terms = []
    for spec in parsed.random:
        codes, levels = group_codes(data, spec.group)
        if len(levels) < 2:
            raise DataError(
                f"grouping factor {spec.group!r} in {spec} has {len(levels)} level; a random "
                f"effect needs at least 2 levels"
            )
        Z, names = random_columns(spec, data)
        terms.append(RandomTerm(spec.group, names, codes, levels, Z, spec.correlated, spec.expr))
    return terms


def build_design(parsed: ParsedFormula, data: pd.DataFrame, family, weights=None, offset=None
                 ) -> Design:
    """Validate the data against the formula and build the model's matrices."""
    if not isinstance(data, pd.DataFrame):
        raise DataError(f"data must be a pandas DataFrame, got {type(data).__name__}")
    if not parsed.random:
        raise FormulaError(
            "the model has no random-effect terms; add '(1 | group)' to the formula or pass "
            "groups='column' (use a GLM library for models without random effects)"
        )
    used = _used_columns(parsed)
    _check_columns(data, used)
    n0 = len(data)
    arrays = {}
    for name, arr in (("weights", weights), ("offset", offset)):
        if arr is None:
            arrays[name] = None
            continue
        if isinstance(arr, str):
            if arr not in data.columns:
                raise DataError(f"{name}={arr!r} is not a column of the data")
            arr = data[arr].to_numpy()
        a = np.asarray(arr, dtype=float).ravel()
        if a.shape[0] != n0:
            raise DataError(f"{name} has length {a.shape[0]} but the data has {n0} rows")
        arrays[name] = a
    data, arrays, ndrop = _drop_missing(data.reset_index(drop=True), used, arrays)
    n = len(data)

    y, trials, levels01 = _response(parsed, data, family.name)
    w = arrays["weights"]
    if w is not None and np.any(w <= 0):
        i = int(np.flatnonzero(w <= 0)[0])
        raise DataError(f"weights must be positive; row {i} has weight {w[i]!r}")
    if parsed.response.kind == "ratio" and w is not None:
        if not np.allclose(w, trials):
            raise DataError(
                f"response {parsed.response.text!r} already gives the trials "
                f"({parsed.response.exprs[1]!r}); weights= must equal them or be omitted"
            )
        w = None
    prior = np.ones(n) if w is None else w
    wts = prior * trials if trials is not None else prior
    family.validate(y, wts, parsed.response.text)

    mm = _fixed_matrix(parsed, data)
    fe_all = ["(Intercept)" if c == "Intercept" else str(c) for c in mm.columns]
    Xall = np.asarray(mm, dtype=float)
    if Xall.shape[0] != n:
        raise DataError("the fixed-effects matrix lost rows; check the formula's transforms")
    keep, dropped = drop_rank_deficient(Xall, fe_all)
    if dropped:
        warnings.warn(
            f"fixed-effect model matrix is rank deficient so dropping {len(dropped)} "
            f"column(s): {', '.join(dropped)}",
            InterlaceWarning,
            stacklevel=3,
        )
    X = np.ascontiguousarray(Xall[:, keep])
    fe_names = [fe_all[j] for j in keep]

    off = np.zeros(n) if arrays["offset"] is None else arrays["offset"].copy()
    for expr in parsed.offsets:
        off += _eval_numeric(expr, data, "offset")

    terms = build_random_terms(parsed, data)
    return Design(y=y, weights=wts, offset=off, X=X, fe_names=fe_names, terms=terms,
                  response_label=parsed.response.text, fixed_spec=mm.model_spec,
                  kept_columns=keep, parsed=parsed, nobs_dropped=ndrop,
                  dropped_columns=dropped, response_levels=levels01)
