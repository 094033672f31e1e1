"""Binomial family: y is a proportion of ``weights`` trials (binary when weights are 1); its
fused row kernel for the logit link."""

from __future__ import annotations

import warnings

import numpy as np
from scipy.special import gammaln, xlogy

from interlace.errors import DataError, InterlaceWarning
from interlace.families.base import ExponentialFamily, RowKernel, require_finite

_TINY = np.finfo(float).tiny
_EPS = np.finfo(float).eps / 2
_LOGIT_SAFE = 30.0  # |eta| below this: expit(eta) is inside the clip [tiny, 1 - eps]


class BinomialLogitKernel(RowKernel):
    """Binomial, logit link: score w (y - mu), weight w mu (1 - mu)."""

    fused = True

    def __init__(self, family, y, weights) -> None:
        super().__init__(family, y, weights)
        self.s = self.w * self.y  # successes
        self.f = self.w - self.s  # failures

    def evaluate(self, eta, fp):
        mu = self.link.inverse(eta)
        mc = np.minimum(np.maximum(mu, _TINY), 1.0 - _EPS)  # the family's own clip
        return mu, float(self.s @ np.log(mc)) + float(self.f @ np.log1p(-mc))

    def evaluate_checked(self, eta, fp):
        # |eta| < 30 (which also rules out NaN and inf): the family's clip of mu to
        # [tiny, 1 - eps] changes nothing, so the range check replaces both it and the
        # finiteness check
        if eta.max() < _LOGIT_SAFE and eta.min() > -_LOGIT_SAFE:
            mu = self.link.inverse(eta)
            return mu, float(self.s @ np.log(mu)) + float(self.f @ np.log1p(-mu))
        return super().evaluate_checked(eta, fp)

    def score_weights(self, eta, mu, fp):
        v = mu * (1.0 - mu)
        np.maximum(v, _TINY, out=v)
        if self.unit:
            return self.y - mu, v, None, None
        return self.s - self.w * mu, self.w * v, None, None

    def weights(self, eta, mu, fp):
        v = mu * (1.0 - mu)
        np.maximum(v, _TINY, out=v)
        return v if self.unit else self.w * v

    def weights_deta(self, eta, mu, W):
        """dW/deta given W: w mu (1 - mu) (1 - 2 mu)."""
        return W * (1.0 - 2.0 * mu)


class BinomialFamily(ExponentialFamily):
    name = "binomial"
    mean_bounds = (0.0, 1.0)  # probabilities -> 0 or 1 under separation
    aliases = ("bernoulli",)
    canonical_link = "logit"
    links = ("logit", "probit", "cloglog", "cauchit", "log")
    trials_response = True  # s / n and cbind(s, f): successes over trials
    two_level_response = True  # a two-level text response is 0/1

    def latent_variance(self, mean, params):
        """The link's latent residual variance (pi²/3 for the logit), None if it has none."""
        return self.link.latent_variance

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

    def fit_warnings(self, y, mu, weights, params):
        """Fitted probabilities of 0 or 1: (quasi-)complete separation."""
        if np.any((mu < 1e-10) | (mu > 1 - 1e-10)):
            return ["fitted probabilities numerically 0 or 1 occurred (complete or quasi-complete "
                    "separation?): the estimates of the separating effects are not finite"]
        return []

    def row_kernel(self, y, weights):
        """The fused kernel with the canonical (logit) link, None (the generic kernel) otherwise
        or when a subclass changed the density."""
        cls = type(self)
        own = cls.loglik is BinomialFamily.loglik and cls.loglik_kernel is BinomialFamily.loglik_kernel
        if own and self.link.name == self.canonical_link:
            return BinomialLogitKernel(self, y, weights)
        return None

    def simulate(self, mu, weights, params, rng):
        n = np.rint(weights).astype(np.int64)
        return rng.binomial(n, mu) / np.maximum(n, 1)
