"""The LMM's own response model: y given the random effects is normal with the identity link.

The linear mixed model is its own model kind, so it names no family plugin. What it needs of a
response model is small: the design's checks (``name``, ``validate``, ``decode_response``), the
result's identity inverse link for predictions, the normal variance for Pearson residuals, the
normal log-density for deviance residuals and normal draws for ``simulate``; and, for the
conditional variances of :mod:`interlace.plotting` (which run the GLMM core's PIRLS at the
estimates), the normal score and information. ``NormalResponse`` provides these; it is no family
plugin (nothing registers it) and decodes its response with the family contract's
:func:`~interlace.families.decoding.numeric_response`.
"""

from __future__ import annotations

import numpy as np

from interlace.errors import DataError
from interlace.families.base import (
    DecodedResponse,
    Family,
    FamilyParameter,
    Response,
    numeric_response,
)
from interlace.links.base import Link

_LOG2PI = float(np.log(2.0 * np.pi))


class IdentityMap(Link):
    """The identity link of the LMM's mean: eta = mu."""

    name = "identity"

    def link(self, mu: np.ndarray) -> np.ndarray:
        """mu itself."""
        return np.asarray(mu, dtype=float)

    def inverse(self, eta: np.ndarray) -> np.ndarray:
        """eta itself."""
        return np.asarray(eta, dtype=float)

    def mu_eta(self, eta: np.ndarray) -> np.ndarray:
        """d mu / d eta = 1."""
        return np.ones_like(eta, dtype=float)

    def d2mu_eta(self, eta: np.ndarray) -> np.ndarray:
        """d^2 mu / d eta^2 = 0."""
        return np.zeros_like(eta, dtype=float)

    def valid_eta(self, eta: np.ndarray) -> bool:
        """Every eta is valid when finite."""
        return bool(np.all(np.isfinite(eta)))

    def __repr__(self) -> str:
        return "IdentityMap()"


class NormalResponse(Family):
    """y | b ~ N(mu, sigma^2 / weight) with mu = eta: the LMM's response model.

    ``name`` is "gaussian" (the name results report, as lme4's ``family(fit)``); the residual
    standard deviation is the parameter ``sigma``.
    """

    name = "gaussian"
    canonical_link = "identity"
    scale_parameter = "sigma"
    dispersion_parameter = "sigma"

    def __init__(self) -> None:  # noqa: D107 - the link is the LMM's own, not a plugin
        self.link = IdentityMap()
        self.parameters = {"sigma": FamilyParameter("sigma", None, start=1.0, transform="log",
                                                    description="residual standard deviation")}

    def is_normal_linear(self) -> bool:
        """Always: the model is a linear mixed model."""
        return True

    def latent_variance(self, mean, params) -> float:
        """sigma²: the residual variance of Nakagawa's R² and the ICC."""
        return float(params["sigma"]) ** 2

    # -- the design's checks ----------------------------------------------------------------
    def decode_response(self, response: Response) -> DecodedResponse:
        """The response as one number per row (the design's response-decoding hook)."""
        return numeric_response(response, self.name)

    def validate(self, y: np.ndarray, weights: np.ndarray, label: str) -> None:
        """Raise DataError when the response has non-finite values."""
        if not np.all(np.isfinite(y)):
            raise DataError(f"response {label!r} has non-finite values")

    def initialize(self, y: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """The starting mean: y."""
        return np.asarray(y, dtype=float)

    # -- the distribution ---------------------------------------------------------------
    def mean(self, mu: np.ndarray, params: dict[str, float]) -> np.ndarray:
        """E[y] = mu."""
        return mu

    def variance(self, mu: np.ndarray, params: dict[str, float]) -> np.ndarray:
        """Var(y) per unit weight: sigma^2."""
        return params["sigma"] ** 2 * np.ones_like(mu)

    def loglik(self, y: np.ndarray, mu: np.ndarray, weights: np.ndarray,
               params: dict[str, float]) -> np.ndarray:
        """The normal log-density per row."""
        s2 = params["sigma"] ** 2
        return 0.5 * (np.log(weights) - _LOG2PI - np.log(s2)) - 0.5 * weights * (y - mu) ** 2 / s2

    def loglik_kernel(self, y, mu, weights, params) -> np.ndarray:
        """The whole log-density (PIRLS's mu-dependent part)."""
        return self.loglik(y, mu, weights, params)

    def loglik_constant(self, y, weights, params) -> float:
        """No data-only term is split off."""
        return 0.0

    def score_mu(self, y, mu, weights, params) -> np.ndarray:
        """d log-density / d mu."""
        return weights * (y - mu) / (params["sigma"] ** 2 * np.ones_like(mu))

    def info_mu(self, y, mu, weights, params) -> np.ndarray:
        """Fisher information in mu."""
        return weights / (params["sigma"] ** 2 * np.ones_like(mu))

    def obs_info_mu(self, y, mu, weights, params) -> np.ndarray:
        """Observed information in mu (equal to the Fisher information)."""
        return self.info_mu(y, mu, weights, params)

    def simulate(self, mu: np.ndarray, weights: np.ndarray, params: dict[str, float],
                 rng: np.random.Generator) -> np.ndarray:
        """Normal draws around mu."""
        return mu + rng.standard_normal(mu.shape) * params["sigma"] / np.sqrt(weights)

    def __repr__(self) -> str:
        return "NormalResponse(link='identity')"


