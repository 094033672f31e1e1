"""A third-party interlace plugin: two count families, registered by entry point.

``mypoisson`` is the Poisson distribution written independently of interlace's own; fits with
it must equal the built-in ``poisson``. ``geometric`` is new: P(y) = mu^y / (1 + mu)^(y + 1),
y = 0, 1, ..., mean mu and variance mu (1 + mu) (a negative binomial with shape 1).
"""

from __future__ import annotations

import numpy as np
from scipy.special import gammaln, xlogy

from interlace import DataError, ExponentialFamily, hookimpl


def _check_counts(family: str, y: np.ndarray, label: str) -> None:
    y = np.asarray(y, dtype=float)
    bad = ~np.isfinite(y) | (y < 0) | (np.abs(y - np.round(y)) > 1e-8)
    if np.any(bad):
        i = int(np.flatnonzero(bad)[0])
        raise DataError(f"{family} response {label!r} must be non-negative integer counts; "
                        f"row {i} has {float(y[i])!r}")


class MyPoisson(ExponentialFamily):
    name = "mypoisson"
    aliases = ("my-poisson",)
    links = ("log", "sqrt", "identity")
    canonical_link = "log"

    def unit_variance(self, mu, params):
        return mu

    def unit_variance_deriv(self, mu, params):
        return np.ones_like(mu)

    def loglik(self, y, mu, weights, params):
        return weights * (xlogy(y, mu) - mu - gammaln(y + 1.0))

    def validate(self, y, weights, label):
        _check_counts(self.name, y, label)

    def initialize(self, y, weights):
        return np.asarray(y, dtype=float) + 0.1


class Geometric(ExponentialFamily):
    name = "geometric"
    links = ("log", "identity", "sqrt")

    def unit_variance(self, mu, params):
        return mu * (1.0 + mu)

    def unit_variance_deriv(self, mu, params):
        return 1.0 + 2.0 * mu

    def loglik(self, y, mu, weights, params):
        return weights * (xlogy(y, mu) - (y + 1.0) * np.log1p(mu))

    def validate(self, y, weights, label):
        _check_counts(self.name, y, label)

    def initialize(self, y, weights):
        return np.asarray(y, dtype=float) + 0.1

    def simulate(self, mu, weights, params, rng):
        return rng.geometric(1.0 / (1.0 + mu)).astype(float) - 1.0


@hookimpl
def interlace_families():
    return [MyPoisson, Geometric]
