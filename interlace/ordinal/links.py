"""The latent distributions F of cumulative link models (the ``link`` of :func:`interlace.clmm`).

For a row with cut points a > b (a = tau_{y+1} - eta, b = tau_y - eta; a = +inf in the top
category, b = -inf in the bottom one) the model needs log P = log(F(a) - F(b)) and, for the
score, the information and the exact gradient of the Laplace deviance, the ratios

    r_a = f(a) / P,  r_b = f(b) / P,  g(x) r_x with g = f'/f,  k(x) r_x with k = f''/f,

each zero at an infinite cut point. Every link computes them in a form that is stable in both
tails and costs few array operations.

Links (as ordinal documents them, and its ``clm()`` uses them; ordinal 2022.11-16's ``clmm()``
fits each Gumbel link under the other's name): ``logit`` (logistic F), ``probit`` (normal),
``cloglog`` (F(x) = 1 - exp(-exp(x))), ``loglog`` (F(x) = exp(-exp(-x))) and ``cauchit``
(Cauchy: F(x) = 1/2 + atan(x)/pi, whose density is not log-concave, so a row's observed
information can be negative; the Laplace approximation needs only the sum over a group's rows
to be positive).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import special

from interlace.errors import PluginError

_LOG_SQRT_2PI = 0.5 * np.log(2.0 * np.pi)
_LOG2 = np.log(2.0)
_LOG_PI = np.log(np.pi)


def log1mexp(d: np.ndarray) -> np.ndarray:
    """log(1 - exp(d)) for d <= 0, accurate over the whole range (call under np.errstate)."""
    d = np.minimum(d, 0.0)
    return np.where(d > -_LOG2, np.log(-np.expm1(d)), np.log1p(-np.exp(d)))


class CumulativeLink:
    """A latent distribution F of a cumulative link model.

    ``evaluate(a, b, top, bottom, ratios)`` gives, per row, log P = log(F(a) - F(b)) for cut
    points a > b (``top`` marks a = +inf, ``bottom`` b = -inf) and, with ``ratios``, r_a, r_b,
    g(a) r_a and g(b) r_b; ``curvature(a, b, ra, rb, top, bottom)`` gives k(a) r_a and
    k(b) r_b (see the module docstring). Call both under ``np.errstate(all="ignore")``.
    ``cdf`` and ``ppf`` are F and its inverse.
    """

    name = ""
    #: Whether f is log-concave (every row's observed information is then positive).
    log_concave = True

    def evaluate(self, a, b, top, bottom, ratios):
        raise NotImplementedError

    def curvature(self, a, b, ra, rb, top, bottom):
        raise NotImplementedError

    def cdf(self, x):
        raise NotImplementedError

    def ppf(self, p):
        raise NotImplementedError

    def log_interval(self, a, b) -> np.ndarray:
        """log(F(a) - F(b)) for a > b (a may be +inf, b -inf)."""
        a, b = np.asarray(a, float), np.asarray(b, float)
        with np.errstate(all="ignore"):
            return self.evaluate(a, b, np.isposinf(a), np.isneginf(b), False)[0]


class _Logistic(CumulativeLink):
    """F(x) = 1 / (1 + exp(-x)). Closed forms: F(a) - F(b) = F(a) S(b) (1 - exp(b - a)) and
    f = F S, with S = 1 - F; g = -tanh(x/2) and k = (3 tanh(x/2)^2 - 1) / 2 are bounded, so
    the ratios are exact at infinite cut points without special cases."""

    name = "logit"

    def evaluate(self, a, b, top, bottom, ratios):
        Fa, Sb = special.expit(a), special.expit(-b)
        P = Fa * Sb * -np.expm1(b - a)  # each factor to full relative precision
        if not P.size or P.min() > 1e-290:  # every row away from the far tails: the direct form
            lp = np.log(P)
            if not ratios:
                return lp, None, None, None, None
            Sa, Fb = special.expit(-a), special.expit(b)
            ra, rb = Fa * Sa / P, Fb * Sb / P
            return lp, ra, rb, (Sa - Fa) * ra, (Sb - Fb) * rb
        return self._evaluate_logs(a, b, ratios)

    def _evaluate_logs(self, a, b, ratios):
        """The same in logs, for rows so far out that P underflows."""
        spa = np.logaddexp(0.0, -a)  # -log F(a)
        spb = np.logaddexp(0.0, b)  # -log S(b)
        lp = log1mexp(b - a) - spa - spb
        if not ratios:
            return lp, None, None, None, None
        ra = np.exp(-2.0 * spa - a - lp)  # log f(a) = log F(a) + log S(a) = -2 spa - a
        rb = np.exp(b - 2.0 * spb - lp)
        return lp, ra, rb, -np.tanh(0.5 * a) * ra, -np.tanh(0.5 * b) * rb

    def curvature(self, a, b, ra, rb, top, bottom):
        ta, tb = np.tanh(0.5 * a), np.tanh(0.5 * b)
        return (1.5 * ta * ta - 0.5) * ra, (1.5 * tb * tb - 0.5) * rb

    def cdf(self, x):
        return special.expit(x)

    def ppf(self, p):
        return special.logit(p)


class _Normal(CumulativeLink):
    """Standard normal F (g = -x, k = x^2 - 1). Rows with a + b > 0 are reflected
    (F(a) - F(b) = F(-b) - F(-a)) so that the difference is always taken in the lower tail,
    where log_ndtr is accurate."""

    name = "probit"

    def evaluate(self, a, b, top, bottom, ratios):
        flip = a + b > 0
        a2, b2 = np.where(flip, -b, a), np.where(flip, -a, b)
        la = special.log_ndtr(a2)
        lp = la + log1mexp(special.log_ndtr(b2) - la)
        if not ratios:
            return lp, None, None, None, None
        ra = np.exp(-0.5 * a * a - _LOG_SQRT_2PI - lp)
        rb = np.exp(-0.5 * b * b - _LOG_SQRT_2PI - lp)
        return lp, ra, rb, np.where(top, 0.0, -a * ra), np.where(bottom, 0.0, -b * rb)

    def curvature(self, a, b, ra, rb, top, bottom):
        return (np.where(top, 0.0, (a * a - 1.0) * ra),
                np.where(bottom, 0.0, (b * b - 1.0) * rb))

    def cdf(self, x):
        return special.ndtr(x)

    def ppf(self, p):
        return special.ndtri(p)


class _CLogLog(CumulativeLink):
    """F(x) = 1 - exp(-exp(x)) (Gumbel minimum): S(x) = exp(-exp(x)), so
    log P = -exp(b) + log(1 - exp(exp(b) - exp(a))); log f(x) = x - exp(x), g = 1 - exp(x),
    k = g^2 - exp(x)."""

    name = "cloglog"

    def evaluate(self, a, b, top, bottom, ratios):
        ea, eb = np.exp(a), np.exp(b)
        lp = log1mexp(eb - ea) - eb
        lp = np.where(eb == np.inf, -np.inf, lp)  # S(b) = S(a) = 0 to double precision
        if not ratios:
            return lp, None, None, None, None
        ra = np.where(top, 0.0, np.exp(a - ea - lp))
        rb = np.exp(b - eb - lp)
        gra = np.where(ra > 0, (1.0 - ea) * ra, 0.0)
        grb = np.where(rb > 0, (1.0 - eb) * rb, 0.0)
        return lp, ra, rb, gra, grb

    def curvature(self, a, b, ra, rb, top, bottom):
        ea, eb = np.exp(a), np.exp(b)
        return (np.where(ra > 0, ((1.0 - ea) ** 2 - ea) * ra, 0.0),
                np.where(rb > 0, ((1.0 - eb) ** 2 - eb) * rb, 0.0))

    def cdf(self, x):
        with np.errstate(over="ignore"):
            return -np.expm1(-np.exp(x))

    def ppf(self, p):
        return np.log(-np.log1p(-p))


class _LogLog(CumulativeLink):
    """F(x) = exp(-exp(-x)) (Gumbel maximum) = 1 - F_cloglog(-x): evaluated by reflection,
    F(a) - F(b) = F_cloglog(-b) - F_cloglog(-a); f(x) = f_cloglog(-x), so g(x) = -g_cloglog(-x)
    and k(x) = k_cloglog(-x)."""

    name = "loglog"

    def evaluate(self, a, b, top, bottom, ratios):
        lp, ra, rb, gra, grb = _CLogLog.evaluate(self, -b, -a, bottom, top, ratios)
        if not ratios:
            return lp, None, None, None, None
        return lp, rb, ra, -grb, -gra

    def curvature(self, a, b, ra, rb, top, bottom):
        kra, krb = _CLogLog.curvature(self, -b, -a, rb, ra, bottom, top)
        return krb, kra

    def cdf(self, x):
        with np.errstate(over="ignore"):
            return np.exp(-np.exp(-x))

    def ppf(self, p):
        return -np.log(-np.log(p))


class _Cauchy(CumulativeLink):
    """Cauchy F(x) = 1/2 + atan(x)/pi: F(a) - F(b) = atan2(a - b, 1 + a b) / pi for finite cut
    points (exact in both tails; rows with a + b > 0 reflected first, so only b can be
    -inf), F(a) = atan2(1, -a) / pi for b = -inf; f(x) = 1 / (pi (1 + x^2)),
    g = -2x / (1 + x^2), k = (6x^2 - 2) / (1 + x^2)^2."""

    name = "cauchit"
    log_concave = False

    def evaluate(self, a, b, top, bottom, ratios):
        flip = a + b > 0
        a2, b2 = np.where(flip, -b, a), np.where(flip, -a, b)
        P = np.where(np.isneginf(b2), np.arctan2(1.0, -a2),
                     np.arctan2(a2 - b2, 1.0 + a2 * b2))
        lp = np.log(P) - _LOG_PI
        if not ratios:
            return lp, None, None, None, None
        ra = np.exp(-np.log1p(a * a) - _LOG_PI - lp)
        rb = np.exp(-np.log1p(b * b) - _LOG_PI - lp)
        gra = np.where(top, 0.0, -2.0 * a / (1.0 + a * a) * ra)
        grb = np.where(bottom, 0.0, -2.0 * b / (1.0 + b * b) * rb)
        return lp, ra, rb, gra, grb

    def curvature(self, a, b, ra, rb, top, bottom):
        def k(x):
            x2 = x * x
            return (6.0 * x2 - 2.0) / ((1.0 + x2) * (1.0 + x2))

        return np.where(top, 0.0, k(a) * ra), np.where(bottom, 0.0, k(b) * rb)

    def cdf(self, x):
        return np.arctan2(1.0, -np.asarray(x, float)) / np.pi

    def ppf(self, p):
        return np.tan(np.pi * (np.asarray(p, float) - 0.5))


CUMULATIVE_LINKS: dict[str, CumulativeLink] = {
    c.name: c() for c in (_Logistic, _Normal, _CLogLog, _LogLog, _Cauchy)
}
_ALIASES = {"logistic": "logit", "normal": "probit", "gumbel": "loglog",
            "complementary_log_log": "cloglog", "cauchy": "cauchit"}


def cumulative_link(link: Any) -> CumulativeLink:
    """The latent distribution for a link name (or a link plugin instance with that name)."""
    if isinstance(link, CumulativeLink):
        return link
    name = link if isinstance(link, str) else getattr(link, "name", None)
    key = _ALIASES.get(str(name).lower(), str(name).lower()) if name is not None else None
    if key not in CUMULATIVE_LINKS:
        raise PluginError(
            f"unknown cumulative link {link!r} for the ordinal family (clmm); available links: "
            f"{', '.join(CUMULATIVE_LINKS)}"
        )
    return CUMULATIVE_LINKS[key]
