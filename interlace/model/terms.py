"""Random-effect terms: the raw Z block of one ``(expr | group)`` and its covariance factor.

Each term keeps its grouping codes (one integer per row), its raw model columns (n x k) and
the map from its slice of theta to the lower-triangular relative covariance factor Lambda_t
(lme4's parametrisation: b = Lambda u, u ~ N(0, I)). The map is the term's covariance
structure, a plugin (:mod:`interlace.covariance.base`): by default the registry's ``|`` and
``||`` structures, whose theta is Lambda's lower triangle by column, or only its diagonal.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from interlace.covariance import CovarianceStructure, default_structure
from interlace.covariance.base import tri_positions
from interlace.registry import resolve

__all__ = ["RandomTerm", "ZERO_BOUND_PROBES", "tri_positions", "zero_bound_probes"]


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
    structure: CovarianceStructure | None = None  # None: the registry's default for the bar
    structure_name: str = ""  # the name the formula gave (``ar1(...)``), "" for a bare bar

    @cached_property
    def levels(self) -> pd.Index:
        """The level labels as a pandas Index, built on first use (results, predictions):
        making a text Index costs as much as finding the levels."""
        if isinstance(self.level_values, pd.Index):
            return self.level_values
        return pd.Index(self.level_values, dtype=self.level_dtype)

    def __post_init__(self) -> None:
        k = self.k
        if self.structure is None:
            self.structure = resolve("covariance", default_structure(self.correlated))
        self.linear = bool(self.structure.linear)
        self.tri_rows, self.tri_cols = self.structure.positions(k)
        self._ntheta = (len(self.tri_rows) if self.linear
                        else int(self.structure.ntheta(k, self.nlevels)))
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
        return self._ntheta

    @property
    def label(self) -> str:
        if self.structure_name:
            return f"{self.structure_name}({self.expr} | {self.group})"
        return f"({self.expr} {'|' if self.correlated else '||'} {self.group})"

    def theta_lower_bounds(self) -> np.ndarray:
        """The structure's lower bounds (for ``|``/``||``: 0 on Lambda's diagonal, -inf off it,
        lme4's bounds)."""
        return np.asarray(self.structure.lower_bounds(self.k), float)

    def theta_upper_bounds(self) -> np.ndarray:
        """The structure's upper bounds (+inf for ``|``/``||``)."""
        return np.asarray(self.structure.upper_bounds(self.k), float)

    def column_rms(self) -> np.ndarray:
        """The root mean square of each Z column (1 for an intercept): the columns' scales."""
        return np.sqrt(np.einsum("ij,ij->j", self.Z, self.Z) / max(self.Z.shape[0], 1))

    def theta_units(self) -> np.ndarray:
        """Per entry of theta, the natural unit of its row of Lambda: 1 / its Z column's root
        mean square, so that a unit changes Z b by about as much for every entry."""
        rms = self.column_rms()
        unit = 1.0 / np.where(rms > 0, rms, 1.0)
        return unit[self.tri_rows] if self.linear else np.full(self.ntheta, float(unit.mean()))

    def theta_start(self) -> np.ndarray:
        """The structure's start (for ``|``/``||``: lme4's identity factor)."""
        return np.asarray(self.structure.start(self.k), float)

    def theta_names(self) -> list[str]:
        """One label per theta entry, from the structure (lme4's for ``|``/``||``)."""
        return list(self.structure.parameter_names(self.group, self.columns))

    def Lambda(self, theta_t: np.ndarray) -> np.ndarray:
        """The k x k lower-triangular factor for this term's slice of theta."""
        if not self.linear:
            return np.asarray(self.structure.factor(np.asarray(theta_t, float), self.k), float)
        L = np.zeros((self.k, self.k))
        L[self.tri_rows, self.tri_cols] = theta_t
        return L

    def theta_is_sd(self) -> np.ndarray:
        """Per theta entry, whether it is an SD (True) rather than a correlation or another of
        the structure's own parameters."""
        if self.linear:
            return self.tri_rows == self.tri_cols
        return np.array([kind == "sd" for kind in self.structure.parameter_kinds(self.k)])

    def scale_theta(self, theta_t: np.ndarray, s: float) -> np.ndarray:
        """This term's theta with its factor scaled by s (relative -> absolute scale)."""
        if self.linear:
            return np.asarray(theta_t, float) * s
        return np.asarray(self.structure.scale_theta(theta_t, s, self.k), float)

    def chain(self, theta_t: np.ndarray, g_pos) -> np.ndarray:
        """A gradient over Lambda's entries at (tri_rows, tri_cols) taken to this term's theta
        (the identity for a linear structure: theta is those entries)."""
        g_pos = np.asarray(g_pos, float)
        if self.linear:
            return g_pos
        D = self.structure.factor_derivatives(np.asarray(theta_t, float), self.k)
        return D[:, self.tri_rows, self.tri_cols] @ g_pos

    def ZLambda(self, theta_t: np.ndarray) -> np.ndarray:
        """Rows of Z Lambda_t (n x k)."""
        if self.k == 1 and self.linear:
            return self.Z * float(theta_t[0])
        return self.Z @ self.Lambda(theta_t)

    def covariance(self, theta_t: np.ndarray, scale: float = 1.0) -> np.ndarray:
        """Covariance of b for one level: scale * Lambda Lambda'."""
        L = self.Lambda(theta_t)
        return scale * (L @ L.T)
