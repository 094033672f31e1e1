"""Student t family (glmmTMB's ``t_family``): y = mu + sigma t_df.

log p(y) = log Gamma((df + 1)/2) - log Gamma(df/2) - log(df pi)/2 - log sigma
           - (df + 1)/2 log(1 + z^2/df),  z = (y - mu)/sigma.

``sigma`` (glmmTMB's ``sigma()``, ``betad`` = log sigma) and the degrees of freedom ``df``
(glmmTMB's ``psi`` = log df) are estimated unless given; ``TFamily(df=4)`` fixes df as
glmmTMB's ``map = list(psi = factor(NA))`` does.
"""

from __future__ import annotations

import numpy as np
from scipy.special import gammaln, psi

from interlace.families.base import Family, FamilyParameter, LogDensityDerivatives, require_finite

_LOGPI = float(np.log(np.pi))


class TFamily(Family):
    """Location-scale Student t: E(y) = mu (df > 1), Var(y) = sigma^2 df/(df - 2) (df > 2)."""
    closed_form_derivatives = True

    name = "t"
    aliases = ("t_family", "student", "student_t")
    links = ("identity", "log", "inverse")
    dispersion_parameter = "sigma"
    laplace_information = "observed"

    def __init__(self, sigma: float | None = None, df: float | None = None, link=None) -> None:
        super().__init__(link=link, sigma=sigma, df=df)

    def default_parameters(self):
        return [FamilyParameter("sigma", None, start=1.0, transform="log",
                                description="scale: y = mu + sigma t_df"),
                FamilyParameter("df", None, start=5.0, transform="log",
                                description="degrees of freedom")]

    def loglik(self, y, mu, weights, params):
        s, nu = params["sigma"], params["df"]
        z = (y - mu) / s
        return weights * (gammaln(0.5 * (nu + 1.0)) - gammaln(0.5 * nu) - 0.5 * (np.log(nu) + _LOGPI)
                          - np.log(s) - 0.5 * (nu + 1.0) * np.log1p(z * z / nu))

    def loglik_derivatives(self, y, mu, weights, params, wrt=(), third=False):
        """With z = (y - mu)/sigma and q = df + z^2: d1 = (df + 1) z/(sigma q),
        d2 = -(df + 1)(df - z^2)/(sigma q)^2, d3 = -2 (df + 1) z (3 df - z^2)/(sigma q)^3;
        sigma: dl = -1/sigma + (df + 1) z^2/(sigma q), d2l/dmu ds = -2 df (df + 1) z/(sigma^2
        q^2), d3l/dmu2 ds = 2 df (df + 1)(df - 3 z^2)/(sigma^3 q^3); df: dl = (psi((df + 1)/2)
        - psi(df/2) - 1/df - log(q/df))/2 + (df + 1) z^2/(2 q df), d2l/dmu ddf = z (z^2 - 1)/
        (sigma q^2), d3l/dmu2 ddf = (z^4 - 3 df z^2 - 3 z^2 + df)/(sigma^2 q^3)."""
        s, nu = params["sigma"], params["df"]
        z = (y - mu) / s
        z2 = z * z
        q = nu + z2
        out = LogDensityDerivatives(weights * (nu + 1.0) * z / (s * q),
                                    -weights * (nu + 1.0) * (nu - z2) / (s * q) ** 2)
        if third:
            out.d3 = -weights * 2.0 * (nu + 1.0) * z * (3.0 * nu - z2) / (s * q) ** 3
        if "sigma" in wrt:
            out.dp["sigma"] = weights * (-1.0 / s + (nu + 1.0) * z2 / (s * q))
            out.dp1["sigma"] = -weights * 2.0 * nu * (nu + 1.0) * z / (s * s * q * q)
            if third:
                out.dp2["sigma"] = weights * 2.0 * nu * (nu + 1.0) * (nu - 3.0 * z2) / (s * q) ** 3
        if "df" in wrt:
            out.dp["df"] = weights * (0.5 * (psi(0.5 * (nu + 1.0)) - psi(0.5 * nu) - 1.0 / nu
                                             - np.log(q / nu)) + (nu + 1.0) * z2 / (2.0 * q * nu))
            out.dp1["df"] = weights * z * (z2 - 1.0) / (s * q * q)
            if third:
                out.dp2["df"] = weights * (z2 * z2 - 3.0 * nu * z2 - 3.0 * z2 + nu) / (s * s * q**3)
        return out

    def score_mu(self, y, mu, weights, params):
        s, nu = params["sigma"], params["df"]
        z = (y - mu) / s
        return weights * (nu + 1.0) * z / (s * (nu + z * z))

    def obs_info_mu(self, y, mu, weights, params):
        s, nu = params["sigma"], params["df"]
        z2 = ((y - mu) / s) ** 2
        return weights * (nu + 1.0) * (nu - z2) / (s * (nu + z2)) ** 2

    def info_mu(self, y, mu, weights, params):
        """Fisher information in mu: (df + 1) / ((df + 3) sigma^2)."""
        s, nu = params["sigma"], params["df"]
        return weights * (nu + 1.0) / ((nu + 3.0) * s * s) + 0.0 * mu

    def info_derivatives(self, y, mu, weights, params, wrt=()):
        s, nu = params["sigma"], params["df"]
        out = {"sigma": -2.0 * weights * (nu + 1.0) / ((nu + 3.0) * s**3) + 0.0 * mu,
               "df": weights * 2.0 / ((nu + 3.0) ** 2 * s * s) + 0.0 * mu}
        return np.zeros_like(mu), {k: v for k, v in out.items() if k in wrt}

    def variance(self, mu, params):
        nu = params["df"]
        return np.broadcast_to(params["sigma"] ** 2 * np.where(nu > 2, nu / np.maximum(nu - 2, 1e-12),
                                                               np.inf), np.shape(mu)).astype(float)

    def validate(self, y, weights, label):
        require_finite(y, label)

    def initialize(self, y, weights):
        if self.link.name == "identity":
            return np.asarray(y, dtype=float)
        return np.maximum(y, 1e-3 * max(1.0, float(np.mean(np.abs(y)))))

    def start_parameters(self, design, beta0):
        """sigma from the GLM's residuals (their median absolute deviation, robust to the
        heavy tails)."""
        if self.parameters["sigma"].fixed:
            return {}
        mu = self.link.inverse(design.offset + design.X @ beta0)
        mad = float(np.median(np.abs(design.y - mu))) * 1.4826
        return {"sigma": max(mad, 1e-6 * max(1.0, float(np.std(design.y))))}

    def simulate(self, mu, weights, params, rng):
        return mu + params["sigma"] * rng.standard_t(params["df"], np.shape(mu))
