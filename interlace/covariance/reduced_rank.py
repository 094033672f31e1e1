"""``rr(expr | group, d = 2)``: reduced rank, glmmTMB's factor-analytic structure. The k effects
of a level are Lambda u with Lambda a k x d loading matrix, lower-trapezoidal (entry (i, j) is
zero for j > i) as glmmTMB's, so Cov(b) = Lambda Lambda' has rank d. theta is Lambda's
lower trapezoid column by column (unbounded: loadings may be negative). The factor handed to
the fitting code is k x k with its last k - d columns zero, so the term keeps its block.
"""

from __future__ import annotations

import numpy as np

from interlace.covariance.base import CovarianceStructure
from interlace.covariance.checks import require_columns
from interlace.errors import FormulaError


class ReducedRank(CovarianceStructure):
    """Reduced-rank covariance Lambda Lambda' with a k x d lower-trapezoidal loading matrix."""

    name = "rr"
    description = "reduced rank: covariance Lambda Lambda' with k x d loadings (option d = 2)"

    def __init__(self, *args, **options) -> None:
        if len(args) > 1 or set(options) - {"d"} or (args and "d" in options):
            raise FormulaError(f"covariance structure 'rr' takes one option, the rank d "
                               f"(rr(expr | group, d = 2)); got {args!r} {options!r}")
        d = args[0] if args else options.get("d", 2)
        if isinstance(d, bool) or not isinstance(d, (int, float)) or d != int(d) or d < 1:
            raise FormulaError(f"covariance structure 'rr': its rank d must be a whole number "
                               f">= 1; got d = {d!r}")
        super().__init__(d=int(d))
        self.d = int(d)

    def rank(self, k: int) -> int:
        return min(self.d, k)

    def positions(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(rows, cols) of the loadings: rows j..k-1 of each column j < d."""
        d = self.rank(k)
        cols = np.concatenate([np.full(k - j, j) for j in range(d)])
        rows = np.concatenate([np.arange(j, k) for j in range(d)])
        return rows, cols

    def ntheta(self, k: int, nlevels: int = 0) -> int:
        d = self.rank(k)
        return k * d - d * (d - 1) // 2

    def factor(self, theta: np.ndarray, k: int) -> np.ndarray:
        L = np.zeros((k, k))
        L[self.positions(k)] = np.asarray(theta, float)
        return L

    def factor_derivatives(self, theta: np.ndarray, k: int) -> np.ndarray:
        rows, cols = self.positions(k)
        out = np.zeros((rows.size, k, k))
        out[np.arange(rows.size), rows, cols] = 1.0
        return out

    def lower_bounds(self, k: int) -> np.ndarray:
        return np.full(self.ntheta(k), -np.inf)

    def start(self, k: int) -> np.ndarray:
        """Loadings 1 on the diagonal, 0.5 below it: away from the zero gradient at 0."""
        rows, cols = self.positions(k)
        return np.where(rows == cols, 1.0, 0.5)

    def start_from_covariance(self, S: np.ndarray, k: int) -> np.ndarray:
        """The best rank-d approximation of S (its leading eigenvectors), rotated to lower-
        trapezoidal form by an LQ decomposition."""
        d = self.rank(k)
        vals, vecs = np.linalg.eigh((S + S.T) / 2)
        top = np.argsort(vals)[::-1][:d]
        F = vecs[:, top] * np.sqrt(np.maximum(vals[top], 1e-4))
        Q, _ = np.linalg.qr(F[:d].T)  # F[:d]' = Q R, so F[:d] Q = R' and F Q is lower-trapezoidal
        G = F @ Q
        G[np.triu_indices(d, 1)] = 0.0
        return G[self.positions(k)]

    def parameter_names(self, group: str, columns: list[str]) -> list[str]:
        rows, cols = self.positions(len(columns))
        return [f"{group}.rr.{columns[r]}.{c + 1}" for r, c in zip(rows, cols)]

    def parameter_kinds(self, k: int) -> list[str]:
        return ["loading"] * self.ntheta(k)

    def scale_theta(self, theta: np.ndarray, s: float, k: int) -> np.ndarray:
        """Every loading scales with the factor."""
        return np.asarray(theta, float) * s

    def natural_names(self, group: str, columns: list[str]) -> list[str]:
        rows, cols = self.positions(len(columns))
        return [f"loading__{columns[r]}.{c + 1}|{group}" for r, c in zip(rows, cols)]

    def natural_values(self, theta: np.ndarray, k: int) -> np.ndarray:
        return np.asarray(theta, float).copy()

    def check_term(self, label: str, Z: np.ndarray, columns: list[str], nlevels: int) -> None:
        require_columns(self.name, label, columns, 2)
        if self.d > len(columns):
            raise FormulaError(f"covariance structure 'rr' in {label} has rank d = {self.d} but "
                               f"only {len(columns)} columns left of '|'; expected d <= "
                               f"{len(columns)}")
        super().check_term(label, Z, columns, nlevels)
