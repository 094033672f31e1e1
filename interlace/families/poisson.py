"""Poisson family for counts, with its fused row kernel for the log link."""

from __future__ import annotations

import math

import numpy as np
from scipy.special import gammaln, xlogy

from interlace.errors import DataError
from interlace.families.base import (
    ExponentialFamily,
    RowKernel,
    lognormal_latent_variance,
    require_finite,
)
from interlace.families.zero_part import CanHaveZeroPart

_TINY = np.finfo(float).tiny
_ETA_SAFE = 700.0  # |eta| below this: exp neither overflows nor hits the log link's clip
_SUM_SAFE = 1e300  # a sum of exp(eta) below this has every eta below 690.8


def log_factorial(y: np.ndarray) -> np.ndarray:
    """log(y!) per entry: for whole counts below 2^20 a table lookup (10x faster than gammaln
    on a million rows), else gammaln(y + 1)."""
    y = np.asarray(y, dtype=float)
    if y.size > 10_000:
        top = float(y.max()) if y.size else 0.0
        if 0.0 <= float(y.min()) and top < 2.0**20:
            yi = y.astype(np.int64)
            if np.array_equal(yi, y):
                return gammaln(np.arange(int(top) + 1) + 1.0).take(yi)
    return gammaln(y + 1.0)


class PoissonLogKernel(RowKernel):
    """Poisson, log link: log mu = eta, score w (y - mu), weight w mu."""

    fused = True
    exp_mean = True

    def __init__(self, family, y, weights) -> None:
        super().__init__(family, y, weights)
        self.wy = self.y if self.unit else self.w * self.y

    def evaluate(self, eta, fp):
        if not (eta.max() < _ETA_SAFE and eta.min() > -_ETA_SAFE):
            return super().evaluate(eta, fp)
        mu = np.exp(eta)
        return mu, float(self.wy @ eta) - float(mu.sum() if self.unit else self.w @ mu)

    def evaluate_checked(self, eta, fp):
        # exp, its sum and y'eta detect non-finite eta and eta above ~690 on their own, so
        # the link's finiteness check and the upper range check are skipped on the fast path
        with np.errstate(over="ignore", invalid="ignore"):
            mu = np.exp(eta)
            total = float(mu.sum())
            lin = float(self.wy @ eta)
        if total < _SUM_SAFE and math.isfinite(lin) and eta.min() > -_ETA_SAFE:
            return mu, lin - (total if self.unit else float(self.w @ mu))
        return super().evaluate_checked(eta, fp)

    def score_weights(self, eta, mu, fp):
        if self.unit:
            return self.y - mu, mu, None, None
        return self.wy - self.w * mu, self.w * mu, None, None

    def weights(self, eta, mu, fp):
        return mu if self.unit else self.w * mu

    def weights_deta(self, eta, mu, W):
        """dW/deta given W: w mu."""
        return W


class PoissonFamily(CanHaveZeroPart, ExponentialFamily):
    closed_form_derivatives = True
    name = "poisson"
    zero_part = "inflate"
    mean_bounds = (0.0, None)  # mu -> 0 where every count is 0
    canonical_link = "log"
    links = ("log", "sqrt", "identity")

    def latent_variance(self, mean, params):
        """The lognormal approximation log(1 + Var(y) / mu²) at the null model's mean."""
        return lognormal_latent_variance(self, mean, params)

    def unit_variance(self, mu, params):
        return mu

    def unit_variance_deriv(self, mu, params):
        return np.ones_like(mu)

    def unit_variance_deriv2(self, mu, params):
        return np.zeros_like(mu)

    def loglik(self, y, mu, weights, params):
        return weights * (xlogy(y, mu) - mu - gammaln(y + 1.0))

    def loglik_kernel(self, y, mu, weights, params):
        # plain log on a mean kept above zero: 3x faster than xlogy, equal wherever finite
        return weights * (y * np.log(np.maximum(mu, _TINY)) - mu)

    def loglik_constant(self, y, weights, params):
        return -float(np.sum(weights * log_factorial(y)))

    def log_zero_prob(self, mu, weights, params):
        return -np.asarray(mu, dtype=float)

    def validate(self, y, weights, label):
        require_finite(y, label)
        bad = (y < 0) | (np.abs(y - np.round(y)) > 1e-8)
        if np.any(bad):
            i = int(np.flatnonzero(bad)[0])
            raise DataError(
                f"{self.name} response {label!r} must be non-negative integer counts; row {i} "
                f"has {float(y[i])!r} ({int(bad.sum())} such value(s) in all)"
            )

    def initialize(self, y, weights):
        return y + 0.1

    def row_kernel(self, y, weights):
        """The fused kernel with the canonical (log) link, None (the generic kernel) otherwise
        or when a subclass changed the density."""
        cls = type(self)
        own = cls.loglik is PoissonFamily.loglik and cls.loglik_kernel is PoissonFamily.loglik_kernel
        if own and self.link.name == self.canonical_link:
            return PoissonLogKernel(self, y, weights)
        return None

    def simulate(self, mu, weights, params, rng):
        return rng.poisson(mu).astype(float)
