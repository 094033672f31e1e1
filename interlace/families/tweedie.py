"""Tweedie family with power 1 < p < 2 (glmmTMB's ``tweedie``): compound Poisson-gamma.

Var(y) = phi mu^p; P(y = 0) = exp(-mu^(2-p) / (phi (2-p))) and y > 0 has a density. The
log-density is log a(y, phi, p) + (y mu^(1-p) / (1-p) - mu^(2-p) / (2-p)) / phi, where a is
Dunn and Smyth's (2005) series a = (1/y) sum_{j>=1} W_j with

    log W_j = j (-alpha log y + alpha log(p - 1) - (1 - alpha) log phi - log(2 - p))
              - log j! - log Gamma(-j alpha),     alpha = (2 - p)/(1 - p) < 0,

summed around its largest term j* = y^(2-p) / (phi (2-p)) over the window where the terms
are within e^-40 of it (exactly, or by the trapezoidal rule on every h-th j where the window
is wide, as for :mod:`interlace.families.compois_moments`). glmmTMB estimates p on the logit
scale of p - 1 (``psi``), and phi on the log scale (``betad``); so does interlace
(parameters ``power`` and ``phi``).

a depends on (y, phi, p) only, so it is the family's data-only term: ``loglik_constant``
computes it once per parameter value and PIRLS sees the closed-form exponent alone.
"""

from __future__ import annotations

import numpy as np
from scipy.special import gammaln, psi

from interlace.errors import DataError, PluginError
from interlace.families.base import ExponentialFamily, FamilyParameter, require_finite
from interlace.families.extended import IntervalParameter
from interlace.families.zero_part import CanHaveZeroPart

_DROP = 40.0
_EXACT_WIDTH = 400
_TRAPEZOID_POINTS = 200


