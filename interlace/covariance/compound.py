"""``cs``: compound symmetry, glmmTMB's heterogeneous version: one SD per column, one
correlation rho between every pair. theta = (s_1, ..., s_k, c): relative SDs (>= 0) and c
unconstrained with rho = plogis(c) (1 + a) - a, a = 1 / (k - 1), glmmTMB's map onto the
correlations that keep the matrix positive definite, (-1 / (k - 1), 1).
"""

from __future__ import annotations

import numpy as np

from interlace.covariance.base import CovarianceStructure
from interlace.covariance.checks import require_columns


def cs_rho(c: float, k: int) -> float:
    """The correlation of an unconstrained c (glmmTMB's map)."""
    a = 1.0 / (k - 1)
    return float((1.0 + a) / (1.0 + np.exp(-c)) - a)


def cs_cholesky(rho: float, k: int) -> np.ndarray:
    """The Cholesky factor of (1 - rho) I + rho 1 1'."""
    R = np.full((k, k), rho)
    np.fill_diagonal(R, 1.0)
    return np.linalg.cholesky(R)


class CompoundSymmetry(CovarianceStructure):
    """Heterogeneous compound symmetry: SDs per column, one common correlation (glmmTMB cs)."""

    name = "cs"
    description = "compound symmetry: an SD per column, one correlation for every pair"

    def ntheta(self, k: int, nlevels: int = 0) -> int:
        return k + 1

    def factor(self, theta: np.ndarray, k: int) -> np.ndarray:
        return np.asarray(theta[:k], float)[:, None] * cs_cholesky(cs_rho(float(theta[k]), k), k)

    def factor_derivatives(self, theta: np.ndarray, k: int) -> np.ndarray:
        s, c = np.asarray(theta[:k], float), float(theta[k])
        C = cs_cholesky(cs_rho(c, k), k)
        out = np.zeros((k + 1, k, k))
        out[np.arange(k), np.arange(k)] = C  # d Lambda / d s_i: row i of C
        h = 1e-6 * max(1.0, abs(c))
        dC = (cs_cholesky(cs_rho(c + h, k), k) - cs_cholesky(cs_rho(c - h, k), k)) / (2 * h)
        out[k] = s[:, None] * dC
        return out

    def lower_bounds(self, k: int) -> np.ndarray:
        return np.append(np.zeros(k), -np.inf)

    def start(self, k: int) -> np.ndarray:
        return np.append(np.ones(k), self._c_of(0.0, k))

    @staticmethod
    def _c_of(rho: float, k: int) -> float:
        a = 1.0 / (k - 1)
        p = (rho + a) / (1.0 + a)
        return float(np.log(p / (1.0 - p)))

    def start_from_covariance(self, S: np.ndarray, k: int) -> np.ndarray:
        """SDs from S's diagonal, rho from its mean correlation (kept inside its range)."""
        d = np.maximum(np.diag(S), 1e-8)
        R = S / np.sqrt(np.outer(d, d))
        rho = float(np.mean(R[np.tril_indices(k, -1)]))
        lo = -1.0 / (k - 1)
        rho = float(np.clip(rho, lo + 0.05 * (1 - lo), 0.9))
        return np.append(np.sqrt(d), self._c_of(rho, k))

    def parameter_names(self, group: str, columns: list[str]) -> list[str]:
        return [f"{group}.{c}" for c in columns] + [f"{group}.cs.rho"]

    def parameter_kinds(self, k: int) -> list[str]:
        return ["sd"] * k + ["rho"]

    def natural_names(self, group: str, columns: list[str]) -> list[str]:
        return [f"sd__{c}|{group}" for c in columns] + [f"rho__cs|{group}"]

    def natural_values(self, theta: np.ndarray, k: int) -> np.ndarray:
        return np.append(np.asarray(theta[:k], float), cs_rho(float(theta[k]), k))

    def check_term(self, label: str, Z: np.ndarray, columns: list[str], nlevels: int) -> None:
        require_columns(self.name, label, columns, 2)
        super().check_term(label, Z, columns, nlevels)


class HomogeneousCompoundSymmetry(CompoundSymmetry):
    """Homogeneous compound symmetry: one SD for every column and one correlation (``homcs``;
    glmmTMB 1.1.5 has no such structure). theta = (s, c), rho from c as in ``cs``; with
    rho >= 0 it is the model (1 | g) + (1 | g:column) with variances s^2 rho and s^2 (1 - rho)."""

    name = "homcs"
    description = "homogeneous compound symmetry: one SD and one correlation for every pair"

    def ntheta(self, k: int, nlevels: int = 0) -> int:
        return 2

    def factor(self, theta: np.ndarray, k: int) -> np.ndarray:
        return float(theta[0]) * cs_cholesky(cs_rho(float(theta[1]), k), k)

    def factor_derivatives(self, theta: np.ndarray, k: int) -> np.ndarray:
        full = super().factor_derivatives(np.append(np.full(k, float(theta[0])), theta[1]), k)
        return np.stack([full[:k].sum(axis=0), full[k]])

    def lower_bounds(self, k: int) -> np.ndarray:
        return np.array([0.0, -np.inf])

    def start(self, k: int) -> np.ndarray:
        return np.array([1.0, self._c_of(0.0, k)])

    def start_from_covariance(self, S: np.ndarray, k: int) -> np.ndarray:
        """The mean SD of S and its mean correlation (as ``cs`` reads them)."""
        full = super().start_from_covariance(S, k)
        return np.array([float(np.mean(full[:k])), full[k]])

    def parameter_names(self, group: str, columns: list[str]) -> list[str]:
        return [f"{group}.homcs.sd", f"{group}.homcs.rho"]

    def parameter_kinds(self, k: int) -> list[str]:
        return ["sd", "rho"]

    def natural_names(self, group: str, columns: list[str]) -> list[str]:
        return [f"sd__homcs|{group}", f"rho__homcs|{group}"]

    def natural_values(self, theta: np.ndarray, k: int) -> np.ndarray:
        return np.array([float(theta[0]), cs_rho(float(theta[1]), k)])
