"""``toep``: a heterogeneous Toeplitz covariance: one SD per column and one correlation per lag.

``toep(0 + time | id)`` gives the correlation of times i and j as rho_|i-j| (any stationary
pattern, not only ar1's rho^lag), with its own SD per time, as glmmTMB's ``toep``. theta =
(s_1, ..., s_k, a_1, ..., a_(k-1)): relative SDs (>= 0) and unconstrained a_m whose
p_m = a_m / sqrt(1 + a_m^2) are the partial autocorrelations; Durbin-Levinson turns them into
the lag correlations, so every theta gives a positive definite matrix.
"""

from __future__ import annotations

import numpy as np

from interlace.covariance.base import CovarianceStructure
from interlace.covariance.checks import require_columns


def lag_correlations(pacf: np.ndarray) -> np.ndarray:
    """rho_0 = 1, rho_1, ..., rho_m from partial autocorrelations (Durbin-Levinson)."""
    rho = [1.0]
    phi = np.zeros(0)
    for p in np.asarray(pacf, float):
        m = phi.size + 1
        prev = np.asarray(rho[1:m], float)  # rho_1 .. rho_(m-1)
        r = float(phi @ np.asarray(rho[m - 1:0:-1], float)) + p * (1.0 - float(phi @ prev))
        phi = np.append(phi - p * phi[::-1], p)
        rho.append(r)
    return np.array(rho)


class Toeplitz(CovarianceStructure):
    """Heterogeneous Toeplitz: SDs per column, a correlation per lag (glmmTMB's toep)."""

    name = "toep"
    description = "Toeplitz: an SD per column and a correlation per lag between columns"

    def ntheta(self, k: int, nlevels: int = 0) -> int:
        return 2 * k - 1

    def factor(self, theta: np.ndarray, k: int) -> np.ndarray:
        a = np.asarray(theta[k:], float)
        rho = lag_correlations(a / np.sqrt(1.0 + a * a))
        lag = np.abs(np.subtract.outer(np.arange(k), np.arange(k)))
        return np.asarray(theta[:k], float)[:, None] * np.linalg.cholesky(rho[lag])

    def lower_bounds(self, k: int) -> np.ndarray:
        return np.append(np.zeros(k), np.full(k - 1, -np.inf))

    def start(self, k: int) -> np.ndarray:
        return np.append(np.ones(k), np.zeros(k - 1))

    def parameter_names(self, group: str, columns: list[str]) -> list[str]:
        return ([f"{group}.{c}" for c in columns]
                + [f"{group}.toep.pacf{m}" for m in range(1, len(columns))])

    def parameter_kinds(self, k: int) -> list[str]:
        return ["sd"] * k + ["rho"] * (k - 1)

    def natural_names(self, group: str, columns: list[str]) -> list[str]:
        return ([f"sd__{c}|{group}" for c in columns]
                + [f"rho{m}__toep|{group}" for m in range(1, len(columns))])

    def natural_values(self, theta: np.ndarray, k: int) -> np.ndarray:
        a = np.asarray(theta[k:], float)
        return np.append(np.asarray(theta[:k], float), lag_correlations(a / np.sqrt(1 + a * a))[1:])

    def check_term(self, label: str, Z: np.ndarray, columns: list[str], nlevels: int) -> None:
        require_columns(self.name, label, columns, 2)
        super().check_term(label, Z, columns, nlevels)
