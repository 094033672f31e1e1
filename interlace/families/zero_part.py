"""Zero parts built from any family: zero inflation, hurdles and zero truncation (glmmTMB's).

glmmTMB gives every family the same reading of a ``ziformula`` other than ``~0``: with zero
probability ``zi`` (logit scale), a zero has log-probability log(zi + (1 - zi) f(0)) and any
other value log(1 - zi) + log f(y), where f is the family's density. For counts that is zero
inflation; for a zero-truncated family (f(0) = 0) or a positive continuous one (no mass at 0)
it is a hurdle: P(0) = zi, the rest (1 - zi) f(y). :class:`ZeroPartFamily` is that family
around any base family (``kind`` "inflate" or "hurdle", the base's
:attr:`~interlace.families.base.Family.zero_part`); :class:`ZeroTruncatedFamily` is f(y) /
(1 - f(0)) on y >= 1 (glmmTMB's ``truncated_*`` families). Both derive their derivatives from
the base family's (:func:`~interlace.families.derivatives.compose`), so a family with closed
forms keeps them. A family opts in by setting ``zero_part`` and inheriting
:class:`CanHaveZeroPart` (or returning ``ZeroPartFamily(self)`` from ``with_zero_part``).

``mu`` is the base family's mean, the one the link acts on (the untruncated mean for a hurdle
count model, as glmmTMB's). The prior weights multiply each row's log-likelihood; for a family
that reads its weights as trials (``trials_response``) they stay the trials of f.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from interlace.errors import DataError, InterlaceWarning, PluginError
from interlace.families.base import (
    Family,
    FromDerivatives,
    LogDensityDerivatives,
    require_finite,
)
from interlace.families.derivatives import ZiDerivatives, compose
from interlace.families.extended import TINY_INFO, ProbabilityParameter, check_probability

_POSITIVE_PLACEHOLDER = 1.0  # a response value in every base family's support, for zero rows


def _base_params(params: dict, drop: str) -> dict:
    return {k: v for k, v in params.items() if k != drop}


def _scale(d: LogDensityDerivatives, w: Any) -> LogDensityDerivatives:
    """Every entry times ``w`` (returned as it is when ``w`` is None)."""
    if w is None:
        return d
    return LogDensityDerivatives(
        w * d.d1, w * d.d2, None if d.d3 is None else w * d.d3,
        {k: w * v for k, v in d.dp.items()}, {k: w * v for k, v in d.dp1.items()},
        {k: w * v for k, v in d.dp2.items()})


def _where(mask: np.ndarray, a: LogDensityDerivatives, b: LogDensityDerivatives
           ) -> LogDensityDerivatives:
    """Rows of ``a`` where ``mask``, of ``b`` elsewhere (entries of both)."""
    def pick(x, y):
        return np.where(mask, x, y)
    return LogDensityDerivatives(
        pick(a.d1, b.d1), pick(a.d2, b.d2), None if a.d3 is None else pick(a.d3, b.d3),
        {k: pick(a.dp[k], b.dp[k]) for k in b.dp}, {k: pick(a.dp1[k], b.dp1[k]) for k in b.dp1},
        {k: pick(a.dp2[k], b.dp2[k]) for k in b.dp2})


def _scale_zi(d: ZiDerivatives, w: Any) -> ZiDerivatives:
    """Every entry times ``w`` (returned as it is when ``w`` is None)."""
    if w is None:
        return d
    return ZiDerivatives(w * d.pp, w * d.ppp, w * d.mupp, {k: w * v for k, v in d.p_psi.items()},
                         {k: w * v for k, v in d.pp_psi.items()},
                         {k: w * v for k, v in d.mup_psi.items()})


def wrapped_base(family: Any, base: Family | None, link: Any, params: dict) -> Family:
    """The base family a wrapper stands on: ``base`` as given, or one built from the wrapper's
    ``base_family`` with ``link`` and ``params`` (which go to the base family only)."""
    if base is None:
        if family.base_family is None:
            raise PluginError(f"{type(family).__name__} needs a base family")
        return family.base_family(link=link, **params)
    if link is not None or params:
        raise PluginError("give the link and parameters to the base family")
    return base


class ZeroPartFamily(FromDerivatives, Family):
    """A base family with a zero probability ``zi``: zero inflation (``kind="inflate"``,
    P(0) = zi + (1 - zi) f(0)) or a hurdle (``kind="hurdle"``, P(0) = zi, positive values
    (1 - zi) f(y) with f zero-truncated or continuous). Named subclasses set ``base_family``
    (the class of f) and ``kind``; ``ZeroPartFamily(base)`` wraps an instance."""

    name = "zero_part"
    zi_parameter = "zi"
    laplace_information = "observed"
    base_family: type | None = None
    kind: str = ""
    _zi_desc = "zero-inflation probability"

    def __init__(self, base: Family | None = None, link: Any = None, zi: float | None = None,
                 **params: float | None) -> None:
        base = wrapped_base(self, base, link, params)
        kind = self.kind or base.zero_part
        if kind not in ("inflate", "hurdle"):
            raise PluginError(f"family {base.name!r} cannot have a zero part (its zero_part is "
                              f"{base.zero_part!r})")
        self.base, self.kind, self.link = base, kind, base.link
        if type(self) is ZeroPartFamily:  # a wrapped instance: glmmTMB's reading of its name
            self.name = zero_part_name(base, kind)
            self.links = base.links
        if "zi" in base.parameters:
            raise PluginError(f"family {base.name!r} already has a parameter 'zi'")
        self.parameters = dict(base.parameters)
        self.parameters["zi"] = ProbabilityParameter("zi", None, start=0.1, description=(
            self._zi_desc if kind == "inflate" else "probability of a zero (the hurdle)"))
        check_probability(self.name, "zi", zi)
        self.parameters["zi"].value = None if zi is None else float(zi)
        self.dispersion_parameter = base.dispersion_parameter
        self.closed_form_derivatives = base.closed_form_derivatives
        self.trials_response = base.trials_response
        self.two_level_response = base.two_level_response
        self.mean_bounds = base.mean_bounds if kind == "inflate" else (None, None)
        self._trials = bool(base.trials_response)

    # -- pieces ------------------------------------------------------------------------------
    def _split(self, y, weights, params):
        """(zero rows, the base's response with zero rows moved into its support for a hurdle,
        the weights the base sees, the outer factor on each row's log-likelihood, zi, base
        parameters)."""
        zero = y == 0
        yb = y if self.kind == "inflate" else np.where(zero, _POSITIVE_PLACEHOLDER, y)
        bw, outer = (weights, None) if self._trials else (np.ones_like(y, dtype=float), weights)
        return zero, yb, bw, outer, params["zi"], _base_params(params, "zi")

    # -- the distribution --------------------------------------------------------------------
    def _rows(self, y, mu, weights, params, base_terms):
        """Each row's log-likelihood from the base's terms on the positive rows (its
        ``loglik`` or ``loglik_kernel`` with the prior weights) and log f(0) on the zeros."""
        zero, yb, bw, outer, p, bp = self._split(y, weights, params)
        lb = base_terms(yb, mu, weights, bp)
        with np.errstate(divide="ignore", invalid="ignore"):
            lq = np.log1p(-p)
            if self.kind == "hurdle":
                lzero = np.log(p)
            else:
                lzero = np.logaddexp(np.log(p), lq + self.base.log_zero_prob(mu, bw, bp))
            if outer is None:
                return np.where(zero, lzero, lq + lb)
            return np.where(zero, outer * lzero, outer * lq + lb)

    def loglik(self, y, mu, weights, params):
        return self._rows(y, mu, weights, params, self.base.loglik)

    def loglik_kernel(self, y, mu, weights, params):
        return self._rows(y, mu, weights, params, self.base.loglik_kernel)

    def loglik_constant(self, y, weights, params):
        """The base's data-only term on the positive rows."""
        pos = y != 0
        rows = np.shape(y)[0]
        sub = {k: (v[pos] if np.ndim(v) == 1 and len(v) == rows else v)
               for k, v in params.items() if k != "zi"}
        return self.base.loglik_constant(y[pos], np.asarray(weights)[pos], sub)

    def loglik_derivatives(self, y, mu, weights, params, wrt=(), third=False):
        """The base's derivatives, composed with log(zi + (1 - zi) e^g) on the zero rows of an
        inflated family (zero on a hurdle's); zi's own in closed form."""
        zero, yb, bw, outer, p, bp = self._split(y, weights, params)
        base_wrt = tuple(n for n in wrt if n != "zi")
        g = self.base.loglik_derivatives(yb, mu, bw, bp, base_wrt, third)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            if self.kind == "inflate":
                e = np.exp(self.base.log_zero_prob(mu, bw, bp))  # f(0)
                P = p + (1.0 - p) * e
                r = np.where(zero, (1.0 - p) * e / P, 1.0)
                b = r * (1.0 - r)
                out = _where(zero, compose(r, b, b * (1.0 - 2.0 * r), g, third), g)
            else:
                out = _where(zero, _scale(g, 0.0), g)
                e = P = r = None
            if "zi" in wrt:
                self._zi_derivatives(out, zero, p, e, P, r, g, third)
        return _scale(out, outer)

    def _zi_derivatives(self, out, zero, p, e, P, r, g, third) -> None:
        """dl/dzi and its derivatives in mu, into ``out`` (unweighted)."""
        pos = -1.0 / (1.0 - p) + 0.0 * g.d1
        if self.kind == "hurdle":
            out.dp["zi"] = np.where(zero, 1.0 / p, pos)
            out.dp1["zi"] = 0.0 * g.d1
            if third:
                out.dp2["zi"] = 0.0 * g.d1
            return
        rp = np.where(zero, -e / (P * P), 0.0)  # d r / d zi
        out.dp["zi"] = np.where(zero, (1.0 - e) / P, pos)
        out.dp1["zi"] = rp * g.d1
        if third:
            out.dp2["zi"] = rp * (1.0 - 2.0 * r) * g.d1 * g.d1 + rp * g.d2

    def param_second_derivative(self, y, mu, weights, params, name):
        """d2l/dzi2 in closed form: -(1 - f0)^2 / P(0)^2 on an inflated family's zeros,
        -1/zi^2 on a hurdle's, -1/(1 - zi)^2 elsewhere (times the weights)."""
        if name != "zi":
            return super().param_second_derivative(y, mu, weights, params, name)
        zero, yb, bw, outer, p, bp = self._split(y, weights, params)
        with np.errstate(divide="ignore", invalid="ignore"):
            pos = -1.0 / (1.0 - p) ** 2 + 0.0 * mu
            if self.kind == "hurdle":
                zrow = -1.0 / p**2
            else:
                e = np.exp(self.base.log_zero_prob(mu, bw, bp))
                zrow = -((1.0 - e) / (p + (1.0 - p) * e)) ** 2
            out = np.where(zero, zrow, pos)
        return out if outer is None else outer * out

    def zi_newton_terms(self, y, mu, weights, params) -> tuple:
        """(dl/dmu, d2l/dmu2, dl/dzi, d2l/(dmu dzi), d2l/dzi2) per row in one pass: what each
        Newton step of the joint modes with random effects in ``ziformula`` needs
        (:mod:`interlace.glmm.zi_random`); the same values as ``loglik_derivatives(...,
        ("zi",))`` and ``param_second_derivative(..., "zi")``."""
        zero, yb, bw, outer, p, bp = self._split(y, weights, params)
        g = self.base.loglik_derivatives(yb, mu, bw, bp)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            q = 1.0 / (1.0 - p)
            if self.kind == "inflate":
                e = np.exp(self.base.log_zero_prob(mu, bw, bp))
                P = p + (1.0 - p) * e
                r = np.where(zero, (1.0 - p) * e / P, 1.0)
                a = (1.0 - e) / P
                out = [r * g.d1, r * (1.0 - r) * g.d1 * g.d1 + r * g.d2,
                       np.where(zero, a, -q), np.where(zero, -e / (P * P), 0.0) * g.d1,
                       np.where(zero, -a * a, -q * q)]
            else:
                out = [np.where(zero, 0.0, g.d1), np.where(zero, 0.0, g.d2),
                       np.where(zero, 1.0 / p, -q), 0.0 * g.d1,
                       np.where(zero, -1.0 / (p * p), -q * q)]
        return tuple(out) if outer is None else tuple(outer * v for v in out)

    def zi_derivatives(self, y, mu, weights, params, wrt=()) -> ZiDerivatives:
        """d2l/dp2, d3l/dp3, d3l/(dmu dp2) and, for each base parameter psi in ``wrt``, the
        cross derivatives in p and psi, in closed form (random effects in ``ziformula``):
        with e = f(0) and P = p + (1 - p) e on an inflated family's zeros, d2l/dp2 =
        -((1 - e)/P)^2, d3l/dp3 = 2 ((1 - e)/P)^3, d3l/(dx dp2) = 2 (1 - e) e_x / P^3 and
        d2l/(dp dpsi) = -e_psi / P^2 (x: mu or psi); log(1 - p) on positive rows, log p on a
        hurdle's zeros."""
        zero, yb, bw, outer, p, bp = self._split(y, weights, params)
        base_wrt = tuple(n for n in wrt if n != "zi")
        nil = 0.0 * mu
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            q = 1.0 / (1.0 - p)
            if self.kind == "hurdle":
                a = 1.0 / p
                out = ZiDerivatives(np.where(zero, -a * a, -q * q) + nil,
                                    np.where(zero, 2.0 * a**3, -2.0 * q**3) + nil, nil)
                for n in base_wrt:
                    out.p_psi[n] = out.pp_psi[n] = out.mup_psi[n] = nil
                return _scale_zi(out, outer)
            # log f(0)'s derivatives, at y = 0 on every row (read on the zero rows only; a
            # count family's parameter terms are then free: NB2's polygamma sums are empty)
            g0 = self.base.loglik_derivatives(np.zeros_like(yb, dtype=float), mu, bw, bp,
                                              base_wrt)
            e = np.exp(self.base.log_zero_prob(mu, bw, bp))
            P = p + (1.0 - p) * e
            a = (1.0 - e) / P
            P3 = P * P * P
            e_mu = e * g0.d1
            out = ZiDerivatives(np.where(zero, -a * a, -q * q), np.where(zero, 2.0 * a**3,
                                -2.0 * q**3), np.where(zero, 2.0 * (1.0 - e) * e_mu / P3, 0.0))
            for n in base_wrt:
                e_psi = e * g0.dp[n]
                e_mpsi = e * (g0.d1 * g0.dp[n] + g0.dp1[n])
                out.p_psi[n] = np.where(zero, -e_psi / (P * P), 0.0)
                out.pp_psi[n] = np.where(zero, 2.0 * (1.0 - e) * e_psi / P3, 0.0)
                out.mup_psi[n] = np.where(zero, -e_mpsi / (P * P)
                                          + 2.0 * (1.0 - p) * e_mu * e_psi / P3, 0.0)
        return _scale_zi(out, outer)

    def info_mu(self, y, mu, weights, params):
        """A positive information for Fisher steps (the exact Laplace uses the observed one):
        (1 - zi) times the base's where the base's density is in play, negligible on a
        hurdle's zeros."""
        zero, yb, bw, outer, p, bp = self._split(y, weights, params)
        ib = self.base.info_mu(yb, mu, bw, bp)
        out = (1.0 - p) * ib if self.kind == "inflate" else np.where(zero, TINY_INFO, ib)
        out = np.maximum(out, TINY_INFO)
        return out if outer is None else outer * out

    def mean(self, mu, params):
        return (1.0 - params["zi"]) * self.base.mean(mu, _base_params(params, "zi"))

    def variance(self, mu, params):
        p, bp = params["zi"], _base_params(params, "zi")
        m = self.base.mean(mu, bp)
        return (1.0 - p) * (self.base.variance(mu, bp) + m * m) - ((1.0 - p) * m) ** 2

    def simulate(self, mu, weights, params, rng):
        p = params["zi"]
        draws = self.base.simulate(mu, weights, _base_params(params, "zi"), rng)
        return np.where(rng.random(np.shape(mu)) < p, 0.0, draws)

    # -- data and starts ---------------------------------------------------------------------
    def decode_response(self, response):
        return self.base.decode_response(response)

    def validate(self, y, weights, label):
        require_finite(y, label)
        if self.kind == "inflate":
            self.base.validate(y, weights, label)
        else:
            if np.any(y < 0):
                i = int(np.flatnonzero(y < 0)[0])
                raise DataError(f"{self.name} response {label!r} must be non-negative; row {i} "
                                f"has {float(y[i])!r}")
            pos = y > 0
            self.base.validate(y[pos], np.asarray(weights)[pos], label)
        if not np.any(y == 0) and not self.parameters["zi"].fixed:
            warnings.warn(
                f"{self.name}: response {label!r} has no zeros; the zero probability will be "
                "estimated at (nearly) 0", InterlaceWarning, stacklevel=2)

    def initialize(self, y, weights):
        if self.kind == "inflate":
            return self.base.initialize(y, weights)
        pos = y > 0
        fill = float(np.mean(y[pos])) if pos.any() else 1.0
        return self.base.initialize(np.where(pos, y, fill), weights)

    def start_parameters(self, design, beta0):
        out = self.base.start_parameters(design, beta0)
        if not self.parameters["zi"].fixed:
            share = float(np.mean(design.y == 0))
            out["zi"] = (float(np.clip(share * 0.5, 1e-3, 0.5)) if self.kind == "inflate"
                         else float(np.clip(share, 1e-3, 0.99)))
        return out

    def boundary_rows(self, y, mu, weights, params):
        if self.kind == "hurdle":
            return None
        return self.base.boundary_rows(y, mu, weights, _base_params(params, "zi"))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.base!r}, zi={self.parameters['zi'].value!r})"


