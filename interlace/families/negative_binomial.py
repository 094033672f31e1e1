"""Negative binomial (NB2, Var = mu + mu^2/theta), with theta fixed as in the seed."""

from __future__ import annotations

import numpy as np
from scipy.special import gammaln, xlogy

from interlace.families.base import ExponentialFamily, FamilyParameter, lognormal_latent_variance
from interlace.families.poisson import PoissonFamily


class NegativeBinomial2Family(ExponentialFamily):
    """NB2 with shape ``theta`` (lme4's glmer.nb / glmmTMB's nbinom2 parametrisation)."""

    name = "nbinom2"
    mean_bounds = (0.0, None)  # mu -> 0 where every count is 0
    dispersion_parameter = "theta"
    aliases = ("negativebinomial", "negative_binomial", "nb2")
    links = ("log", "sqrt", "identity")

    def __init__(self, theta: float | None = None, link=None) -> None:
        super().__init__(link=link, theta=theta)

    def default_parameters(self):
        return [FamilyParameter("theta", None, start=1.0, transform="log",
                                description="NB2 shape; smaller = more overdispersion")]

    def latent_variance(self, mean, params):
        """The lognormal approximation log(1 + Var(y) / mu²) at the null model's mean."""
        return lognormal_latent_variance(self, mean, params)

    def unit_variance(self, mu, params):
        return mu + mu * mu / params["theta"]

    def unit_variance_deriv(self, mu, params):
        return 1.0 + 2.0 * mu / params["theta"]

    def loglik(self, y, mu, weights, params):
        th = params["theta"]
        lp = (gammaln(y + th) - gammaln(th) - gammaln(y + 1.0) + th * np.log(th / (th + mu))
              + xlogy(y, mu / (th + mu)))
        return weights * lp

    def validate(self, y, weights, label):
        PoissonFamily.validate(self, y, weights, label)

    def initialize(self, y, weights):
        return y + 0.1

    def simulate(self, mu, weights, params, rng):
        th = params["theta"]
        return rng.negative_binomial(th, th / (th + mu)).astype(float)
