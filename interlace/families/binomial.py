"""Binomial family: y is a proportion of ``weights`` trials (binary when weights are 1)."""

from __future__ import annotations

import warnings

import numpy as np
from scipy.special import gammaln, xlogy

from interlace.errors import DataError, InterlaceWarning
from interlace.families.base import ExponentialFamily, require_finite

_TINY = np.finfo(float).tiny
_EPS = np.finfo(float).eps / 2


class BinomialFamily(ExponentialFamily):
    name = "binomial"
    aliases = ("bernoulli",)
    canonical_link = "logit"
    links = ("logit", "probit", "cloglog", "cauchit", "log")

    def unit_variance(self, mu, params):
        return np.maximum(mu * (1.0 - mu), _TINY)  # a mean of exactly 0 or 1 (separation)

    def unit_variance_deriv(self, mu, params):
        return 1.0 - 2.0 * mu

    def loglik(self, y, mu, weights, params):
        n = weights
        s = n * y
        const = gammaln(n + 1.0) - gammaln(s + 1.0) - gammaln(n - s + 1.0)
        return const + xlogy(s, mu) + xlogy(n - s, 1.0 - mu)

    def loglik_kernel(self, y, mu, weights, params):
        # plain logs on a clipped mean: 3x faster than xlogy, equal wherever both are finite
        s = weights * y
        mu = np.clip(mu, _TINY, 1.0 - _EPS)
        return s * np.log(mu) + (weights - s) * np.log1p(-mu)

    def loglik_constant(self, y, weights, params):
        s = weights * y
        return float(np.sum(gammaln(weights + 1.0) - gammaln(s + 1.0) - gammaln(weights - s + 1.0)))

    def validate(self, y, weights, label):
        require_finite(y, label)
        bad = (y < 0) | (y > 1)
        if np.any(bad):
            i = int(np.flatnonzero(bad)[0])
            raise DataError(
                f"binomial response {label!r} must be a proportion in [0, 1] (or successes "
                f"<= trials); row {i} has {float(y[i])!r} ({int(bad.sum())} such value(s) in all)"
            )
        s = np.asarray(weights, dtype=float) * y
        nonint = np.abs(s - np.round(s)) > 1e-3  # R's binomial()$initialize tolerance
        if np.any(nonint):
            i = int(np.flatnonzero(nonint)[0])
            warnings.warn(
                f"binomial response {label!r}: non-integer number of successes "
                f"(weight x proportion = {float(s[i]):.6g} at row {i}), as R warns "
                f"'non-integer #successes in a binomial glm!'",
                InterlaceWarning,
                stacklevel=4,
            )

    def initialize(self, y, weights):
        return (weights * y + 0.5) / (weights + 1.0)

    def simulate(self, mu, weights, params, rng):
        n = np.rint(weights).astype(np.int64)
        return rng.binomial(n, mu) / np.maximum(n, 1)
