"""Zero-inflated and hurdle count families with a constant zero probability (glmmTMB's
``ziformula = ~1``). ``mu`` is the count part's mean, the one the link acts on; the zero
probability ``zi`` is a family parameter estimated on the logit scale."""

from __future__ import annotations

import warnings

import numpy as np
from scipy.special import gammaln, xlogy

from interlace.errors import InterlaceWarning
from interlace.families.base import Family, FamilyParameter
from interlace.families.extended import (
    TINY_INFO,
    ProbabilityParameter,
    check_probability,
    validate_counts,
)


class _ZeroPart(Family):
    links = ("log", "sqrt", "identity")
    laplace_information = "observed"
    zi_parameter = "zi"
    _zi_desc = "zero-inflation probability"

    def __init__(self, zi: float | None = None, link=None, **params: float | None) -> None:
        super().__init__(link=link, zi=zi, **params)
        self._check()

    def default_parameters(self):
        return [self._zi_parameter()]

    def _zi_parameter(self):
        return ProbabilityParameter("zi", None, start=0.1, description=self._zi_desc)

    def _check(self):
        check_probability(self.name, "zi", self.parameters["zi"].value)

    def validate(self, y, weights, label):
        validate_counts(self.name, y, label)
        if not np.any(y == 0) and not self.parameters["zi"].fixed:
            warnings.warn(
                f"{self.name}: response {label!r} has no zeros; the zero probability will be "
                "estimated at (nearly) 0", InterlaceWarning, stacklevel=2)

    def initialize(self, y, weights):
        return y + 0.1

    def start_parameters(self, design, beta0):
        if self.parameters["zi"].fixed:
            return {}
        return {"zi": float(np.clip(np.mean(design.y == 0) * 0.5, 1e-3, 0.5))}


class ZeroInflatedPoissonFamily(_ZeroPart):
    """P(0) = zi + (1 - zi) exp(-mu); P(y > 0) = (1 - zi) Poisson(y; mu)."""

    name = "zipoisson"
    mean_bounds = (0.0, None)  # the count mean -> 0 where every count is 0
    aliases = ("zip", "zero_inflated_poisson")

    def mean(self, mu, params):
        return (1.0 - params["zi"]) * mu

    def variance(self, mu, params):
        p = params["zi"]
        return (1 - p) * mu * (1 + p * mu)

    def _zero(self, mu, p):
        q = (1.0 - p) * np.exp(-mu)
        return q, p + q

    def loglik(self, y, mu, weights, params):
        p = params["zi"]
        q, P = self._zero(mu, p)
        pos = np.log1p(-p) + xlogy(y, mu) - mu - gammaln(y + 1.0)
        return weights * np.where(y == 0, np.log(P), pos)

    def score_mu(self, y, mu, weights, params):
        q, P = self._zero(mu, params["zi"])
        return weights * np.where(y == 0, -q / P, y / mu - 1.0)

    def obs_info_mu(self, y, mu, weights, params):
        p = params["zi"]
        q, P = self._zero(mu, p)
        return weights * np.where(y == 0, -q * p / (P * P), y / (mu * mu))

    def info_mu(self, y, mu, weights, params):
        p = params["zi"]
        q, P = self._zero(mu, p)
        return weights * np.maximum((1.0 - p) / mu - p * q / P, TINY_INFO)

    def simulate(self, mu, weights, params, rng):
        p = params["zi"]
        return np.where(rng.random(mu.shape) < p, 0.0, rng.poisson(mu).astype(float))


