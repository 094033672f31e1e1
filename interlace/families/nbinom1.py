"""Negative binomial with linear variance (glmmTMB's nbinom1): Var(y) = mu (1 + phi)."""

from __future__ import annotations

import numpy as np
from scipy.special import gammaln

from interlace.families.base import Family, FamilyParameter, LogDensityDerivatives
from interlace.families.extended import PearsonPhiCounts
from interlace.families.special import count_polygamma_diff
from interlace.families.zero_part import CanHaveZeroPart


class NegativeBinomial1Family(PearsonPhiCounts, CanHaveZeroPart, Family):
    """NB1: y ~ NB(size = mu / phi, prob = 1 / (1 + phi)); ``phi`` as glmmTMB's sigma()."""
    closed_form_derivatives = True

    name = "nbinom1"
    phi_start_shift = -1.0  # Var / mu = 1 + phi
    mean_bounds = (0.0, None)  # mu -> 0 where every count is 0
    dispersion_parameter = "phi"
    zero_part = "inflate"
    aliases = ("nb1", "negativebinomial1")
    links = ("log", "sqrt", "identity")
    laplace_information = "observed"

    def __init__(self, phi: float | None = None, link=None) -> None:
        super().__init__(link=link, phi=phi)

    def default_parameters(self):
        return [FamilyParameter("phi", None, start=1.0, transform="log",
                                description="NB1 dispersion: Var = mu (1 + phi)")]

    def variance(self, mu, params):
        return mu * (1.0 + params["phi"])

    def log_zero_prob(self, mu, weights, params):
        return -mu / params["phi"] * np.log1p(params["phi"])

    def loglik(self, y, mu, weights, params):
        phi = params["phi"]
        r = mu / phi
        return weights * (gammaln(y + r) - gammaln(r) - gammaln(y + 1.0)
                          - r * np.log1p(phi) + y * (np.log(phi) - np.log1p(phi)))

    def score_mu(self, y, mu, weights, params):
        phi = params["phi"]
        return weights * (count_polygamma_diff(y, mu / phi, 0) - np.log1p(phi)) / phi

    def obs_info_mu(self, y, mu, weights, params):
        phi = params["phi"]
        return weights * -count_polygamma_diff(y, mu / phi, 1) / (phi * phi)

    def loglik_derivatives(self, y, mu, weights, params, wrt=(), third=False):
        """Closed forms with r = mu/phi and D_k = psi^(k)(y + r) - psi^(k)(r):
        d1 = (D0 - log(1 + phi))/phi, d2 = D1/phi^2, d3 = D2/phi^3; for phi (dr/dphi = -r/phi)
        dl = -r D0/phi + r log(1 + phi)/phi - r/(1 + phi) + y/(phi (1 + phi)),
        d2l/dmu dphi = (-r D1/phi - 1/(1 + phi))/phi - (D0 - log(1 + phi))/phi^2,
        d3l/dmu2 dphi = -r D2/phi^3 - 2 D1/phi^3 (all times the weights)."""
        phi = params["phi"]
        r = mu / phi
        D0 = count_polygamma_diff(y, r, 0)
        D1 = count_polygamma_diff(y, r, 1)
        D2 = count_polygamma_diff(y, r, 2) if third else None
        L = np.log1p(phi)
        out = LogDensityDerivatives(weights * (D0 - L) / phi, weights * D1 / (phi * phi))
        if third:
            out.d3 = weights * D2 / phi**3
        if "phi" in wrt:
            out.dp["phi"] = weights * (-r * D0 / phi + r * L / phi - r / (1.0 + phi)
                                       + y / (phi * (1.0 + phi)))
            out.dp1["phi"] = weights * ((-r * D1 / phi - 1.0 / (1.0 + phi)) / phi
                                        - (D0 - L) / (phi * phi))
            if third:
                out.dp2["phi"] = weights * (-r * D2 - 2.0 * D1) / phi**3
        return out

    def info_derivatives(self, y, mu, weights, params, wrt=()):
        info = self.info_mu(y, mu, weights, params)
        return -info / mu, ({"phi": -info / (1.0 + params["phi"])} if "phi" in wrt else {})

    def info_mu(self, y, mu, weights, params):
        # the quasi-likelihood weight 1 / Var (the exact Fisher information has no closed form)
        return weights / (mu * (1.0 + params["phi"]))

    def simulate(self, mu, weights, params, rng):
        phi = params["phi"]
        return rng.negative_binomial(mu / phi, 1.0 / (1.0 + phi)).astype(float)