class ZeroTruncatedFamily(FromDerivatives, Family):
    """f(y) / (1 - f(0)) on y = 1, 2, ...: the base count family truncated at zero (glmmTMB's
    ``truncated_poisson`` and friends, with ``ziformula = ~0``). Named subclasses set
    ``base_family``; ``ZeroTruncatedFamily(base)`` wraps an instance. With a ``ziformula`` it
    becomes the hurdle model."""

    name = "zero_truncated"
    zero_part = "hurdle"
    laplace_information = "observed"
    base_family: type | None = None

    def __init__(self, base: Family | None = None, link: Any = None,
                 **params: float | None) -> None:
        base = wrapped_base(self, base, link, params)
        if base.zero_part != "inflate" or base.trials_response:
            raise PluginError(f"family {base.name!r} is not a count family that can be "
                              f"truncated at zero")
        self.base, self.link = base, base.link
        if type(self) is ZeroTruncatedFamily:
            self.name = f"truncated_{base.name}"
            self.links = base.links
        self.parameters = base.parameters
        self.dispersion_parameter = base.dispersion_parameter
        self.closed_form_derivatives = base.closed_form_derivatives
        self._zeros: np.ndarray = np.zeros(0)

    def _zero_y(self, n: int) -> np.ndarray:
        if self._zeros.shape != (n,):
            self._zeros = np.zeros(n)
        return self._zeros

    def _log_f0(self, mu, params):
        """log f(0 | mu) per row, unweighted."""
        return self.base.log_zero_prob(mu, np.ones(np.shape(mu)), params)

    def _rows(self, y, mu, weights, params, base_terms):
        lb = base_terms(y, mu, weights, params)
        with np.errstate(divide="ignore", invalid="ignore"):
            out = lb - weights * np.log(-np.expm1(self._log_f0(mu, params)))
            return np.where(y >= 1, out, -np.inf)

    def loglik(self, y, mu, weights, params):
        return self._rows(y, mu, weights, params, self.base.loglik)

    def loglik_kernel(self, y, mu, weights, params):
        return self._rows(y, mu, weights, params, self.base.loglik_kernel)

    def loglik_constant(self, y, weights, params):
        return self.base.loglik_constant(y, weights, params)

    def loglik_derivatives(self, y, mu, weights, params, wrt=(), third=False):
        """The base's derivatives at y plus those of -log(1 - e^g0), g0 = log f(0)."""
        ones = np.ones_like(mu)
        g = self.base.loglik_derivatives(y, mu, ones, params, wrt, third)
        g0 = self.base.loglik_derivatives(self._zero_y(np.shape(mu)[0]), mu, ones, params, wrt,
                                          third)
        with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
            s = 1.0 / np.expm1(-self._log_f0(mu, params))
            b = s * (1.0 + s)
            h = compose(s, b, b * (1.0 + 2.0 * s), g0, third)
        out = LogDensityDerivatives(
            g.d1 + h.d1, g.d2 + h.d2, None if not third else g.d3 + h.d3,
            {k: g.dp[k] + h.dp[k] for k in g.dp}, {k: g.dp1[k] + h.dp1[k] for k in g.dp1},
            {k: g.dp2[k] + h.dp2[k] for k in g.dp2})
        return _scale(out, weights)

    def info_mu(self, y, mu, weights, params):
        return np.maximum(self.base.info_mu(y, mu, weights, params), TINY_INFO)

    def mean(self, mu, params):
        return self.base.mean(mu, params) / -np.expm1(self._log_f0(mu, params))

    def variance(self, mu, params):
        t = -np.expm1(self._log_f0(mu, params))
        m = self.base.mean(mu, params)
        return (self.base.variance(mu, params) + m * m) / t - (m / t) ** 2

    def simulate(self, mu, weights, params, rng):
        """Draws of the base family, zeros drawn again (at most 200 rounds; rows still at zero,
        whose means are tiny, take the value 1, the truncated distribution's mode there)."""
        out = self.base.simulate(mu, weights, params, rng)
        for _ in range(200):
            zero = out == 0
            if not zero.any():
                break
            sub = {k: (v[zero] if np.ndim(v) else v) for k, v in params.items()}
            out[zero] = self.base.simulate(mu[zero], weights[zero], sub, rng)
        return np.maximum(out, 1.0)

    def validate(self, y, weights, label):
        self.base.validate(y, weights, label)
        if np.any(y == 0):
            i = int(np.flatnonzero(y == 0)[0])
            raise DataError(
                f"{self.name} response {label!r} has zeros (row {i}, {int(np.sum(y == 0))} in "
                f"all): a zero-truncated family describes counts of 1 or more; for a hurdle "
                f"model (zeros with their own probability) give ziformula='~1'")

    def initialize(self, y, weights):
        return self.base.initialize(y, weights)

    def start_parameters(self, design, beta0):
        return self.base.start_parameters(design, beta0)

    def with_zero_part(self) -> Family:
        return ZeroPartFamily(self)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.base!r})"


class CanHaveZeroPart:
    """Mixin for a family whose ``zero_part`` is set: ``with_zero_part`` wraps it in a
    :class:`ZeroPartFamily`."""

    def with_zero_part(self) -> Family:
        return ZeroPartFamily(self)


def zero_part_name(base: Family, kind: str) -> str:
    """glmmTMB's family with a zero part, named: ``zipoisson`` (inflation),
    ``hurdle_poisson`` (a truncated count family's hurdle), ``zigamma`` (a positive continuous
    family's hurdle)."""
    if kind == "hurdle" and base.name.startswith("truncated_"):
        return "hurdle_" + base.name[len("truncated_"):]
    return "zi" + base.name
