"""Beta family (glmmTMB's beta_family): y ~ Beta(mu phi, (1 - mu) phi), precision phi."""

from __future__ import annotations

import numpy as np
from scipy.special import gammaln, polygamma, psi

from interlace.errors import DataError
from interlace.families.base import Family, FamilyParameter, require_finite


def beta_loglik(y, mu, phi):
    a, b = mu * phi, (1.0 - mu) * phi
    return (gammaln(phi) - gammaln(a) - gammaln(b) + (a - 1.0) * np.log(y)
            + (b - 1.0) * np.log1p(-y))


def beta_score(y, mu, phi):
    return phi * (psi((1.0 - mu) * phi) - psi(mu * phi) + np.log(y) - np.log1p(-y))


def beta_info(mu, phi):
    return phi * phi * (polygamma(1, mu * phi) + polygamma(1, (1.0 - mu) * phi))


class BetaFamily(Family):
    """Var(y) = mu (1 - mu) / (1 + phi); observed and expected information in mu agree."""

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
