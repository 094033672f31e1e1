"""The fixed-effects matrix X of a parsed formula on the data.

A plain sum of columns (``y ~ a + b``, text columns in treatment coding) is built with numpy,
with formulaic's column names and (on demand) its ModelSpec; anything else goes to formulaic
(random-effect terms' left-hand sides take the same fast path). Rank-deficient columns are
dropped with a warning by the rule of R's QR, as lme4 does.
"""

from __future__ import annotations

import keyword
import re
import warnings
from typing import Any

import numpy as np
import pandas as pd
from formulaic import model_matrix

from interlace.caches import bounded_cache
from interlace.errors import DataError, FormulaError, InterlaceWarning, UnsupportedModelError
from interlace.model.columns import sorted_codes, text_column
from interlace.model.formula import ParsedFormula
from interlace.model.response import float_column, frame_of, one_line

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_MINUS_ONE = re.compile(r"\s*-\s*1\s*$")
_QUOTED = re.compile(r"^`[A-Za-z_.][A-Za-z0-9_.]*`$")


@bounded_cache("fixed.simple_terms", 512)
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
        if _QUOTED.match(t):  # a backtick-quoted column name (R's `total.fruits`)
            t = t[1:-1]
        elif not _IDENT.match(t) or keyword.iskeyword(t):
            return None
        if t not in names:
            names.append(t)
    if not names and not intercept:
        return None
    return intercept, tuple(names)


def factor_codes(name: str, s: pd.Series) -> tuple[np.ndarray, tuple]:
    """Treatment-coding codes of a text column (levels sorted) or a categorical (its categories
    in their order, unused ones included, as formulaic codes them); -1 for a missing value."""
    if isinstance(s.dtype, pd.CategoricalDtype):
        # the Categorical's own codes: the .cat accessor costs 30 us a call
        codes, levels = np.asarray(s.array.codes, dtype=np.int64), tuple(s.dtype.categories)
    else:
        codes, lv = sorted_codes(s)
        levels = tuple(str(v) for v in lv)
    hidden = [v for v in levels[1:] if str(v).startswith("__")]
    if hidden:
        raise DataError(
            f"column {name!r} has the level {hidden[0]!r}: formulaic (the formula engine) "
            f"drops the column of a level whose name starts with '__', which would merge "
            f"its rows into the reference level {levels[0]!r}; rename the level"
        )
    return codes, levels


def simple_matrix(expr: str, data: pd.DataFrame) -> tuple[np.ndarray, list[str], tuple] | None:
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
        elif intercept and (text_column(s) or isinstance(s.dtype, pd.CategoricalDtype)):
            codes, levels = factor_codes(c, s)
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


@bounded_cache("fixed.simple_spec", 256)
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

    @property
    def text_levels(self) -> dict[str, tuple]:
        """The sorted levels of each text column, as coded (recorded for predictions)."""
        return {c: lv for c, _, lv in self._key[1] if lv is not None}

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        return self.values if dtype is None else self.values.astype(dtype, copy=bool(copy))


def fixed_matrix(parsed: ParsedFormula, data: pd.DataFrame):
    """The formula's fixed-effects model matrix on ``data``, all columns (numpy for a plain sum)."""
    simple = simple_matrix(parsed.fixed, data)
    if simple is not None:
        return SimpleModelMatrix(simple[0], simple[1], parsed.fixed, simple[2])
    try:
        mm = model_matrix(parsed.fixed, frame_of(data), na_action="ignore")
    except Exception as exc:  # noqa: BLE001
        raise FormulaError(f"cannot build fixed effects from {parsed.fixed!r}: {one_line(exc)}"
                           ) from None
    return mm


def fixed_columns(parsed: ParsedFormula, mm: Any, rank_check: bool = True) -> tuple:
    """X without rank-deficient columns (dropped with a warning, as lme4 does), its names, the
    kept and the dropped columns (``rank_check=False``: every column, for a chunk of rows)."""
    fe_all = ["(Intercept)" if c == "Intercept" else str(c) for c in mm.columns]
    Xall = np.asarray(mm, dtype=float)
    keep, dropped = (drop_rank_deficient(Xall, fe_all) if rank_check
                     else (list(range(Xall.shape[1])), []))
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
