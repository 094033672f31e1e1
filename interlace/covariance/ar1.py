"""``ar1``: first-order autoregressive correlation over the ordered levels of a factor.

``ar1(0 + time | subject)`` with ``time`` a factor of T levels gives each subject T effects,
one per time, with a common SD and correlation rho^|i - j| between times i and j (glmmTMB's
``ar1``). theta = (s, phi): s the relative SD (>= 0) and phi unconstrained with
rho = phi / sqrt(1 + phi^2), glmmTMB's parametrisation of rho.
"""

from __future__ import annotations

import numpy as np

from interlace.covariance.base import CovarianceStructure
from interlace.covariance.checks import require_columns, require_indicators


def rho_of(phi: float) -> float:
    """glmmTMB's map of the unconstrained parameter to the correlation in (-1, 1)."""
    return float(phi / np.sqrt(1.0 + phi * phi))


def phi_of(rho: float) -> float:
    """The inverse of :func:`rho_of`."""
    return float(rho / np.sqrt(1.0 - rho * rho))


def ar1_cholesky(rho: float, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The Cholesky factor C of the AR(1) correlation matrix (rho^|i-j|) and dC/drho, in closed
    form: C[i, 0] = rho^i, C[i, j] = rho^(i-j) sqrt(1 - rho^2) for 1 <= j <= i."""
    i, j = np.tril_indices(k)
    lag = (i - j).astype(float)
    c = np.sqrt(max(1.0 - rho * rho, 0.0))
    powr = rho ** lag
    dpow = lag * rho ** np.maximum(lag - 1.0, 0.0)
    first = j == 0
    C = np.zeros((k, k))
    D = np.zeros((k, k))
    C[i, j] = np.where(first, powr, powr * c)
    dc = -rho / c if c > 0 else 0.0
    D[i, j] = np.where(first, dpow, dpow * c + powr * dc)
    return C, D


class AR1(CovarianceStructure):
    """AR(1) over a factor's ordered levels: common SD, correlation rho^lag (glmmTMB's ar1)."""

    name = "ar1"
    description = "first-order autoregressive over the ordered levels of a factor"

    def ntheta(self, k: int, nlevels: int = 0) -> int:
        return 2

    def factor(self, theta: np.ndarray, k: int) -> np.ndarray:
        return float(theta[0]) * ar1_cholesky(rho_of(float(theta[1])), k)[0]

    def factor_derivatives(self, theta: np.ndarray, k: int) -> np.ndarray:
        s, phi = float(theta[0]), float(theta[1])
        C, D = ar1_cholesky(rho_of(phi), k)
        return np.stack([C, s * D * (1.0 + phi * phi) ** -1.5])

    def lower_bounds(self, k: int) -> np.ndarray:
        return np.array([0.0, -np.inf])

    def start(self, k: int) -> np.ndarray:
        return np.array([1.0, 0.0])

    def start_from_covariance(self, S: np.ndarray, k: int) -> np.ndarray:
        """SD from the mean variance, rho from the mean lag-one correlation (within +-0.9)."""
        d = np.maximum(np.diag(S), 1e-8)
        lag1 = np.diag(S, -1) / np.sqrt(d[1:] * d[:-1])
        rho = float(np.clip(np.nanmean(lag1), -0.9, 0.9)) if lag1.size else 0.0
        return np.array([float(np.sqrt(d.mean())), phi_of(rho)])

    def parameter_names(self, group: str, columns: list[str]) -> list[str]:
        return [f"{group}.ar1.sd", f"{group}.ar1.phi"]

    def parameter_kinds(self, k: int) -> list[str]:
        return ["sd", "rho"]

    def natural_names(self, group: str, columns: list[str]) -> list[str]:
        return [f"sd__ar1|{group}", f"rho__ar1|{group}"]

    def natural_values(self, theta: np.ndarray, k: int) -> np.ndarray:
        return np.array([float(theta[0]), rho_of(float(theta[1]))])

    def check_term(self, label: str, Z: np.ndarray, columns: list[str], nlevels: int) -> None:
        require_indicators(self.name, label, Z, columns)
        require_columns(self.name, label, columns, 2)
        super().check_term(label, Z, columns, nlevels)
