"""The generalised Poisson family, registered with interlace through one hook.

Consul's generalised Poisson distribution,

    P(y) = theta (theta + lambda y)^(y - 1) exp(-theta - lambda y) / y!,   y = 0, 1, 2, ...

in glmmTMB's ``genpois`` parametrisation by its mean ``mu`` and dispersion ``phi``:
``theta = mu / sqrt(phi)`` and ``lambda = 1 - 1 / sqrt(phi)``, so that E(y) = mu and
Var(y) = phi * mu. ``phi = 1`` is the Poisson distribution; ``phi > 1`` is overdispersion.
(``phi < 1`` gives Consul's truncated under-dispersed form, whose probabilities do not sum
exactly to one; the density is then -inf where ``theta + lambda y <= 0``.)

Only ``loglik`` and ``validate`` are required by the contract: interlace differentiates the
density numerically for the score. ``info_mu`` (the expected information, the weight of
penalised IRLS and of the Laplace log-determinant), ``variance`` (for Pearson residuals) and
``simulate`` (for ``result.simulate``) are given because they have closed forms.
"""

from __future__ import annotations

import numpy as np
from scipy.special import gammaln

from interlace import DataError, Family, FamilyParameter, hookimpl


class GeneralizedPoissonFamily(Family):
    """Generalised Poisson: E(y) = mu, Var(y) = phi * mu."""

    name = "genpois"
    aliases = ("generalized_poisson", "generalised_poisson")
    links = ("log", "sqrt", "identity")  # the first is the default

    def __init__(self, phi: float | None = None, link=None) -> None:
        super().__init__(link=link, phi=phi)

    def default_parameters(self):
        return [FamilyParameter("phi", None, start=1.5, transform="log",
                                description="dispersion: Var(y) = phi * mu")]

    @property
    def has_dispersion(self) -> bool:
        return False  # phi is a family parameter, not a residual variance

    def loglik(self, y, mu, weights, params):
        s = np.sqrt(params["phi"])
        theta = mu / s
        lam = 1.0 - 1.0 / s
        inner = theta + lam * y
        with np.errstate(divide="ignore", invalid="ignore"):
            lp = (np.log(theta) + (y - 1.0) * np.log(inner) - inner - gammaln(y + 1.0))
        lp = np.where(y == 0, -theta, lp)  # (y - 1) log(theta) + log(theta) = 0 exactly
        lp = np.where((inner > 0) | (y == 0), lp, -np.inf)
        return weights * lp

    def validate(self, y, weights, label):
        y = np.asarray(y, dtype=float)
        bad = ~np.isfinite(y) | (y < 0) | (np.abs(y - np.round(y)) > 1e-8)
        if np.any(bad):
            i = int(np.flatnonzero(bad)[0])
            raise DataError(f"genpois response {label!r} must be non-negative integer counts; "
                            f"row {i} has {float(y[i])!r}")

    def initialize(self, y, weights):
        return np.asarray(y, dtype=float) + 0.1

    def info_mu(self, y, mu, weights, params):
        """Expected (Fisher) information in mu: 1 / (phi mu) + 2 lambda^2 / (mu (mu + 2 lambda s)).

        Without this override interlace would use the observed information, differentiated
        numerically; the Laplace approximation in lme4's sense weights by the expected one.
        """
        s = np.sqrt(params["phi"])
        lam = 1.0 - 1.0 / s
        return weights * (1.0 / (params["phi"] * mu) + 2.0 * lam * lam / (mu * (mu + 2.0 * lam * s)))

    def variance(self, mu, params):
        return params["phi"] * mu

    def simulate(self, mu, weights, params, rng):
        """Draws by inversion of the cumulative distribution (phi >= 1)."""
        mu = np.asarray(mu, dtype=float)
        sd = np.sqrt(params["phi"] * mu)
        top = int(np.max(mu + 12 * sd + 20))
        grid = np.arange(top + 1, dtype=float)
        out = np.empty_like(mu)
        for i, m in enumerate(mu):
            p = np.exp(self.loglik(grid, np.full_like(grid, m), np.ones_like(grid), params))
            cdf = np.cumsum(p)
            out[i] = float(np.searchsorted(cdf, rng.uniform() * cdf[-1]))
        return out


@hookimpl
def interlace_families():
    return [GeneralizedPoissonFamily]
