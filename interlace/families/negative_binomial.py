"""Negative binomial (NB2, Var = mu + mu^2/theta), with theta fixed as in the seed."""

from __future__ import annotations

import numpy as np
from scipy.special import gammaln, xlogy

from interlace.families.base import ExponentialFamily, FamilyParameter, lognormal_latent_variance
from interlace.families.poisson import PoissonFamily
from interlace.families.special import count_polygamma_diff
from interlace.families.zero_part import CanHaveZeroPart


class NegativeBinomial2Family(CanHaveZeroPart, ExponentialFamily):
    """NB2 with shape ``theta`` (lme4's glmer.nb / glmmTMB's nbinom2 parametrisation)."""
    closed_form_derivatives = True

    name = "nbinom2"
    mean_bounds = (0.0, None)  # mu -> 0 where every count is 0
    dispersion_parameter = "theta"
    zero_part = "inflate"
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

    def unit_variance_deriv2(self, mu, params):
        return np.broadcast_to(2.0 / params["theta"], np.shape(mu)).astype(float)

    def loglik_derivatives(self, y, mu, weights, params, wrt=(), third=False):
        """Closed forms; theta: dl = psi(y + th) - psi(th) + log th + 1 - log(th + mu)
        - (y + th)/(th + mu), d2l/dmu dth = (y - mu)/(th + mu)^2,
        d3l/dmu2 dth = (mu - th - 2y)/(th + mu)^3 (times the weights)."""
        out = self.mu_derivatives(y, mu, weights, params, third)
        if "theta" in wrt:
            th = params["theta"]
            tm = th + mu
            out.dp["theta"] = weights * (count_polygamma_diff(y, th, 0) + np.log(th) + 1.0
                                         - np.log(tm) - (y + th) / tm)
            out.dp1["theta"] = weights * (y - mu) / (tm * tm)
            if third:
                out.dp2["theta"] = weights * (mu - th - 2.0 * y) / tm**3
        return out

    def info_derivatives(self, y, mu, weights, params, wrt=()):
        th = params["theta"]
        V = mu + mu * mu / th
        info = weights / V
        dmu = -info * (1.0 + 2.0 * mu / th) / V
        return dmu, ({"theta": info * mu * mu / (th * th * V)} if "theta" in wrt else {})

    def loglik(self, y, mu, weights, params):
        th = params["theta"]
        lp = (gammaln(y + th) - gammaln(th) - gammaln(y + 1.0) + th * np.log(th / (th + mu))
              + xlogy(y, mu / (th + mu)))
        return weights * lp

    def loglik_kernel(self, y, mu, weights, params):
        th = params["theta"]
        return weights * (th * np.log(th / (th + mu)) + xlogy(y, mu / (th + mu)))

    def loglik_constant(self, y, weights, params):
        th = params["theta"]
        return float(np.sum(weights * (gammaln(y + th) - gammaln(th) - gammaln(y + 1.0))))

    def log_zero_prob(self, mu, weights, params):
        th = params["theta"]
        return th * np.log(th / (th + mu))

    def validate(self, y, weights, label):
        PoissonFamily.validate(self, y, weights, label)

    def initialize(self, y, weights):
        return y + 0.1

    def simulate(self, mu, weights, params, rng):
        th = params["theta"]
        return rng.negative_binomial(th, th / (th + mu)).astype(float)
