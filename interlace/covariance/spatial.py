"""``exp``, ``gau`` and ``ou``: correlation decaying with the distance between points.

``exp(0 + pos | group)`` with ``pos = interlace.num_factor(x, y)`` gives each group one
effect per point, SD s and correlation exp(-d / range) between points d apart (``gau``:
exp(-(d / range)^2)), as glmmTMB's structures of these names. The points are read from the
level labels of the term's columns (``pos[(1,2.5)]``), as glmmTMB reads its numFactor's
levels. theta = (s, log range): s the relative SD (>= 0), the range on the log scale.
``ou(0 + times | id)`` with ``times = interlace.num_factor(t)`` is ``exp`` in one dimension,
reported by its rate 1 / range (glmmTMB's continuous-time AR(1)).
"""

from __future__ import annotations

import numpy as np
from scipy.special import gammaln, kv

from interlace.covariance.base import CovarianceStructure
from interlace.errors import FormulaError


def coordinates_of(columns: list[str]) -> np.ndarray | None:
    """The points of num_factor level labels in column names such as ``pos[(1,2.5)]`` (one
    row per column), or None when a column is not such a label."""
    rows = []
    for c in columns:
        start, end = c.rfind("("), c.rfind(")")
        if start < 0 or end < start:
            return None
        try:
            rows.append([float(v) for v in c[start + 1:end].split(",")])
        except ValueError:
            return None
    if not rows or len({len(r) for r in rows}) != 1:
        return None
    return np.array(rows)


class Exponential(CovarianceStructure):
    """Exponential spatial correlation exp(-d / range) over num_factor points."""

    name = "exp"
    description = "spatial: correlation exp(-d / range) between points d apart (num_factor)"
    power = 1.0

    def __init__(self, *args, **options) -> None:
        super().__init__(*args, **options)
        self.distances: np.ndarray | None = None

    def ntheta(self, k: int, nlevels: int = 0) -> int:
        return 2

    def correlation(self, log_range: float) -> np.ndarray:
        if self.distances is None:
            raise FormulaError(f"covariance structure {self.name!r} has no points: its term "
                               f"was not checked (check_term reads them)")
        return np.exp(-((self.distances / np.exp(log_range)) ** self.power))

    def factor(self, theta: np.ndarray, k: int) -> np.ndarray:
        R = self.correlation(float(theta[1]))
        R[np.diag_indices(k)] += 1e-10  # points far apart: R near singular but still PD
        return float(theta[0]) * np.linalg.cholesky(R)

    def lower_bounds(self, k: int) -> np.ndarray:
        return np.array([0.0, -np.inf])

    def start(self, k: int) -> np.ndarray:
        positive = self.distances[self.distances > 0] if self.distances is not None else []
        return np.array([1.0, float(np.log(np.median(positive))) if len(positive) else 0.0])

    def parameter_names(self, group: str, columns: list[str]) -> list[str]:
        return [f"{group}.{self.name}.sd", f"{group}.{self.name}.log_range"]

    def parameter_kinds(self, k: int) -> list[str]:
        return ["sd", "range"]

    def natural_names(self, group: str, columns: list[str]) -> list[str]:
        return [f"sd__{self.name}|{group}", f"range__{self.name}|{group}"]

    def natural_values(self, theta: np.ndarray, k: int) -> np.ndarray:
        return np.array([float(theta[0]), float(np.exp(theta[1]))])

    def check_term(self, label: str, Z: np.ndarray, columns: list[str], nlevels: int) -> None:
        """Reads the points from the columns' labels (an error naming the term otherwise)."""
        pts = coordinates_of(columns)
        if pts is None or len(columns) < 2:
            raise FormulaError(
                f"covariance structure {self.name!r} in {label} runs over points: write "
                f"'{self.name}(0 + pos | group)' with pos = interlace.num_factor(x, y) (at least "
                f"2 points); got the column(s) {', '.join(columns[:5])}")
        self.distances = np.sqrt(((pts[:, None, :] - pts[None, :, :]) ** 2).sum(axis=2))


class Gaussian(Exponential):
    """Gaussian spatial correlation exp(-(d / range)^2) over num_factor points."""

    name = "gau"
    description = "spatial: correlation exp(-(d / range)^2) between points d apart (num_factor)"
    power = 2.0

    def start(self, k: int) -> np.ndarray:
        """A short range (the smallest distance): a long one makes R nearly singular."""
        positive = self.distances[self.distances > 0] if self.distances is not None else []
        return np.array([1.0, float(np.log(np.min(positive))) if len(positive) else 0.0])


class OrnsteinUhlenbeck(Exponential):
    """Continuous-time AR(1) over num_factor times: correlation exp(-rate |t - s|) (glmmTMB's
    ou); the exponential structure in one dimension, reported by its rate (1 / range)."""

    name = "ou"
    description = "continuous-time AR(1): correlation exp(-rate |t - s|) over num_factor times"

    def natural_names(self, group: str, columns: list[str]) -> list[str]:
        return [f"sd__ou|{group}", f"rate__ou|{group}"]

    def natural_values(self, theta: np.ndarray, k: int) -> np.ndarray:
        return np.array([float(theta[0]), float(np.exp(-theta[1]))])


def matern_correlation(d: np.ndarray, phi: float, kappa: float) -> np.ndarray:
    """Matérn correlation 2^(1-kappa) / Gamma(kappa) (d/phi)^kappa K_kappa(d/phi), 1 at d = 0."""
    x = np.asarray(d, float) / phi
    out = np.ones_like(x)
    pos = x > 0
    xp = x[pos]
    with np.errstate(over="ignore", invalid="ignore"):
        val = np.exp((1.0 - kappa) * np.log(2.0) - gammaln(kappa) + kappa * np.log(xp)) * kv(kappa, xp)
    out[pos] = np.where(np.isfinite(val), val, 0.0)
    return out


class Matern(Exponential):
    """Matérn spatial correlation over num_factor points (glmmTMB's mat): range phi and
    smoothness kappa; theta = (s, log phi, log kappa)."""

    name = "mat"
    description = "spatial: Matérn correlation with a range and a smoothness (num_factor)"

    def ntheta(self, k: int, nlevels: int = 0) -> int:
        return 3

    def factor(self, theta: np.ndarray, k: int) -> np.ndarray:
        if self.distances is None:
            self.correlation(0.0)  # raises: the term was not checked
        R = matern_correlation(self.distances, float(np.exp(theta[1])), float(np.exp(theta[2])))
        R[np.diag_indices(k)] += 1e-10
        return float(theta[0]) * np.linalg.cholesky(R)

    def lower_bounds(self, k: int) -> np.ndarray:
        return np.array([0.0, -np.inf, -np.inf])

    def start(self, k: int) -> np.ndarray:
        return np.append(super().start(k), 0.0)

    def parameter_names(self, group: str, columns: list[str]) -> list[str]:
        return [f"{group}.mat.sd", f"{group}.mat.log_range", f"{group}.mat.log_smoothness"]

    def parameter_kinds(self, k: int) -> list[str]:
        return ["sd", "range", "smoothness"]

    def natural_names(self, group: str, columns: list[str]) -> list[str]:
        return [f"sd__mat|{group}", f"range__mat|{group}", f"smoothness__mat|{group}"]

    def natural_values(self, theta: np.ndarray, k: int) -> np.ndarray:
        return np.array([float(theta[0]), float(np.exp(theta[1])), float(np.exp(theta[2]))])
