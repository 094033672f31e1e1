"""Zero-one-inflated beta (no glmmTMB counterpart; brms' zero_one_inflated_beta).

P(y = 0) = zoi (1 - coi), P(y = 1) = zoi coi, and y in (0, 1) has density
(1 - zoi) Beta(y; mu phi, (1 - mu) phi). ``mu`` is the mean of the beta part.
"""

from __future__ import annotations

import numpy as np

from interlace.errors import DataError
from interlace.families.base import (
    Family,
    FamilyParameter,
    LogDensityDerivatives,
    require_finite,
)
from interlace.families.beta import beta_derivatives, beta_info, beta_loglik, beta_score
from interlace.families.extended import TINY_INFO, ProbabilityParameter, check_probability


class ZeroOneInflatedBetaFamily(Family):
    """P(0) = zoi (1 - coi), P(1) = zoi coi, else (1 - zoi) Beta(mu phi, (1 - mu) phi).

    ``zoi`` and ``coi`` are estimated on the logit scale (brms' parametrisation); no glmmTMB
    counterpart.
    """
    closed_form_derivatives = True

    name = "zoib"
    dispersion_parameter = "phi"
    aliases = ("zero_one_inflated_beta",)
    links = ("logit", "probit", "cloglog")
    laplace_information = "observed"

    def __init__(self, link=None, phi: float | None = None, zoi: float | None = None,
                 coi: float | None = None) -> None:
        super().__init__(link=link, phi=phi, zoi=zoi, coi=coi)
        check_probability(self.name, "zoi", zoi)
        if coi is not None and not (0.0 <= coi <= 1.0):
            from interlace.errors import PluginError

            raise PluginError(f"family 'zoib' parameter 'coi' must be in [0, 1], got {coi!r}")

    def default_parameters(self):
        return [FamilyParameter("phi", None, start=1.0, transform="log",
                                description="precision of the beta part"),
                ProbabilityParameter("zoi", None, start=0.1,
                                     description="probability of an exact 0 or 1"),
                ProbabilityParameter("coi", None, start=0.5,
                                     description="probability of 1 given 0 or 1")]

    def _interior(self, y):
        return (y > 0) & (y < 1)

    def mean(self, mu, params):
        return params["zoi"] * params["coi"] + (1 - params["zoi"]) * mu

    def variance(self, mu, params):
        zoi, coi, phi = params["zoi"], params["coi"], params["phi"]
        m = zoi * coi + (1 - zoi) * mu
        m2 = zoi * coi + (1 - zoi) * (mu * (1 - mu) / (1 + phi) + mu * mu)
        return m2 - m * m

    def loglik(self, y, mu, weights, params):
        zoi, coi, phi = params["zoi"], params["coi"], params["phi"]
        inner = self._interior(y)
        yi = np.where(inner, y, 0.5)
        with np.errstate(divide="ignore"):
            l0 = np.log(zoi) + np.log1p(-coi) if zoi > 0 else -np.inf
            l1 = np.log(zoi) + np.log(coi) if zoi > 0 else -np.inf
        lb = np.log1p(-zoi) + beta_loglik(yi, mu, phi)
        return weights * np.where(inner, lb, np.where(y == 0, l0, l1))

    def score_mu(self, y, mu, weights, params):
        inner = self._interior(y)
        return weights * np.where(inner, beta_score(np.where(inner, y, 0.5), mu, params["phi"]),
                                  0.0)

    def obs_info_mu(self, y, mu, weights, params):
        return weights * np.where(self._interior(y), beta_info(mu, params["phi"]), TINY_INFO)

    info_mu = obs_info_mu

    def loglik_derivatives(self, y, mu, weights, params, wrt=(), third=False):
        """The beta part's closed forms on interior rows (0 at the ends, which do not depend
        on mu or phi); zoi: -1/(1 - zoi) inside, 1/zoi at the ends; coi: 1/coi at 1,
        -1/(1 - coi) at 0 (times the weights)."""
        zoi, coi = params["zoi"], params["coi"]
        inner = self._interior(y)
        b = beta_derivatives(np.where(inner, y, 0.5), mu, params["phi"], "phi" in wrt, third)
        w_in = np.where(inner, weights, 0.0)
        out = LogDensityDerivatives(w_in * b.d1, w_in * b.d2, None if b.d3 is None
                                    else w_in * b.d3)
        zero = np.zeros_like(mu)
        if "phi" in wrt:
            out.dp["phi"], out.dp1["phi"] = w_in * b.dp["phi"], w_in * b.dp1["phi"]
            if third:
                out.dp2["phi"] = w_in * b.dp2["phi"]
        with np.errstate(divide="ignore"):
            ends = {"zoi": np.where(inner, -1.0 / (1.0 - zoi), 1.0 / zoi),
                    "coi": np.where(inner, 0.0, np.where(y == 1, 1.0 / coi, -1.0 / (1.0 - coi)))}
        for name in ("zoi", "coi"):
            if name in wrt:
                out.dp[name], out.dp1[name] = weights * ends[name], zero
                if third:
                    out.dp2[name] = zero
        return out

    def validate(self, y, weights, label):
        require_finite(y, label)
        bad = (y < 0) | (y > 1)
        if np.any(bad):
            i = int(np.flatnonzero(bad)[0])
            raise DataError(
                f"zoib response {label!r} must lie in [0, 1]; row {i} has {float(y[i])!r}")

    def initialize(self, y, weights):
        return np.clip(y, 0.02, 0.98)

    def start_parameters(self, design, beta0):
        y = design.y
        out = {}
        ends = np.mean((y == 0) | (y == 1))
        if not self.parameters["zoi"].fixed:
            out["zoi"] = float(np.clip(ends, 1e-3, 0.9))
        if not self.parameters["coi"].fixed:
            n1, n0 = np.sum(y == 1), np.sum(y == 0)
            out["coi"] = float(np.clip((n1 + 0.5) / (n0 + n1 + 1.0), 0.01, 0.99))
        return out

    def simulate(self, mu, weights, params, rng):
        zoi, coi, phi = params["zoi"], params["coi"], params["phi"]
        u = rng.random(mu.shape)
        ends = (rng.random(mu.shape) < coi).astype(float)
        return np.where(u < zoi, ends, rng.beta(mu * phi, (1.0 - mu) * phi))
