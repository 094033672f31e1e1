"""The Poisson-lognormal family, registered with interlace through one hook.

A count whose Poisson mean varies from observation to observation by a log-normal factor
(an observation-level random effect, integrated out):

    P(y) = integral Poisson(y; mu exp(sigma z - sigma^2 / 2)) phi(z) dz,

so that E(y) = mu and Var(y) = mu + mu^2 (exp(sigma^2) - 1), an overdispersion like the
negative binomial's with exp(sigma^2) - 1 in the place of 1/theta. The integral has no closed
form; it is computed by Gauss-Hermite quadrature on 40 nodes, with the factors normalised so
that the mixture has mean exactly mu and its probabilities sum exactly to one.

Only ``loglik`` and ``validate`` are required by the contract, but a density computed by
quadrature is best differentiated in closed form too: with pi_k the posterior weights of the
nodes given y and lambda_k the Poisson means there, d log P / d mu = (y - E_pi[lambda]) / mu
and d2 log P / d mu2 = (Var_pi[lambda] - y) / mu^2, given as ``score_mu`` and ``obs_info_mu``.
interlace's documented fallback then differences these (not the density) for the third
derivative and for the derivatives in sigma that the exact gradient needs. ``info_mu`` (1 /
Var(y), positive, for the Fisher steps of penalised IRLS), ``variance`` (Pearson residuals)
and ``simulate`` (``result.simulate``) have closed forms too.
"""

from __future__ import annotations

import numpy as np
from numpy.polynomial.hermite_e import hermegauss
from scipy.special import gammaln, logsumexp

from interlace import DataError, Family, FamilyParameter, hookimpl

NODES, WEIGHTS = hermegauss(40)
LOG_WEIGHTS = np.log(WEIGHTS / WEIGHTS.sum())  # standard normal quadrature weights


class PoissonLognormalFamily(Family):
    """Poisson-lognormal: E(y) = mu, Var(y) = mu + mu^2 (exp(sigma^2) - 1)."""

    name = "poilog"
    aliases = ("poisson_lognormal",)
    links = ("log", "sqrt", "identity")  # the first is the default
    laplace_information = "observed"  # glmmTMB's Laplace: the observed information

    def __init__(self, sigma: float | None = None, link=None) -> None:
        super().__init__(link=link, sigma=sigma)

    def default_parameters(self):
        return [FamilyParameter("sigma", None, start=0.5, transform="log",
                                description="SD of the log-normal factor of the mean")]

    @staticmethod
    def log_factors(sigma) -> np.ndarray:
        """log of the mean's factor at each node, normalised to mean 1 under the weights."""
        s = np.asarray(sigma, dtype=float)[..., None]
        lf = s * NODES
        return lf - logsumexp(lf + LOG_WEIGHTS, axis=-1, keepdims=True)

    def _terms(self, y, mu, params):
        """(log of each node's weighted Poisson probability, the node means), rows x nodes."""
        y = np.asarray(y, dtype=float)[..., None]
        with np.errstate(divide="ignore"):
            loglam = np.log(np.asarray(mu, dtype=float))[..., None] + self.log_factors(
                params["sigma"])
        lam = np.exp(loglam)
        return LOG_WEIGHTS + y * loglam - lam - gammaln(y + 1.0), lam

    def loglik(self, y, mu, weights, params):
        return weights * logsumexp(self._terms(y, mu, params)[0], axis=-1)

    def _posterior_moments(self, y, mu, params):
        """E and Var of the node mean lambda under the nodes' posterior weights given y."""
        t, lam = self._terms(y, mu, params)
        post = np.exp(t - logsumexp(t, axis=-1, keepdims=True))
        e = np.sum(post * lam, axis=-1)
        return e, np.sum(post * (lam - e[..., None]) ** 2, axis=-1)

    def score_mu(self, y, mu, weights, params):
        e, _ = self._posterior_moments(y, mu, params)
        return weights * (y - e) / mu

    def obs_info_mu(self, y, mu, weights, params):
        _, v = self._posterior_moments(y, mu, params)
        return weights * (y - v) / (mu * mu)

    def info_mu(self, y, mu, weights, params):
        return weights / self.variance(mu, params)

    def validate(self, y, weights, label):
        y = np.asarray(y, dtype=float)
        bad = ~np.isfinite(y) | (y < 0) | (np.abs(y - np.round(y)) > 1e-8)
        if np.any(bad):
            i = int(np.flatnonzero(bad)[0])
            raise DataError(f"poilog response {label!r} must be non-negative integer counts; "
                            f"row {i} has {float(y[i])!r}")

    def initialize(self, y, weights):
        return np.asarray(y, dtype=float) + 0.1

    def variance(self, mu, params):
        """The mixture's variance, mu + mu^2 (E[f^2] - 1) with f the normalised factor."""
        lf = self.log_factors(params["sigma"])
        m2 = np.exp(logsumexp(2.0 * lf + LOG_WEIGHTS, axis=-1))
        return mu + mu * mu * (m2 - 1.0)

    def simulate(self, mu, weights, params, rng):
        s = params["sigma"]
        z = rng.standard_normal(np.shape(mu))
        return rng.poisson(mu * np.exp(s * z - 0.5 * s * s)).astype(float)


@hookimpl
def interlace_families():
    return [PoissonLognormalFamily]
