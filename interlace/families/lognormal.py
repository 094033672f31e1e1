"""Log-normal family (glmmTMB's ``lognormal``), parametrised by the mean mu and the standard
deviation sigma on the data scale: log y ~ N(m, v) with v = log(1 + sigma^2 / mu^2) and
m = log mu - v/2, so that E(y) = mu and SD(y) = sigma. glmmTMB's ``betad`` is log sigma. With a
``ziformula`` it is a hurdle: P(y = 0) = zi, positive values (1 - zi) times the density.

Derivatives: l is a function of (m, v), and m and v of u = log mu and sigma through
r = sigma^2 / (mu^2 + sigma^2): dv/du = -2 r, dm/du = 1 + r, dr/du = -2 r (1 - r),
dr/dsigma = 2 r (1 - r)/sigma; the chain rule (to third order in u, second in u with one
sigma) then d/dmu = (1/mu) d/du.
"""

from __future__ import annotations

import numpy as np

from interlace.errors import DataError
from interlace.families.base import (
    Family,
    FamilyParameter,
    FromDerivatives,
    LogDensityDerivatives,
    require_finite,
)
from interlace.families.zero_part import CanHaveZeroPart

_LOG2PI = float(np.log(2.0 * np.pi))


def _inner(y, mu, s):
    """(e = log y - m, v, r) per row."""
    r = s * s / (mu * mu + s * s)
    v = np.log1p(s * s / (mu * mu))
    return np.log(y) - np.log(mu) + 0.5 * v, v, r


def _chain(e, v, r):
    """Derivatives of l in (m, v) and of (m, v) in u, as a dict of arrays."""
    iv = 1.0 / v
    L = {"m": e * iv, "v": -0.5 * iv + 0.5 * e * e * iv * iv, "mm": -iv, "mv": -e * iv * iv,
         "vv": 0.5 * iv * iv - e * e * iv**3, "mmm": 0.0, "mmv": iv * iv, "mvv": 2.0 * e * iv**3,
         "vvv": -iv**3 + 3.0 * e * e * iv**4}
    q = r * (1.0 - r)
    G = {"m1": 1.0 + r, "m2": -2.0 * q, "m3": 4.0 * q * (1.0 - 2.0 * r),
         "v1": -2.0 * r, "v2": 4.0 * q, "v3": -8.0 * q * (1.0 - 2.0 * r)}
    return L, G


def _u_derivatives(L, G, third: bool):
    """dl/du, d2l/du2 (and d3l/du3)."""
    m1, m2, v1, v2 = G["m1"], G["m2"], G["v1"], G["v2"]
    lu = L["m"] * m1 + L["v"] * v1
    luu = (L["mm"] * m1 * m1 + 2.0 * L["mv"] * m1 * v1 + L["vv"] * v1 * v1 + L["m"] * m2
           + L["v"] * v2)
    if not third:
        return lu, luu, None
    m3, v3 = G["m3"], G["v3"]
    luuu = (L["mmm"] * m1**3 + 3.0 * L["mmv"] * m1 * m1 * v1 + 3.0 * L["mvv"] * m1 * v1 * v1
            + L["vvv"] * v1**3 + 3.0 * (L["mm"] * m1 * m2 + L["mv"] * (m1 * v2 + m2 * v1)
                                        + L["vv"] * v1 * v2) + L["m"] * m3 + L["v"] * v3)
    return lu, luu, luuu


def _sigma_derivatives(L, G, r, s, third: bool):
    """dl/dsigma, d2l/du dsigma (and d3l/du2 dsigma)."""
    q = r * (1.0 - r)
    ms, vs = -r / s, 2.0 * r / s                    # dm/ds, dv/ds
    mus, vus = 2.0 * q / s, -4.0 * q / s             # d2m/du ds, d2v/du ds
    m1, m2, v1, v2 = G["m1"], G["m2"], G["v1"], G["v2"]
    ls = L["m"] * ms + L["v"] * vs
    lms, lvs = L["mm"] * ms + L["mv"] * vs, L["mv"] * ms + L["vv"] * vs
    lus = lms * m1 + L["m"] * mus + lvs * v1 + L["v"] * vus
    if not third:
        return ls, lus, None
    muus, vuus = -4.0 * q * (1.0 - 2.0 * r) / s, 8.0 * q * (1.0 - 2.0 * r) / s
    lmms = L["mmm"] * ms + L["mmv"] * vs
    lmvs = L["mmv"] * ms + L["mvv"] * vs
    lvvs = L["mvv"] * ms + L["vvv"] * vs
    luus = (lmms * m1 * m1 + 2.0 * L["mm"] * m1 * mus + 2.0 * lmvs * m1 * v1
            + 2.0 * L["mv"] * (mus * v1 + m1 * vus) + lvvs * v1 * v1 + 2.0 * L["vv"] * v1 * vus
            + lms * m2 + L["m"] * muus + lvs * v2 + L["v"] * vuus)
    return ls, lus, luus