class ZeroInflatedNB2Family(_ZeroPart):
    """P(0) = zi + (1 - zi) NB2(0; mu, theta); P(y > 0) = (1 - zi) NB2(y; mu, theta)."""

    name = "zinbinom2"
    mean_bounds = (0.0, None)  # the count mean -> 0 where every count is 0
    dispersion_parameter = "theta"
    aliases = ("zinb2", "zinb", "zero_inflated_nbinom2")

    def __init__(self, theta: float | None = None, zi: float | None = None, link=None) -> None:
        super().__init__(zi=zi, link=link, theta=theta)

    def default_parameters(self):
        return [FamilyParameter("theta", None, start=1.0, transform="log",
                                description="NB2 shape of the count part"),
                self._zi_parameter()]

    def mean(self, mu, params):
        return (1.0 - params["zi"]) * mu

    def variance(self, mu, params):
        p, th = params["zi"], params["theta"]
        return (1 - p) * mu * (1 + mu / th + p * mu)

    def _zero(self, mu, p, th):
        f0 = np.exp(th * (np.log(th) - np.log(th + mu)))
        q = (1.0 - p) * f0
        return q, p + q

    def loglik(self, y, mu, weights, params):
        p, th = params["zi"], params["theta"]
        q, P = self._zero(mu, p, th)
        nb = (gammaln(y + th) - gammaln(th) - gammaln(y + 1.0) + th * np.log(th / (th + mu))
              + xlogy(y, mu / (th + mu)))
        return weights * np.where(y == 0, np.log(P), np.log1p(-p) + nb)

    def score_mu(self, y, mu, weights, params):
        p, th = params["zi"], params["theta"]
        q, P = self._zero(mu, p, th)
        z = -(q / P) * th / (th + mu)
        return weights * np.where(y == 0, z, y / mu - (y + th) / (th + mu))

    def obs_info_mu(self, y, mu, weights, params):
        p, th = params["zi"], params["theta"]
        q, P = self._zero(mu, p, th)
        a = th / (th + mu)
        d1 = -q * a / P                           # (1-p) f0' / P
        d2 = q * th * (th + 1.0) / ((th + mu) ** 2 * P)  # (1-p) f0'' / P
        zero = -(d2 - d1 * d1)
        return weights * np.where(y == 0, zero, y / (mu * mu) - (y + th) / (th + mu) ** 2)

    def info_mu(self, y, mu, weights, params):
        p, th = params["zi"], params["theta"]
        return weights * np.maximum((1.0 - p) / (mu * (1.0 + mu / th)), TINY_INFO)

    def simulate(self, mu, weights, params, rng):
        p, th = params["zi"], params["theta"]
        nb = rng.negative_binomial(th, th / (th + mu)).astype(float)
        return np.where(rng.random(mu.shape) < p, 0.0, nb)


class HurdlePoissonFamily(_ZeroPart):
    """glmmTMB's truncated_poisson with ``ziformula = ~1``: P(0) = zi; P(y > 0) =
    (1 - zi) Poisson(y; mu) / (1 - exp(-mu)). ``mu`` is the untruncated Poisson mean."""

    name = "hurdle_poisson"
    aliases = ("truncated_poisson", "hurdlepoisson")
    _zi_desc = "probability of a zero (the hurdle)"

    def start_parameters(self, design, beta0):
        if self.parameters["zi"].fixed:
            return {}
        return {"zi": float(np.clip(np.mean(design.y == 0), 1e-3, 0.99))}

    def mean(self, mu, params):
        return (1.0 - params["zi"]) * mu / -np.expm1(-mu)

    def variance(self, mu, params):
        p = params["zi"]
        t = 1.0 - np.exp(-mu)
        m1 = mu / t
        m2 = (mu + mu * mu) / t
        return (1 - p) * m2 - ((1 - p) * m1) ** 2

    def loglik(self, y, mu, weights, params):
        p = params["zi"]
        pos = (np.log1p(-p) + xlogy(y, mu) - mu - gammaln(y + 1.0)
               - np.log(-np.expm1(-mu)))
        with np.errstate(divide="ignore"):
            return weights * np.where(y == 0, np.log(p), pos)

    def score_mu(self, y, mu, weights, params):
        return weights * np.where(y == 0, 0.0, y / mu - 1.0 - 1.0 / np.expm1(mu))

    def obs_info_mu(self, y, mu, weights, params):
        em = np.expm1(mu)
        pos = y / (mu * mu) - (em + 1.0) / (em * em)
        return weights * np.where(y == 0, TINY_INFO, pos)

    def info_mu(self, y, mu, weights, params):
        em = np.expm1(mu)
        t = -np.expm1(-mu)
        pos = 1.0 / (mu * t) - (em + 1.0) / (em * em)
        return weights * np.where(y == 0, TINY_INFO, np.maximum(pos, TINY_INFO))

    def simulate(self, mu, weights, params, rng):
        from scipy.stats import poisson

        p = params["zi"]
        lo = np.exp(-mu)  # zero-truncated Poisson by inversion: u in (P(0), 1)
        u = lo + rng.random(mu.shape) * (1.0 - lo)
        counts = np.maximum(1.0, poisson.ppf(u, mu))
        return np.where(rng.random(mu.shape) < p, 0.0, counts)


