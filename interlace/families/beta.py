"""Beta family (glmmTMB's beta_family): y ~ Beta(mu phi, (1 - mu) phi), precision phi."""

from __future__ import annotations

import numpy as np
from scipy.special import gammaln, psi

from interlace.errors import DataError
from interlace.families.base import (
    Family,
    FamilyParameter,
    LogDensityDerivatives,
    require_finite,
)
from interlace.families.special import tetragamma, trigamma


def beta_loglik(y, mu, phi):
    a, b = mu * phi, (1.0 - mu) * phi
    return (gammaln(phi) - gammaln(a) - gammaln(b) + (a - 1.0) * np.log(y)
            + (b - 1.0) * np.log1p(-y))


def beta_score(y, mu, phi):
    return phi * (psi((1.0 - mu) * phi) - psi(mu * phi) + np.log(y) - np.log1p(-y))


def beta_info(mu, phi):
    return phi * phi * (trigamma(mu * phi) + trigamma((1.0 - mu) * phi))


def beta_derivatives(y, mu, phi, with_phi: bool, third: bool) -> LogDensityDerivatives:
    """Unweighted closed forms with a = mu phi, b = (1 - mu) phi: d1 = phi (psi(b) - psi(a)
    + log(y / (1 - y))), d2 = -phi^2 (psi'(a) + psi'(b)), d3 = -phi^3 (psi''(a) - psi''(b));
    for phi: dl = psi(phi) - mu psi(a) - (1 - mu) psi(b) + mu log y + (1 - mu) log(1 - y),
    d2l/dmu dphi = d1/phi + phi ((1 - mu) psi'(b) - mu psi'(a)),
    d3l/dmu2 dphi = 2 d2/phi - phi^2 (mu psi''(a) + (1 - mu) psi''(b))."""
    a, b = mu * phi, (1.0 - mu) * phi
    ly, l1y = np.log(y), np.log1p(-y)
    pa, pb = psi(a), psi(b)
    ta, tb = trigamma(a), trigamma(b)
    d1 = phi * (pb - pa + ly - l1y)
    d2 = -phi * phi * (ta + tb)
    out = LogDensityDerivatives(d1, d2)
    qa = qb = None
    if third:
        qa, qb = tetragamma(a), tetragamma(b)
        out.d3 = -phi**3 * (qa - qb)
    if with_phi:
        out.dp["phi"] = psi(phi) - mu * pa - (1.0 - mu) * pb + mu * ly + (1.0 - mu) * l1y
        out.dp1["phi"] = d1 / phi + phi * ((1.0 - mu) * tb - mu * ta)
        if third:
            out.dp2["phi"] = 2.0 * d2 / phi - phi * phi * (mu * qa + (1.0 - mu) * qb)
    return out


def scaled(d: LogDensityDerivatives, w) -> LogDensityDerivatives:
    """Every entry of ``d`` times ``w`` (the prior weights)."""
    return LogDensityDerivatives(
        w * d.d1, w * d.d2, None if d.d3 is None else w * d.d3,
        {k: w * v for k, v in d.dp.items()}, {k: w * v for k, v in d.dp1.items()},
        {k: w * v for k, v in d.dp2.items()})


class BetaFamily(Family):
    """Var(y) = mu (1 - mu) / (1 + phi); observed and expected information in mu agree."""
    closed_form_derivatives = True

    name = "beta"
    dispersion_parameter = "phi"
    aliases = ("beta_family",)
    links = ("logit", "probit", "cloglog")
    laplace_information = "observed"

    def __init__(self, link=None, phi: float | None = None) -> None:
        super().__init__(link=link, phi=phi)

    def default_parameters(self):
        return [FamilyParameter("phi", None, start=1.0, transform="log",
                                description="Beta precision; Var = mu(1-mu)/(1+phi)")]

    def variance(self, mu, params):
        return mu * (1.0 - mu) / (1.0 + params["phi"])

    def loglik(self, y, mu, weights, params):
        return weights * beta_loglik(y, mu, params["phi"])

    def score_mu(self, y, mu, weights, params):
        return weights * beta_score(y, mu, params["phi"])

    def info_mu(self, y, mu, weights, params):
        return weights * beta_info(mu, params["phi"])

    def obs_info_mu(self, y, mu, weights, params):
        return weights * beta_info(mu, params["phi"])

    def loglik_derivatives(self, y, mu, weights, params, wrt=(), third=False):
        return scaled(beta_derivatives(y, mu, params["phi"], "phi" in wrt, third), weights)

    def info_derivatives(self, y, mu, weights, params, wrt=()):
        phi = params["phi"]
        d = beta_derivatives(0.5, mu, phi, "phi" in wrt, True)  # info = -d2, free of y
        return -weights * d.d3, ({"phi": -weights * d.dp2["phi"]} if "phi" in wrt else {})

    def validate(self, y, weights, label):
        require_finite(y, label)
        bad = (y <= 0) | (y >= 1)
        if np.any(bad):
            i = int(np.flatnonzero(bad)[0])
            hint = (" (the data hold exact 0s or 1s: use the zero-one-inflated beta family "
                    "'zoib')" if np.any((y == 0) | (y == 1)) else "")
            raise DataError(
                f"beta response {label!r} must lie strictly inside (0, 1); row {i} has "
                f"{float(y[i])!r} ({int(bad.sum())} such value(s) in all){hint}"
            )

    def initialize(self, y, weights):
        return np.clip((y * (len(y) - 1) + 0.5) / len(y), 1e-4, 1 - 1e-4)

    def start_parameters(self, design, beta0):
        if self.parameters["phi"].fixed:
            return {}
        y = design.y
        m, v = float(np.mean(y)), float(np.var(y))
        return {"phi": float(np.clip(m * (1 - m) / max(v, 1e-12) - 1.0, 0.5, 1e4))}

    def simulate(self, mu, weights, params, rng):
        phi = params["phi"]
        return rng.beta(mu * phi, (1.0 - mu) * phi)
