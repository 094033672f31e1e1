"""Negative binomial with linear variance (glmmTMB's nbinom1): Var(y) = mu (1 + phi)."""

from __future__ import annotations

import numpy as np
from scipy.special import gammaln, polygamma, psi

from interlace.families.base import Family, FamilyParameter
from interlace.families.extended import validate_counts

_SMALL = 64  # below this largest count, finite sums beat the polygamma functions


def _psi_diffs(y, r, order):
    """psi(y + r) - psi(r) (order 0) or psi'(y + r) - psi'(r) (order 1), y integer counts:
    sum_{k < y} 1/(r + k) and -sum_{k < y} 1/(r + k)^2 when the counts are small."""
    ymax = float(np.max(y)) if y.size else 0.0
    if ymax > _SMALL:
        return psi(y + r) - psi(r) if order == 0 else polygamma(1, y + r) - polygamma(1, r)
    k = np.arange(int(ymax))
    terms = 1.0 / (r[:, None] + k[None, :])
    mask = k[None, :] < y[:, None]
    if order == 0:
        return np.sum(np.where(mask, terms, 0.0), axis=1)
    return -np.sum(np.where(mask, terms * terms, 0.0), axis=1)


class NegativeBinomial1Family(Family):
    """NB1: y ~ NB(size = mu / phi, prob = 1 / (1 + phi)); ``phi`` as glmmTMB's sigma()."""

    name = "nbinom1"
    mean_bounds = (0.0, None)  # mu -> 0 where every count is 0
    dispersion_parameter = "phi"
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

    def loglik(self, y, mu, weights, params):
        phi = params["phi"]
        r = mu / phi
        return weights * (gammaln(y + r) - gammaln(r) - gammaln(y + 1.0)
                          - r * np.log1p(phi) + y * (np.log(phi) - np.log1p(phi)))

    def score_mu(self, y, mu, weights, params):
        phi = params["phi"]
        r = mu / phi
        r = np.broadcast_to(r, np.shape(y)).astype(float)
        return weights * (_psi_diffs(y, r, 0) - np.log1p(phi)) / phi

    def obs_info_mu(self, y, mu, weights, params):
        phi = params["phi"]
        r = mu / phi
        r = np.broadcast_to(r, np.shape(y)).astype(float)
        return weights * -_psi_diffs(y, r, 1) / (phi * phi)

    def info_mu(self, y, mu, weights, params):
        # the quasi-likelihood weight 1 / Var (the exact Fisher information has no closed form)
        return weights / (mu * (1.0 + params["phi"]))

    def start_parameters(self, design, beta0):
        """phi from the Pearson statistic of the GLM start: Var / mu - 1."""
        if self.parameters["phi"].fixed:
            return {}
        mu = self.link.inverse(design.offset + design.X @ beta0)
        ratio = float(np.mean((design.y - mu) ** 2 / np.maximum(mu, 1e-8)))
        return {"phi": float(np.clip(ratio - 1.0, 0.05, 1e3))}

    def validate(self, y, weights, label):
        validate_counts(self.name, y, label)

    def initialize(self, y, weights):
        return y + 0.1

    def simulate(self, mu, weights, params, rng):
        phi = params["phi"]
        return rng.negative_binomial(mu / phi, 1.0 / (1.0 + phi)).astype(float)
