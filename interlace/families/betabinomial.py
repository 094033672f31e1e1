"""Beta-binomial family (glmmTMB's ``betabinomial``): successes out of n trials with a
beta-distributed success probability of mean mu and precision phi.

P(s) = C(n, s) B(s + a, n - s + b) / B(a, b), a = mu phi, b = (1 - mu) phi, so E(s/n) = mu and
Var(s/n) = mu (1 - mu) (1 + (n - 1)/(phi + 1)) / n. The response is ``cbind(s, f)`` or
``s / n`` (or a 0/1 column), as for the binomial; the trials arrive as the weights, so prior
weights cannot be given besides them (they would multiply the trials). glmmTMB's ``betad`` is
log phi.
"""

from __future__ import annotations

import numpy as np
from scipy.special import gammaln

from interlace.errors import DataError
from interlace.families.base import (
    Family,
    FamilyParameter,
    FromDerivatives,
    LogDensityDerivatives,
    require_finite,
)
from interlace.families.special import count_polygamma_diff
from interlace.families.zero_part import CanHaveZeroPart


class BetaBinomialFamily(FromDerivatives, CanHaveZeroPart, Family):
    """Beta-binomial with mean mu and precision phi (glmmTMB's ``betabinomial``)."""
    closed_form_derivatives = True

    name = "betabinomial"
    aliases = ("beta_binomial",)
    links = ("logit", "probit", "cloglog", "cauchit")
    dispersion_parameter = "phi"
    laplace_information = "observed"
    trials_response = True
    two_level_response = True
    mean_bounds = (0.0, 1.0)
    zero_part = "inflate"

    def __init__(self, phi: float | None = None, link=None) -> None:
        super().__init__(link=link, phi=phi)

    def default_parameters(self):
        return [FamilyParameter("phi", None, start=5.0, transform="log",
                                description="precision of the beta: a = mu phi, b = (1-mu) phi")]

    @staticmethod
    def _counts(y, weights):
        n = np.asarray(weights, dtype=float)
        s = np.rint(n * y)
        return s, n - s, n

    def loglik_kernel(self, y, mu, weights, params):
        phi = params["phi"]
        s, f, _ = self._counts(y, weights)
        a, b = mu * phi, (1.0 - mu) * phi
        return gammaln(s + a) + gammaln(f + b) - gammaln(a) - gammaln(b)

    def _constant_rows(self, y, weights, params):
        phi = params["phi"]
        s, f, n = self._counts(y, weights)
        return (gammaln(n + 1.0) - gammaln(s + 1.0) - gammaln(f + 1.0) - gammaln(n + phi)
                + gammaln(phi))

    def loglik_constant(self, y, weights, params):
        return float(np.sum(self._constant_rows(y, weights, params)))

    def loglik(self, y, mu, weights, params):
        return (self.loglik_kernel(y, mu, weights, params)
                + self._constant_rows(y, weights, params))

    def loglik_derivatives(self, y, mu, weights, params, wrt=(), third=False):
        """With A_k = psi^(k)(s + a) - psi^(k)(a), B_k = psi^(k)(f + b) - psi^(k)(b),
        N_0 = psi(n + phi) - psi(phi): d1 = phi (A0 - B0), d2 = phi^2 (A1 + B1),
        d3 = phi^3 (A2 - B2); phi: dl = mu A0 + (1 - mu) B0 - N0, d2l/dmu dphi = A0 - B0
        + phi (mu A1 - (1 - mu) B1), d3l/dmu2 dphi = 2 phi (A1 + B1) + phi^2 (mu A2
        + (1 - mu) B2)."""
        phi = params["phi"]
        s, f, n = self._counts(y, weights)
        a, b = mu * phi, (1.0 - mu) * phi
        A = [count_polygamma_diff(s, a, k) for k in range(3 if third else 2)]
        B = [count_polygamma_diff(f, b, k) for k in range(3 if third else 2)]
        out = LogDensityDerivatives(phi * (A[0] - B[0]), phi * phi * (A[1] + B[1]))
        if third:
            out.d3 = phi**3 * (A[2] - B[2])
        if "phi" in wrt:
            out.dp["phi"] = mu * A[0] + (1.0 - mu) * B[0] - count_polygamma_diff(n, phi, 0)
            out.dp1["phi"] = A[0] - B[0] + phi * (mu * A[1] - (1.0 - mu) * B[1])
            if third:
                out.dp2["phi"] = (2.0 * phi * (A[1] + B[1])
                                  + phi * phi * (mu * A[2] + (1.0 - mu) * B[2]))
        return out

    def info_mu(self, y, mu, weights, params):
        """The quasi-likelihood weight n / (mu (1 - mu) (1 + (n - 1)/(phi + 1)))."""
        n = np.asarray(weights, dtype=float)
        v = np.maximum(mu * (1.0 - mu), 1e-300)
        return n / (v * (1.0 + (n - 1.0) / (params["phi"] + 1.0)))

    def variance(self, mu, params):
        """mu (1 - mu): the binomial part per trial (the overdispersion factor
        1 + (n - 1)/(phi + 1) depends on each row's trials, which this method is not given)."""
        return mu * (1.0 - mu)

    def validate(self, y, weights, label):
        require_finite(y, label)
        s = np.asarray(weights, dtype=float) * y
        bad = (y < 0) | (y > 1) | (np.abs(s - np.round(s)) > 1e-6)
        if np.any(bad):
            i = int(np.flatnonzero(bad)[0])
            raise DataError(
                f"betabinomial response {label!r} must be whole successes out of whole trials "
                f"(cbind(s, f), s / n or a 0/1 column); row {i} has proportion {float(y[i])!r} "
                f"of {float(np.asarray(weights)[i])!r} trial(s)")

    def initialize(self, y, weights):
        return (weights * y + 0.5) / (weights + 1.0)

    def start_parameters(self, design, beta0):
        """phi from the overdispersion of the GLM start: Pearson X^2 / n = 1 + (n - 1)/(phi
        + 1) on average."""
        if self.parameters["phi"].fixed:
            return {}
        mu = self.link.inverse(design.offset + design.X @ beta0)
        n = design.weights
        v = np.maximum(mu * (1.0 - mu), 1e-8)
        ratio = float(np.mean(n * (design.y - mu) ** 2 / v))
        extra = max(ratio - 1.0, 1e-3)
        mean_n = float(np.mean(np.maximum(n - 1.0, 0.0)))
        return {"phi": float(np.clip(mean_n / extra - 1.0, 0.5, 1e4)) if mean_n > 0 else 5.0}

    def simulate(self, mu, weights, params, rng):
        phi = params["phi"]
        n = np.rint(weights).astype(np.int64)
        p = rng.beta(mu * phi, (1.0 - mu) * phi)
        return rng.binomial(n, p) / np.maximum(n, 1)