def series_terms(y: np.ndarray, phi, p, derivatives: bool = True
                 ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """(log a, E_W[j], E_W[d log W_j / dp]) per positive y: log a(y, phi, p) and the
    W-weighted means that give d log a / d phi = -(1 - alpha) E_W[j] / phi and
    d log a / dp = E_W[d log W_j / dp] (None, None without ``derivatives``)."""
    y = np.asarray(y, dtype=float)
    phi = np.broadcast_to(np.asarray(phi, float), y.shape)
    p = np.broadcast_to(np.asarray(p, float), y.shape)
    alpha = (2.0 - p) / (1.0 - p)
    ly = np.log(y)
    lin = -alpha * ly + alpha * np.log(p - 1.0) - (1.0 - alpha) * np.log(phi) - np.log(2.0 - p)
    jmax = np.maximum(np.exp((2.0 - p) * ly - np.log(phi) - np.log(2.0 - p)), 1.0)
    sd = np.sqrt(jmax / (1.0 - alpha))  # the log-terms' curvature is -(1 - alpha)/j
    half = np.ceil(np.sqrt(2.0 * _DROP) * sd * 1.15 + 5.0)
    lo = np.maximum(np.floor(jmax - half), 1.0)
    width = jmax + half - lo
    step = np.where((width > _EXACT_WIDTH) & (lo > 1), np.floor(width / _TRAPEZOID_POINTS), 1.0)
    k = int(np.max(np.ceil(width / step))) + 1
    j = lo[:, None] + step[:, None] * np.arange(k)[None, :]
    t = j * lin[:, None] - gammaln(j + 1.0) - gammaln(-j * alpha[:, None])
    top = t.max(axis=1, keepdims=True)
    w = np.exp(t - top) * step[:, None]
    tot = w.sum(axis=1)
    loga = top[:, 0] + np.log(tot) - ly
    if not derivatives:
        return loga, None, None
    ej = np.einsum("ij,ij->i", w, j) / tot
    dalpha = 1.0 / (1.0 - p) ** 2
    # d log W_j / dp = j (alpha' (log(p-1) - log y + log phi + psi(-j alpha)) + alpha/(p-1)
    #                     + 1/(2-p))
    inner = (dalpha[:, None] * ((np.log(p - 1.0) - ly + np.log(phi))[:, None]
                                + psi(-j * alpha[:, None]))
             + (alpha / (p - 1.0) + 1.0 / (2.0 - p))[:, None])
    edp = np.einsum("ij,ij->i", w, j * inner) / tot
    return loga, ej, edp


class TweedieFamily(CanHaveZeroPart, ExponentialFamily):
    """Tweedie with 1 < power < 2: Var(y) = phi mu^power, y >= 0 (glmmTMB's ``tweedie``)."""
    closed_form_derivatives = True

    name = "tweedie"
    links = ("log", "identity", "sqrt", "inverse")
    dispersion_parameter = "phi"
    laplace_information = "observed"
    mean_bounds = (0.0, None)
    zero_part = "inflate"

    def __init__(self, phi: float | None = None, power: float | None = None, link=None) -> None:
        if power is not None and not 1.0 < float(power) < 2.0:
            raise PluginError(f"family 'tweedie' parameter 'power' must lie in (1, 2), got "
                              f"{power!r}")
        super().__init__(link=link, phi=phi, power=power)

    def default_parameters(self):
        return [FamilyParameter("phi", None, start=1.0, transform="log",
                                description="dispersion: Var(y) = phi mu^power"),
                IntervalParameter("power", None, start=1.5, low=1.0, high=2.0,
                                  description="power of the variance function, in (1, 2)")]

    def dispersion(self, params):
        return params["phi"]

    def unit_variance(self, mu, params):
        return mu ** params["power"]

    def unit_variance_deriv(self, mu, params):
        p = params["power"]
        return p * mu ** (p - 1.0)

    def unit_variance_deriv2(self, mu, params):
        p = params["power"]
        return p * (p - 1.0) * mu ** (p - 2.0)

    @staticmethod
    def _exponent(y, mu, phi, p):
        return (y * mu ** (1.0 - p) / (1.0 - p) - mu ** (2.0 - p) / (2.0 - p)) / phi

    def loglik_kernel(self, y, mu, weights, params):
        ok = mu > 0
        m = np.where(ok, mu, 1.0)
        lp = self._exponent(y, m, params["phi"], params["power"])
        return weights * np.where(ok, lp, -np.inf)

    def series(self, y, params, derivatives: bool = True) -> tuple:
        """:func:`series_terms` on every row (zeros where y = 0), kept for the last few
        (y, phi, power): it depends on the parameters only, and both the log-likelihood's
        constant and the gradient ask for it at each new parameter value (the derivatives'
        sums only when asked)."""
        y = np.asarray(y, dtype=float)
        phi = np.broadcast_to(np.asarray(params["phi"], float), y.shape)
        pw = np.broadcast_to(np.asarray(params["power"], float), y.shape)
        cache = self.__dict__.setdefault("_series_cache", {})
        key = (y.tobytes(), phi.tobytes(), pw.tobytes())
        if key not in cache or (derivatives and cache[key][1] is None):
            pos = y > 0
            out = [np.zeros(y.shape), None, None]
            if derivatives:
                out[1], out[2] = np.zeros(y.shape), np.zeros(y.shape)
            if pos.any():
                for o, v in zip(out, series_terms(y[pos], phi[pos], pw[pos], derivatives)):
                    if o is not None:
                        o[pos] = v
            if len(cache) >= 4 and key not in cache:
                cache.pop(next(iter(cache)))
            cache[key] = tuple(out)
        return cache[key]

    def log_a(self, y, params) -> np.ndarray:
        """log a(y, phi, p) per row (0 where y = 0)."""
        return self.series(y, params, derivatives=False)[0]

    def loglik_constant(self, y, weights, params):
        return float(np.sum(weights * self.log_a(y, params)))

    def loglik(self, y, mu, weights, params):
        return self.loglik_kernel(y, mu, weights, params) + weights * self.log_a(y, params)

    def loglik_derivatives(self, y, mu, weights, params, wrt=(), third=False):
        """In mu: the exponential family's closed forms. phi: d/dphi = d log a/dphi - E/phi
        (E the exponent times phi), d2l/dmu dphi = -d1/phi, d3l/dmu2 dphi = -d2/phi. power:
        d log a/dp from the series and the exponent's closed form; d2l/dmu dp =
        -(y - mu) mu^-p log(mu)/phi, d3l/dmu2 dp = (mu^-p log mu - (y - mu) mu^(-p-1)
        (1 - p log mu))/phi (all times the weights)."""
        out = self.mu_derivatives(y, mu, weights, params, third)
        phi, p = params["phi"], params["power"]
        if not ({"phi", "power"} & set(wrt)):
            return out
        _, ej, edp = self.series(y, params)
        lm = np.log(mu)
        if "phi" in wrt:
            alpha = (2.0 - p) / (1.0 - p)
            out.dp["phi"] = weights * (-(1.0 - alpha) * ej / phi
                                       - self._exponent(y, mu, phi, p) / phi)
            out.dp1["phi"] = -out.d1 / phi
            if third:
                out.dp2["phi"] = -out.d2 / phi
        if "power" in wrt:
            a1, a2 = mu ** (1.0 - p), mu ** (2.0 - p)
            dexp = (y * a1 * (1.0 - (1.0 - p) * lm) / (1.0 - p) ** 2
                    - a2 * (1.0 - (2.0 - p) * lm) / (2.0 - p) ** 2) / phi
            out.dp["power"] = weights * (edp + dexp)
            mp = mu ** -p
            out.dp1["power"] = -weights * (y - mu) * mp * lm / phi
            if third:
                out.dp2["power"] = weights * (mp * lm - (y - mu) * mp / mu * (1.0 - p * lm)) / phi
        return out

    def info_derivatives(self, y, mu, weights, params, wrt=()):
        """info = w / (phi mu^p): d/dmu = -p info/mu, d/dphi = -info/phi,
        d/dp = -info log mu."""
        info = self.info_mu(y, mu, weights, params)
        out = {"phi": -info / params["phi"], "power": -info * np.log(mu)}
        return -params["power"] * info / mu, {k: v for k, v in out.items() if k in wrt}

    def validate(self, y, weights, label):
        require_finite(y, label)
        if np.any(y < 0):
            i = int(np.flatnonzero(y < 0)[0])
            raise DataError(f"tweedie response {label!r} must be non-negative (valid range "
                            f"y >= 0); row {i} has {float(y[i])!r}")

    def initialize(self, y, weights):
        return np.asarray(y, dtype=float) + 0.1 * max(float(np.mean(y)), 1e-3)

    def start_parameters(self, design, beta0):
        """phi from the Pearson statistic at the starting power."""
        if self.parameters["phi"].fixed:
            return {}
        p = self.parameters["power"].value or self.parameters["power"].start
        mu = self.link.inverse(design.offset + design.X @ beta0)
        mu = np.maximum(mu, 1e-8)
        ratio = float(np.mean((design.y - mu) ** 2 / mu**p))
        return {"phi": float(np.clip(ratio, 1e-3, 1e3))}

    def simulate(self, mu, weights, params, rng):
        """Compound Poisson-gamma draws: N ~ Poisson(lambda), y = sum of N gammas."""
        phi, p = params["phi"], params["power"]
        mu = np.asarray(mu, dtype=float)
        lam = mu ** (2.0 - p) / (phi * (2.0 - p))
        shape = (2.0 - p) / (p - 1.0)
        scale = phi * (p - 1.0) * mu ** (p - 1.0)
        n = rng.poisson(lam)
        out = rng.gamma(np.maximum(n * shape, 1e-300), np.broadcast_to(scale, mu.shape))
        return np.where(n > 0, out, 0.0)
