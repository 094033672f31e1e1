"""Random-effect terms: the raw Z block of one ``(expr | group)`` and its covariance factor.

Each term keeps its grouping codes (one integer per row), its raw model columns (n x k) and
the map from its slice of theta to the lower-triangular relative covariance factor Lambda_t
(lme4's parametrisation: b = Lambda u, u ~ N(0, I); theta is Lambda's lower triangle by
column, only the diagonal for uncorrelated ``||`` terms).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from interlace.caches import bounded_cache


@bounded_cache("terms.tri_positions", 64)
def tri_positions(k: int, correlated: bool) -> tuple[np.ndarray, np.ndarray]:
    """(rows, cols) of theta's entries in Lambda: the lower triangle by column (col j, row
    i >= j), or the diagonal for an uncorrelated term; read-only, shared by all terms of size k."""
    if correlated:
        cols, rows = np.triu_indices(k)
    else:
        rows = cols = np.arange(k)
    rows.flags.writeable = False
    cols.flags.writeable = False
    return rows, cols


#: Trial values of a relative SD held at its zero bound (the optimizers probe off the bound,
#: where the deviance is stationary in theta and a gradient method can stall).
ZERO_BOUND_PROBES = (0.05, 0.2, 0.5, 1.0)


def zero_bound_probes(terms: list[RandomTerm]) -> list[tuple[float, ...]]:
    """Per entry of theta (terms in order), the values to try when it sits at 0: the fixed
    ones, and the same in the entry's own unit (:meth:`RandomTerm.theta_units`) when that
    differs tenfold, so that a slope on Days * 1000 is probed near its own scale."""
    out: list[tuple[float, ...]] = []
    for t in terms:
        for unit in t.theta_units():
            scaled = 0.1 <= unit <= 10.0
            out.append(ZERO_BOUND_PROBES if scaled else
                       ZERO_BOUND_PROBES + tuple(v * unit for v in ZERO_BOUND_PROBES))
    return out


@dataclass
class RandomTerm:
    """One random-effect term with its data, ready for the penalised system."""

    group: str  # name of the grouping factor, e.g. "herd" or "LOCATION:BROOD"
    columns: list[str]  # names of Z's columns, e.g. ["(Intercept)", "x"]
    codes: np.ndarray  # (n,) int level index of each row
    level_values: Any  # sorted level labels (array or pandas Index); codes index into them
    Z: np.ndarray  # (n, k) raw model columns
    correlated: bool
    expr: str = "1"
    level_dtype: Any = None  # dtype of ``levels`` when level_values is a plain array

    @cached_property
    def levels(self) -> pd.Index:
        """The level labels as a pandas Index, built on first use (results, predictions):
        making a text Index costs as much as finding the levels."""
        if isinstance(self.level_values, pd.Index):
            return self.level_values
        return pd.Index(self.level_values, dtype=self.level_dtype)

    def __post_init__(self) -> None:
        k = self.k
        self.tri_rows, self.tri_cols = tri_positions(k, self.correlated)
        if k == 1:
            self.ucols = self.codes  # index into u_t
        else:
            self.ucols = (self.codes[:, None] * k + np.arange(k)).ravel()

    @property
    def k(self) -> int:
        return self.Z.shape[1]

    @property
    def nlevels(self) -> int:
        return len(self.level_values)

    @property
    def q(self) -> int:
        return self.nlevels * self.k

    @property
    def ntheta(self) -> int:
        return len(self.tri_rows)

    @property
    def label(self) -> str:
        return f"({self.expr} {'|' if self.correlated else '||'} {self.group})"

    def theta_lower_bounds(self) -> np.ndarray:
        """0 on Lambda's diagonal, -inf off it (lme4's bounds)."""
        return np.where(self.tri_rows == self.tri_cols, 0.0, -np.inf)

    def column_rms(self) -> np.ndarray:
        """The root mean square of each Z column (1 for an intercept): the columns' scales."""
        return np.sqrt(np.einsum("ij,ij->j", self.Z, self.Z) / max(self.Z.shape[0], 1))

    def theta_units(self) -> np.ndarray:
        """Per entry of theta, the natural unit of its row of Lambda: 1 / its Z column's root
        mean square, so that a unit changes Z b by about as much for every entry."""
        rms = self.column_rms()
        return (1.0 / np.where(rms > 0, rms, 1.0))[self.tri_rows]

    def theta_start(self) -> np.ndarray:
        """lme4's start: identity factor."""
        return np.where(self.tri_rows == self.tri_cols, 1.0, 0.0)

    def theta_names(self) -> list[str]:
        out = []
        for r, c in zip(self.tri_rows, self.tri_cols):
            out.append(f"{self.group}.{self.columns[c]}" if r == c
                       else f"{self.group}.{self.columns[r]}.{self.columns[c]}")
        return out

    def Lambda(self, theta_t: np.ndarray) -> np.ndarray:
        """The k x k lower-triangular factor for this term's slice of theta."""
        L = np.zeros((self.k, self.k))
        L[self.tri_rows, self.tri_cols] = theta_t
        return L

    def ZLambda(self, theta_t: np.ndarray) -> np.ndarray:
        """Rows of Z Lambda_t (n x k)."""
        if self.k == 1:
            return self.Z * float(theta_t[0])
        return self.Z @ self.Lambda(theta_t)

    def covariance(self, theta_t: np.ndarray, scale: float = 1.0) -> np.ndarray:
        """Covariance of b for one level: scale * Lambda Lambda'."""
        L = self.Lambda(theta_t)
        return scale * (L @ L.T)