class LognormalFamily(FromDerivatives, CanHaveZeroPart, Family):
    """Log-normal with E(y) = mu and SD(y) = sigma (glmmTMB's ``lognormal``)."""
    closed_form_derivatives = True

    name = "lognormal"
    aliases = ("log_normal",)
    links = ("log", "identity", "inverse")
    dispersion_parameter = "sigma"
    laplace_information = "observed"
    zero_part = "hurdle"

    def __init__(self, sigma: float | None = None, link=None) -> None:
        super().__init__(link=link, sigma=sigma)

    def default_parameters(self):
        return [FamilyParameter("sigma", None, start=1.0, transform="log",
                                description="standard deviation of y (data scale)")]

    def loglik(self, y, mu, weights, params):
        s = params["sigma"]
        ok = mu > 0
        e, v, _ = _inner(y, np.where(ok, mu, 1.0), s)
        lp = -np.log(y) - 0.5 * (_LOG2PI + np.log(v)) - 0.5 * e * e / v
        return weights * np.where(ok, lp, -np.inf)

    def loglik_derivatives(self, y, mu, weights, params, wrt=(), third=False):
        """The chain rule of the module docstring; d/dmu = d/du / mu."""
        s = params["sigma"]
        e, v, r = _inner(y, mu, s)
        L, G = _chain(e, v, r)
        lu, luu, luuu = _u_derivatives(L, G, third)
        out = LogDensityDerivatives(weights * lu / mu, weights * (luu - lu) / (mu * mu))
        if third:
            out.d3 = weights * (luuu - 3.0 * luu + 2.0 * lu) / mu**3
        if "sigma" in wrt:
            ls, lus, luus = _sigma_derivatives(L, G, r, s, third)
            out.dp["sigma"] = weights * ls
            out.dp1["sigma"] = weights * lus / mu
            if third:
                out.dp2["sigma"] = weights * (luus - lus) / (mu * mu)
        return out

    def info_mu(self, y, mu, weights, params):
        """Fisher information in mu: (m'^2 / v + v'^2 / (2 v^2)) / mu^2 (u = log mu)."""
        s = params["sigma"]
        r = s * s / (mu * mu + s * s)
        v = np.log1p(s * s / (mu * mu))
        return weights * ((1.0 + r) ** 2 / v + 2.0 * r * r / (v * v)) / (mu * mu)

    def variance(self, mu, params):
        return np.broadcast_to(params["sigma"] ** 2, np.shape(mu)).astype(float)

    def validate(self, y, weights, label):
        require_finite(y, label)
        if np.any(y <= 0):
            i = int(np.flatnonzero(y <= 0)[0])
            raise DataError(f"lognormal response {label!r} must be positive (valid range y > 0; "
                            f"zeros need ziformula='~1', a hurdle); row {i} has {float(y[i])!r}")

    def initialize(self, y, weights):
        return np.asarray(y, dtype=float)

    def start_parameters(self, design, beta0):
        """sigma from the GLM's residuals on the data scale."""
        if self.parameters["sigma"].fixed:
            return {}
        mu = self.link.inverse(design.offset + design.X @ beta0)
        pos = design.y > 0
        return {"sigma": float(max(np.std((design.y - mu)[pos]), 1e-6))}

    def simulate(self, mu, weights, params, rng):
        s = params["sigma"]
        v = np.log1p(s * s / (mu * mu))
        return np.exp(np.log(mu) - 0.5 * v + np.sqrt(v) * rng.standard_normal(np.shape(mu)))
