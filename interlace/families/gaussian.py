"""Gaussian family with residual standard deviation ``sigma`` (estimated unless given)."""

from __future__ import annotations

import numpy as np

from interlace.families.base import ExponentialFamily, FamilyParameter, require_finite

_LOG2PI = float(np.log(2.0 * np.pi))


class GaussianFamily(ExponentialFamily):
    name = "gaussian"
    dispersion_parameter = "sigma"
    aliases = ("normal",)
    canonical_link = "identity"
    links = ("identity", "log", "inverse")

    def __init__(self, link=None, sigma: float | None = None) -> None:
        super().__init__(link=link, sigma=sigma)

    def default_parameters(self):
        return [FamilyParameter("sigma", None, start=1.0, transform="log",
                                description="residual standard deviation")]

    scale_parameter = "sigma"

    def is_normal_linear(self) -> bool:
        return self.link.name == "identity" and not self.parameters["sigma"].fixed

    def latent_variance(self, mean, params):
        """sigma² with the identity link (the LMM's residual variance)."""
        return params["sigma"] ** 2 if self.link.name == "identity" else None

    def dispersion(self, params):
        return params["sigma"] ** 2

    def unit_variance(self, mu, params):
        return np.ones_like(mu)

    def unit_variance_deriv(self, mu, params):
        return np.zeros_like(mu)

    def loglik(self, y, mu, weights, params):
        s2 = params["sigma"] ** 2
        return 0.5 * (np.log(weights) - _LOG2PI - np.log(s2)) - 0.5 * weights * (y - mu) ** 2 / s2

    def validate(self, y, weights, label):
        require_finite(y, label)

    def initialize(self, y, weights):
        if self.link.name == "log":
            return np.maximum(y, 1e-3 * max(1.0, float(np.mean(np.abs(y)))))
        return np.asarray(y, dtype=float)

    def simulate(self, mu, weights, params, rng):
        return mu + rng.standard_normal(mu.shape) * params["sigma"] / np.sqrt(weights)
