"""Generalised Poisson family (glmmTMB's ``genpois``): mean mu, Var(y) = phi mu.

Consul's distribution P(y) = theta (theta + lambda y)^(y - 1) exp(-theta - lambda y) / y! with
theta = mu / sqrt(phi) and lambda = 1 - 1 / sqrt(phi) (glmmTMB's parametrisation, its
``betad`` = log phi). phi = 1 is the Poisson distribution, phi > 1 overdispersion; phi < 1
gives Consul's under-dispersed form, whose density is -inf where theta + lambda y <= 0.
"""

from __future__ import annotations

import numpy as np
from scipy.special import gammaln

from interlace.families.base import (
    Family,
    FamilyParameter,
    FromDerivatives,
    LogDensityDerivatives,
)
from interlace.families.extended import PearsonPhiCounts
from interlace.families.zero_part import CanHaveZeroPart


class GeneralizedPoissonFamily(PearsonPhiCounts, FromDerivatives, CanHaveZeroPart, Family):
    """Generalised Poisson: E(y) = mu, Var(y) = phi mu (glmmTMB's ``genpois``)."""
    closed_form_derivatives = True

    name = "genpois"
    phi_start_bounds = (1.05, 1e3)  # Var / mu = phi
    aliases = ("generalized_poisson", "generalised_poisson")
    links = ("log", "sqrt", "identity")
    dispersion_parameter = "phi"
    laplace_information = "observed"
    mean_bounds = (0.0, None)
    zero_part = "inflate"

    def __init__(self, phi: float | None = None, link=None) -> None:
        super().__init__(link=link, phi=phi)

    def default_parameters(self):
        return [FamilyParameter("phi", None, start=1.5, transform="log",
                                description="dispersion: Var(y) = phi mu")]

    @staticmethod
    def _inner(y, mu, s):
        """theta + lambda y = mu / s + y (1 - 1/s), with s = sqrt(phi)."""
        return mu / s + y * (1.0 - 1.0 / s)

    def loglik_kernel(self, y, mu, weights, params):
        s = np.sqrt(params["phi"])
        inner = self._inner(y, mu, s)
        with np.errstate(divide="ignore", invalid="ignore"):
            lp = np.log(mu / s) + (y - 1.0) * np.log(inner) - inner
        lp = np.where(y == 0, -mu / s, lp)  # (y - 1) log(theta) + log(theta) = 0 exactly
        return weights * np.where((inner > 0) | (y == 0), lp, -np.inf)

    def loglik_constant(self, y, weights, params):
        return -float(np.sum(weights * gammaln(y + 1.0)))

    def loglik(self, y, mu, weights, params):
        return self.loglik_kernel(y, mu, weights, params) - weights * gammaln(y + 1.0)

    def log_zero_prob(self, mu, weights, params):
        return -mu / np.sqrt(params["phi"])

    def loglik_derivatives(self, y, mu, weights, params, wrt=(), third=False):
        """Closed forms with s = sqrt(phi) and c = theta + lambda y: d1 = 1/mu + (y - 1)/(s c)
        - 1/s, d2 = -1/mu^2 - (y - 1)/(s c)^2, d3 = 2/mu^3 + 2 (y - 1)/(s c)^3; in s:
        dl/ds = -1/s + (y - 1)(y - mu)/(s^2 c) + (mu - y)/s^2, d2l/dmu ds = 1/s^2 - y (y - 1)/
        (s c)^2, d3l/dmu2 ds = 2 y (y - 1)/(s c)^3; d/dphi = d/ds / (2 s). Zeros: l = -mu/s."""
        phi = params["phi"]
        s = np.sqrt(phi)
        c = self._inner(y, mu, s)
        zero = y == 0
        sc = np.where(zero, 1.0, s * c)
        ym1 = np.where(zero, 0.0, y - 1.0)
        d1 = np.where(zero, -1.0 / s, 1.0 / mu + ym1 / sc - 1.0 / s)
        d2 = np.where(zero, 0.0, -1.0 / (mu * mu) - ym1 / (sc * sc))
        out = LogDensityDerivatives(weights * d1, weights * d2)
        if third:
            out.d3 = weights * np.where(zero, 0.0, 2.0 / mu**3 + 2.0 * ym1 / sc**3)
        if "phi" in wrt:
            ds = 1.0 / (2.0 * s)
            lsc = np.where(zero, mu / (s * s),
                           -1.0 / s + ym1 * (y - mu) / (s * sc) + (mu - y) / (s * s))
            out.dp["phi"] = weights * lsc * ds
            out.dp1["phi"] = weights * (1.0 / (s * s) - y * ym1 / (sc * sc)) * ds
            if third:
                out.dp2["phi"] = weights * np.where(zero, 0.0, 2.0 * y * ym1 / sc**3) * ds
        return out

    def info_mu(self, y, mu, weights, params):
        """Expected information: 1/(phi mu) + 2 lambda^2 / (mu (mu + 2 lambda s))."""
        phi = params["phi"]
        s = np.sqrt(phi)
        lam = 1.0 - 1.0 / s
        return weights * (1.0 / (phi * mu) + 2.0 * lam * lam / (mu * (mu + 2.0 * lam * s)))

    def variance(self, mu, params):
        return params["phi"] * mu

    def simulate(self, mu, weights, params, rng):
        """Draws by inversion of the cumulative distribution on a grid (phi >= 1)."""
        mu = np.asarray(mu, dtype=float)
        phi = np.broadcast_to(params["phi"], mu.shape)
        top = int(np.max(mu + 12.0 * np.sqrt(phi * mu) * np.sqrt(phi) + 20.0))
        grid = np.arange(top + 1, dtype=float)[None, :]
        lp = self.loglik(grid, mu[:, None], 1.0, {"phi": phi[:, None]})
        cdf = np.cumsum(np.exp(lp), axis=1)
        u = rng.random(mu.shape) * cdf[:, -1]
        return np.sum(cdf < u[:, None], axis=1).astype(float)
