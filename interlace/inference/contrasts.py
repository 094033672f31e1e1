"""Hypothesis matrices of Type I, II and III tests of the fixed-effect terms, as lmerTest.

Each term of the fixed formula gets a matrix L (rows: linear functions of beta) whose test
L beta = 0 is the term's hypothesis. Type I is sequential (rows of the Cholesky factor of
X'X), Type II tests each term adjusted for every term that does not contain it, and Type III
tests the term's coefficients in the sum-to-zero (``contr.sum``) parametrisation, whatever
coding the formula used: lmerTest's Type III hypotheses, which do not depend on the coding.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import pandas as pd

from interlace.errors import InterlaceError

MAX_GRID = 200_000


@dataclass(frozen=True)
class FixedTerm:
    """A term of the fixed formula: its label (``A:B``), the variables it multiplies and the
    positions of its columns in X."""

    label: str
    factors: tuple[str, ...]
    columns: tuple[int, ...]


def fixed_terms(design) -> list[FixedTerm]:
    """The fixed formula's terms (the intercept left out), with their columns in X."""
    spec = design.fixed_spec
    position = {full: i for i, full in enumerate(design.kept_columns)}
    out, start = [], 0
    for st in spec.structure:
        width = len(st.columns)
        cols = tuple(position[j] for j in range(start, start + width) if j in position)
        start += width
        factors = tuple(str(f.expr) for f in st.term.factors if str(f.expr) != "1")
        if not factors or not cols:
            continue
        out.append(FixedTerm(":".join(factors), factors, cols))
    return out


def _contains(big: FixedTerm, small: FixedTerm) -> bool:
    return big is not small and set(small.factors) <= set(big.factors)


def _coefficient_rows(t: FixedTerm, p: int) -> np.ndarray:
    """L picking the term's own coefficients: lmerTest's hypothesis for a term that no other
    term contains (any basis of it tests the same, but Satterthwaite's F df depend on it)."""
    return np.eye(p)[list(t.columns)]


def _is_marginal(t: FixedTerm, terms: list[FixedTerm]) -> bool:
    return not any(_contains(o, t) for o in terms)


def type1_contrasts(X: np.ndarray, terms: list[FixedTerm]) -> dict[str, np.ndarray]:
    """Sequential hypotheses: the rows of R (X = QR) belonging to each term's columns,
    scaled to a unit diagonal (the Doolittle factor of X'X that lmerTest uses)."""
    R = np.linalg.qr(X, mode="r")
    R = R / np.diag(R)[:, None]
    return {t.label: R[list(t.columns), :] for t in terms}


def type2_contrasts(X: np.ndarray, terms: list[FixedTerm]) -> dict[str, np.ndarray]:
    """Each term adjusted for all terms that do not contain it: L = X1'(I - P0) X."""
    out = {}
    p = X.shape[1]
    for t in terms:
        if _is_marginal(t, terms):
            out[t.label] = _coefficient_rows(t, p)
            continue
        inside = {c for o in terms if _contains(o, t) for c in o.columns}
        others = [j for j in range(p) if j not in inside and j not in t.columns]
        X1 = X[:, list(t.columns)]
        if others:
            X0 = X[:, others]
            coef = np.linalg.lstsq(X0, X1, rcond=None)[0]
            X1 = X1 - X0 @ coef
        out[t.label] = X1.T @ X
    return out


def _encoder_levels(spec, name: str) -> list | None:
    """The levels formulaic coded the categorical variable ``name`` with (None: numeric)."""
    state = spec.encoder_state.get(name)
    if state is None or getattr(state[0], "value", state[0]) != "categorical":
        return None
    return list(state[1]["categories"])


def design_grid(design, numeric_values=(0.5, 1.0, 2.0)) -> pd.DataFrame:
    """Every combination of the categorical variables' levels and a few numeric values: rows
    on which two codings of the same fixed formula can be compared."""
    spec = design.fixed_spec
    axes = {}
    for name in spec.encoder_state:
        levels = _encoder_levels(spec, name)
        axes[name] = levels if levels is not None else list(numeric_values)
    size = int(np.prod([len(v) for v in axes.values()])) if axes else 1
    if size > MAX_GRID:
        raise InterlaceError(f"the fixed formula's variables give a grid of {size} rows, more "
                             f"than {MAX_GRID}: Type III contrasts are not available here")
    return pd.DataFrame(list(itertools.product(*axes.values())), columns=list(axes))


def grid_matrix(design, grid: pd.DataFrame) -> np.ndarray:
    """The fitted fixed-effects matrix (its kept columns) evaluated on the rows of ``grid``."""
    mm = design.fixed_spec.get_model_matrix(grid, na_action="ignore")
    return np.asarray(mm, dtype=float)[:, design.kept_columns]


def _sum_columns(design, grid: pd.DataFrame, Xg: np.ndarray, term: FixedTerm) -> np.ndarray:
    spec = design.fixed_spec
    names = design.fe_names
    block = np.ones((len(grid), 1))
    for f in term.factors:
        levels = _encoder_levels(spec, f)
        if levels is not None:
            ind = (grid[f].to_numpy()[:, None] == np.asarray(levels, dtype=object)[None, :])
            part = ind[:, :-1].astype(float) - ind[:, [-1]].astype(float)
        elif f in names:
            part = Xg[:, [names.index(f)]]
        else:
            raise InterlaceError(f"Type III contrasts need the numeric variable {f!r} of term "
                                 f"{term.label!r} as a column of its own; use type=2")
        block = (block[:, :, None] * part[:, None, :]).reshape(len(grid), -1)
    if block.shape[1] != len(term.columns):
        raise InterlaceError(f"term {term.label!r} has {len(term.columns)} column(s) but "
                             f"{block.shape[1]} in the sum-to-zero coding (a term whose "
                             f"marginal terms are missing): use type=2")
    return block


def type3_contrasts(design, terms: list[FixedTerm]) -> dict[str, np.ndarray]:
    """lmerTest's Type III hypotheses: each term's coefficients under contr.sum coding,
    mapped back to the fitted coding's beta (X_sum = X T, so beta_sum = T^-1 beta)."""
    grid = design_grid(design)
    Xg = grid_matrix(design, grid)
    p = Xg.shape[1]
    intercept = [j for j in range(p) if all(j not in t.columns for t in terms)]
    Xs = np.empty_like(Xg)
    Xs[:, intercept] = Xg[:, intercept]
    for t in terms:
        Xs[:, list(t.columns)] = _sum_columns(design, grid, Xg, t)
    T, _, rank, _ = np.linalg.lstsq(Xg, Xs, rcond=None)
    if rank < p or np.max(np.abs(Xg @ T - Xs)) > 1e-8 * max(1.0, np.max(np.abs(Xs))):
        raise InterlaceError("the fixed formula's sum-to-zero coding spans another space than "
                             "its own coding: Type III contrasts are not available, use type=2")
    Tinv = np.linalg.inv(T)
    return {t.label: _coefficient_rows(t, p) if _is_marginal(t, terms)
            else Tinv[list(t.columns), :] for t in terms}
