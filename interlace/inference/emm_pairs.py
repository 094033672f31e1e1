"""Pairwise comparisons of marginal means and their multiplicity adjustments, as emmeans'
``pairs()``: Tukey (studentized range), Holm, Bonferroni or none, within each ``by`` group."""

from __future__ import annotations

import numpy as np
from scipy import stats

from interlace.errors import InterlaceError

ADJUSTMENTS = ("tukey", "holm", "bonferroni", "none")


def check_adjust(adjust: str) -> str:
    """The adjustment's name, checked."""
    key = str(adjust).lower()
    if key not in ADJUSTMENTS:
        raise InterlaceError(f"adjust must be one of {ADJUSTMENTS}, got {adjust!r}")
    return key


def pair_indices(k: int) -> list[tuple[int, int]]:
    """(i, j), i < j, in emmeans' order: 1-2, 1-3, ..., 2-3, ..."""
    return [(i, j) for i in range(k) for j in range(i + 1, k)]


def raw_pvalues(t: np.ndarray, df: np.ndarray) -> np.ndarray:
    """Two-sided p-values of t ratios (normal where df is infinite)."""
    return 2 * stats.t.sf(np.abs(t), df)


def adjusted_pvalues(t: np.ndarray, df: np.ndarray, adjust: str, nmeans: int) -> np.ndarray:
    """p-values of one family of pairwise t ratios under ``adjust`` (Tukey: the studentized
    range of ``nmeans`` means, P(Q > |t| sqrt 2); Holm: step-down; Bonferroni: times m)."""
    adjust = check_adjust(adjust)
    t, df = np.asarray(t, float), np.asarray(df, float)
    if adjust == "tukey":
        if nmeans < 2:
            return np.full(t.shape, np.nan)
        q = np.abs(t) * np.sqrt(2.0)
        return np.array([float(stats.studentized_range.sf(qi, nmeans, di))
                         for qi, di in zip(q, df)])
    p = raw_pvalues(t, df)
    m = p.size
    if adjust == "none" or m == 0:
        return p
    if adjust == "bonferroni":
        return np.minimum(1.0, p * m)
    order = np.argsort(p)
    stepped = np.maximum.accumulate(np.minimum(1.0, (m - np.arange(m)) * p[order]))
    out = np.empty(m)
    out[order] = stepped
    return out
