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
