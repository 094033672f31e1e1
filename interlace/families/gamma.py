"""Gamma family (glmmTMB's Gamma): shape estimated; glmmTMB's sigma() is 1 / sqrt(shape)."""

from __future__ import annotations

import numpy as np
from scipy.special import gammaln, psi

from interlace.errors import DataError
from interlace.families.base import ExponentialFamily, FamilyParameter, require_finite
from interlace.families.zero_part import CanHaveZeroPart


class GammaFamily(CanHaveZeroPart, ExponentialFamily):
    """y ~ Gamma(shape, scale = mu / shape): Var(y) = mu^2 / shape."""
    closed_form_derivatives = True

    name = "gamma"
    dispersion_parameter = "shape"
    zero_part = "hurdle"
    aliases = ("Gamma",)
    links = ("log", "inverse", "identity")
    canonical_link = "inverse"
    laplace_information = "observed"

    def __init__(self, link=None, shape: float | None = None) -> None:
        super().__init__(link=link, shape=shape)

    def default_parameters(self):
        return [FamilyParameter("shape", None, start=1.0, transform="log",
                                description="Gamma shape (glmmTMB sigma = 1/sqrt(shape))")]

    def dispersion(self, params):
        return 1.0 / params["shape"]

    def unit_variance(self, mu, params):
        return mu * mu

    def unit_variance_deriv(self, mu, params):
        return 2.0 * mu

    def unit_variance_deriv2(self, mu, params):
        return np.full_like(mu, 2.0)

    def loglik_derivatives(self, y, mu, weights, params, wrt=(), third=False):
        """Closed forms; shape k: dl = log(k y / mu) + 1 - y/mu - psi(k),
        d2l/dmu dk = (y - mu)/mu^2, d3l/dmu2 dk = 1/mu^2 - 2y/mu^3 (times the weights)."""
        out = self.mu_derivatives(y, mu, weights, params, third)
        if "shape" in wrt:
            k = params["shape"]
            out.dp["shape"] = weights * (np.log(k * y / mu) + 1.0 - y / mu - psi(k))
            out.dp1["shape"] = weights * (y - mu) / (mu * mu)
            if third:
                out.dp2["shape"] = weights * (1.0 / (mu * mu) - 2.0 * y / mu**3)
        return out

    def info_derivatives(self, y, mu, weights, params, wrt=()):
        k = params["shape"]
        info = weights * k / (mu * mu)
        return -2.0 * info / mu, ({"shape": weights / (mu * mu)} if "shape" in wrt else {})

    def loglik(self, y, mu, weights, params):
        k = params["shape"]
        ok = mu > 0  # inverse and identity links can leave the support while optimizing
        m = np.where(ok, mu, 1.0)
        lp = k * np.log(k * y / m) - k * y / m - np.log(y) - gammaln(k)
        return weights * np.where(ok, lp, -np.inf)

    def validate(self, y, weights, label):
        require_finite(y, label)
        bad = y <= 0
        if np.any(bad):
            i = int(np.flatnonzero(bad)[0])
            raise DataError(
                f"gamma response {label!r} must be positive (valid range y > 0); row {i} has "
                f"{float(y[i])!r} ({int(bad.sum())} such value(s) in all)"
            )

    def initialize(self, y, weights):
        return np.asarray(y, dtype=float)

    def start_parameters(self, design, beta0):
        y = design.y
        cv2 = float(np.var(y) / max(np.mean(y) ** 2, 1e-300))
        return {} if self.parameters["shape"].fixed else {"shape": 1.0 / max(cv2, 1e-3)}

    def simulate(self, mu, weights, params, rng):
        k = params["shape"]
        return rng.gamma(k, mu / k)