class HurdleNB2Family(_ZeroPart):
    """glmmTMB's truncated_nbinom2 with ``ziformula = ~1``: P(0) = zi; P(y > 0) =
    (1 - zi) NB2(y; mu, theta) / (1 - NB2(0; mu, theta)). ``mu`` is the untruncated mean."""

    name = "hurdle_nbinom2"
    dispersion_parameter = "theta"
    aliases = ("truncated_nbinom2", "hurdlenb2")
    _zi_desc = "probability of a zero (the hurdle)"

    def __init__(self, theta: float | None = None, zi: float | None = None, link=None) -> None:
        super().__init__(zi=zi, link=link, theta=theta)

    def default_parameters(self):
        return [FamilyParameter("theta", None, start=1.0, transform="log",
                                description="NB2 shape of the count part"),
                self._zi_parameter()]

    start_parameters = HurdlePoissonFamily.start_parameters

    def mean(self, mu, params):
        return (1.0 - params["zi"]) * mu / self._f0(mu, params["theta"])[1]

    def variance(self, mu, params):
        p, th = params["zi"], params["theta"]
        t = 1.0 - np.exp(th * (np.log(th) - np.log(th + mu)))
        m1 = mu / t
        m2 = (mu + mu * mu / th + mu * mu) / t
        return (1 - p) * m2 - ((1 - p) * m1) ** 2

    @staticmethod
    def _f0(mu, th):
        lf0 = th * (np.log(th) - np.log(th + mu))
        return np.exp(lf0), -np.expm1(lf0)  # NB2(0), 1 - NB2(0)

    def loglik(self, y, mu, weights, params):
        p, th = params["zi"], params["theta"]
        f0, t = self._f0(mu, th)
        nb = (gammaln(y + th) - gammaln(th) - gammaln(y + 1.0) + th * np.log(th / (th + mu))
              + xlogy(y, mu / (th + mu)))
        pos = np.log1p(-p) + nb - np.log(t)
        with np.errstate(divide="ignore"):
            return weights * np.where(y == 0, np.log(p), pos)

    def score_mu(self, y, mu, weights, params):
        th = params["theta"]
        f0, t = self._f0(mu, th)
        a = th / (th + mu)
        pos = y / mu - (y + th) / (th + mu) - a * f0 / t
        return weights * np.where(y == 0, 0.0, pos)

    def obs_info_mu(self, y, mu, weights, params):
        th = params["theta"]
        f0, t = self._f0(mu, th)
        d1 = -f0 * th / (th + mu)
        d2 = f0 * th * (th + 1.0) / (th + mu) ** 2
        pos = y / (mu * mu) - (y + th) / (th + mu) ** 2 - (d2 * t + d1 * d1) / (t * t)
        return weights * np.where(y == 0, TINY_INFO, pos)

    def info_mu(self, y, mu, weights, params):
        th = params["theta"]
        return weights * np.where(y == 0, TINY_INFO, 1.0 / (mu * (1.0 + mu / th)))

    def simulate(self, mu, weights, params, rng):
        from scipy.stats import nbinom

        p, th = params["zi"], params["theta"]
        f0, _ = self._f0(mu, th)
        u = f0 + rng.random(mu.shape) * (1.0 - f0)
        counts = np.maximum(1.0, nbinom.ppf(u, th, th / (th + mu)))
        return np.where(rng.random(mu.shape) < p, 0.0, counts)
