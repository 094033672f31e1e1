"""The family plugin contract.

A family gives the conditional distribution of y given the linear predictor. To add one,
subclass :class:`Family` (or :class:`ExponentialFamily` when Var(y) = phi V(mu)/w), set
``name``, ``aliases``, ``links`` (allowed link names, first = default) and ``parameters``
(extra parameters such as a dispersion), implement ``loglik`` and ``validate``, and return the
class from an ``interlace_families`` hook implementation registered under the ``interlace``
entry-point group. Then ``glmer(..., family="yourname")`` finds it.

What the framework needs, and what it computes for you:

* ``loglik(y, mu, weights, params)``: per-observation log-density **with all constants**, so
  that log-likelihoods and AICs compare across families and with R. Required.
* ``score_mu`` (d loglik / d mu) and ``info_mu`` (the Fisher information in mu, the weight of
  penalised IRLS): numerical derivatives of ``loglik`` unless overridden.
* ``validate(y, weights, label)``: raise :class:`~interlace.errors.DataError` naming
  ``label`` when y cannot come from the family.
* ``initialize(y, weights)``: a starting mean inside the support.
* ``simulate(mu, weights, params, rng)``: draws of y, for ``result.simulate``.
* ``mean(mu, params)`` and ``variance(mu, params)``: E[y] and Var(y) given the linked mean
  ``mu``, for fitted values, predictions and Pearson residuals.
* ``latent_variance(mean, params)``: the distribution-specific variance on the link scale,
  for ``result.icc()`` and ``result.r2()`` (None by default: not defined, and they raise).

Extra parameters are :class:`FamilyParameter` objects: a value given by the user is held
fixed; ``None`` means "estimate", starting from ``start`` on the ``transform`` scale. Name the
zero-part and dispersion parameters in ``zi_parameter`` / ``dispersion_parameter`` to let users
model them with ``ziformula=`` / ``dispformula=``; the methods then receive that parameter as an
array (one value per row), so write them elementwise (numpy broadcasting does it).

Hooks the fitting code reads, each declared here with its default (``docs/plugins.md`` lists
when each is called):

* ``decode_response(response)``: the response from the formula's left-hand side (default: one
  number per row; opt into ``s / n`` / ``cbind(s, f)`` as successes over trials with
  ``trials_response = True`` and into a two-level text response with
  ``two_level_response = True``).
* ``row_kernel(y, weights)``: a faster :class:`RowKernel` for PIRLS, or None (default).
* ``start_parameters(design, beta0)``: starting values of extra parameters (default none).
* ``laplace_information``: "expected" (default) or "observed" information for Laplace.
* ``scale_parameter`` / ``has_dispersion`` / ``is_normal_linear()``: the residual SD, if any.
* ``zi_parameter``, ``dispersion_parameter``, ``canonical_link``: see below.
* ``fit_warnings(y, mu, weights, params)``: messages about the fit (default none).
* ``log_zero_prob(mu, weights, params)``: log P(y = 0) per row, for zero parts (default:
  ``loglik`` at 0).
* ``closed_form_derivatives``: True when ``loglik_derivatives`` has no differences (the
  fit then treats the Laplace gradient as exact; default False).
* ``param_second_derivative(y, mu, weights, params, name)``: d2 loglik / d psi2 per row, for
  random effects in a parameter's formula (``ziformula``; default: differences).
* ``zero_part`` and ``with_zero_part()``: what glmmTMB's ``ziformula`` (anything but ``~0``)
  means for the family: ``"inflate"`` (P(0) = zi + (1 - zi) f(0), counts), ``"hurdle"``
  (P(0) = zi, positive values (1 - zi) f(y): zero-truncated counts and positive continuous
  responses) or None (the default: the family cannot have a zero part, and a ``ziformula``
  is an error saying so). A family with a zero part returns the family with it
  (:mod:`interlace.families.zero_part` builds one from any family) from ``with_zero_part``.

Derivatives (:mod:`interlace.families.derivatives`): the exact gradient of the Laplace
deviance needs, per row, the log-density's first three derivatives in mu and, for each
estimated extra parameter psi (natural scale), dl/dpsi, d2l/(dmu dpsi) and d3l/(dmu2 dpsi):
``loglik_derivatives(y, mu, weights, params, wrt, third)`` returns them as a
:class:`LogDensityDerivatives`. Its default is the documented fallback
:func:`~interlace.families.derivatives.numeric_derivatives` (``score_mu`` and
``obs_info_mu``, differences for the rest); every built-in family overrides it with closed
forms. ``info_derivatives(y, mu, weights, params, wrt)`` gives d info_mu / d mu and
d info_mu / d psi, needed when the Laplace weights are the expected information (lme4's form);
its default differences ``info_mu``. A parameter's transform gives d psi / d z
(``FamilyParameter.natural_derivative``) for the chain rule to the optimizer's scale.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from interlace.errors import DataError, PluginError
from interlace.families.checks import check_family_outputs
from interlace.families.decoding import (
    DecodedResponse,
    Response,
    numeric_response,
    successes_over_trials,
    two_level_codes,
)
from interlace.families.derivatives import (
    FromDerivatives,
    LogDensityDerivatives,
    numeric_derivatives,
    numeric_info_derivatives,
    numeric_parameter_derivatives,
)
from interlace.families.kernel import RowKernel
from interlace.registry import declare_kind, resolve

__all__ = ["Family", "ExponentialFamily", "FamilyParameter", "FamilyInfo", "Response",
           "DecodedResponse", "RowKernel", "successes_over_trials", "two_level_codes",
           "numeric_response", "require_finite", "check_family_outputs",
           "LogDensityDerivatives", "FromDerivatives", "numeric_derivatives", "numeric_parameter_derivatives",
           "numeric_info_derivatives"]


#: How close to a boundary of its range a fitted mean counts as on it (:meth:`Family.boundary_rows`).
BOUNDARY_TOL = 1e-10


@dataclass
class FamilyParameter:
    """An extra family parameter: fixed when ``value`` is given, estimated otherwise."""

    name: str
    value: float | None = None
    start: float = 1.0
    transform: str = "log"  # "log" (positive) or "identity" (real line)
    description: str = ""

    @property
    def fixed(self) -> bool:
        return self.value is not None

    def to_unconstrained(self, x):
        """The optimizer's scale (a float, or an array for a parameter with a formula)."""
        return scalar_or_array(np.log(x) if self.transform == "log" else np.asarray(x, float))

    def from_unconstrained(self, z):
        """The natural scale (a float, or an array for a parameter with a formula)."""
        if type(z) is float:  # the objective's scalars: no numpy round trip (~3 us a call)
            if self.transform != "log":
                return z
            try:
                return math.exp(z)
            except OverflowError:
                return math.inf
        return scalar_or_array(np.exp(z) if self.transform == "log" else np.asarray(z, float))

    def natural_derivative(self, x):
        """d x / d z at the natural value ``x``: the chain rule from the derivatives in the
        natural parameter to the optimizer's unconstrained one."""
        return x if self.transform == "log" else np.ones_like(np.asarray(x, float))


def scalar_or_array(v):
    """A 0-d result as a Python float; arrays (per-row parameter values) as they are."""
    return float(v) if np.ndim(v) == 0 else np.asarray(v, float)


@dataclass
class FamilyInfo:
    """A short description used in summaries."""

    name: str
    link: str
    params: dict[str, float] = field(default_factory=dict)


class Family(ABC):
    """Conditional distribution of the response given the mean."""

    name: str = ""
    aliases: tuple[str, ...] = ()
    links: tuple[str, ...] = ()  # allowed link names; the first is the default
    canonical_link: str | None = None  # with this link observed and expected information agree
    # Parameters that glmmTMB-style formulas may model (glmer's ziformula= and dispformula=);
    # such a parameter's value reaches loglik & co. as an array with one value per row.
    zi_parameter: str | None = None
    dispersion_parameter: str | None = None
    #: The information the Laplace approximation uses with the default integrator: "expected"
    #: (Fisher scoring, lme4's) or "observed" (glmmTMB's, for families fitted as glmmTMB does).
    laplace_information: str = "expected"
    #: ``s / n`` and ``cbind(s, f)`` are successes over trials (the trials become weights).
    trials_response: bool = False
    #: A two-level text, categorical or boolean response is read as 0/1.
    two_level_response: bool = False
    #: Whether ``loglik_derivatives`` is closed-form in mu and in every parameter (no
    #: differences): the Laplace integrator's gradient is then exact to rounding with the
    #: observed information, and the fit skips its first stage and takes the Hessian by
    #: forward differences of the gradient. False by default (the numeric fallback).
    closed_form_derivatives: bool = False
    #: What a ``ziformula`` other than ``~0`` adds (glmmTMB's meaning): "inflate", "hurdle" or
    #: None (cannot be zero-inflated); see :meth:`with_zero_part`.
    zero_part: str | None = None
    #: The boundary of the linked mean's range that a response value can sit on: (lower,
    #: upper), None where there is none. Counts have (0.0, None) (mu -> 0 where y = 0), the
    #: binomial (0.0, 1.0). :meth:`boundary_rows` reads it; see there.
    mean_bounds: tuple[float | None, float | None] = (None, None)

    def __init__(self, link: Any = None, **params: float | None) -> None:
        link = self.links[0] if link is None else link
        self.link = resolve("link", link)
        if self.links and self.link.name not in self.links:
            raise PluginError(
                f"link {self.link.name!r} is not available for family {self.name!r}; "
                f"allowed links: {', '.join(self.links)}"
            )
        self.parameters: dict[str, FamilyParameter] = {p.name: p for p in self.default_parameters()}
        for key, value in params.items():
            if key not in self.parameters:
                raise PluginError(
                    f"family {self.name!r} has no parameter {key!r}; "
                    f"its parameters: {', '.join(self.parameters) or '(none)'}"
                )
            if value is not None:
                value = float(value)
                if not np.isfinite(value) or (self.parameters[key].transform == "log" and value <= 0):
                    raise PluginError(
                        f"family {self.name!r} parameter {key!r} must be a positive finite "
                        f"number, got {value!r}"
                    )
            self.parameters[key].value = value

    # -- parameters ----------------------------------------------------------------------
    def default_parameters(self) -> list[FamilyParameter]:
        """The family's extra parameters (none by default)."""
        return []

    def parameter_values(self) -> dict[str, float]:
        """Current values: fixed values, or starts for estimated ones."""
        return {k: (p.value if p.fixed else p.start) for k, p in self.parameters.items()}

    #: The parameter that is the residual standard deviation (Gaussian's ``"sigma"``), or None.
    #: lme4 reports theta relative to it and VarCorr gets a "Residual" row.
    scale_parameter: str | None = None

    @property
    def has_dispersion(self) -> bool:
        """Whether the family carries a residual scale (``scale_parameter`` is set)."""
        return self.scale_parameter is not None

    def is_normal_linear(self) -> bool:
        """Whether y given the random effects is normal with the identity link and its scale is
        the only extra parameter, estimated: the model is then a linear mixed model, which
        ``glmer`` fits by the exact LMM path as lme4 and MixedModels.jl do. False by default."""
        return False

    def latent_variance(self, mean: Callable[[], float], params: dict[str, float]
                        ) -> float | None:
        """The distribution-specific variance on the link scale (the residual variance of
        Nakagawa's R² and the ICC, as ``insight::get_variance``); ``mean()`` gives the null
        model's mean (a refit, so called only when needed). None: not defined (the default)."""
        return None

    # -- hooks the fitting code calls -------------------------------------------------------
    def decode_response(self, response: Response) -> DecodedResponse:
        """The response as ``(y, trials or None, two levels or None)``, called once per design
        with the formula's left-hand side and the design's means to read the data.

        By default: one number per row (booleans as 0/1, ``a / b`` a division as in R); with
        ``trials_response`` ``s / n`` and ``cbind(s, f)`` are proportions of trials; with
        ``two_level_response`` a two-level text column is 0/1. A family may override this.
        """
        if self.trials_response and response.kind in ("ratio", "cbind"):
            return successes_over_trials(response)
        if self.two_level_response:
            coded = two_level_codes(response, self.name)
            if coded is not None:
                return coded
        return numeric_response(response, self.name)

    def row_kernel(self, y: np.ndarray, weights: np.ndarray) -> RowKernel | None:
        """A faster :class:`RowKernel` for this family and link, or None (the default) for the
        generic kernel built from ``loglik_kernel``, ``score_mu``, ``info_mu`` and the link.
        Called once per model (the kernel is kept); see :mod:`interlace.families.kernel` for
        what a ``fused`` kernel promises."""
        return None

    def start_parameters(self, design: Any, beta0: np.ndarray) -> dict[str, float]:
        """Starting values of estimated extra parameters, from the model's design (``y``,
        ``weights``, ``X``, ``offset``, ``param_designs``) and the fixed effects of the starting
        GLM ``beta0``; called once per fit after that GLM. Entries update the parameters'
        ``start``; none by default."""
        return {}

    def log_zero_prob(self, mu: np.ndarray, weights: np.ndarray, params: dict[str, Any]
                      ) -> np.ndarray:
        """log P(y = 0 | mu) per row (``weights`` as ``loglik`` reads them: the trials of a
        ``trials_response`` family; others' log-probability is unweighted): the zero parts of
        :mod:`interlace.families.zero_part` read it on every evaluation. The default evaluates
        ``loglik`` at y = 0; a closed form saves its constants."""
        z = np.zeros(np.shape(mu))
        w = weights if self.trials_response else np.ones(np.shape(mu))
        return self.loglik(z, mu, w, params)

    def with_zero_part(self) -> Family | None:
        """The family with a zero part (glmmTMB's reading of a ``ziformula`` other than
        ``~0``), with this family's link and parameters and a zero probability ``zi``; None
        (the default) when the family cannot have one. Called once per model when a
        ``ziformula`` is given to a family without a ``zi_parameter``."""
        return None

    def fit_warnings(self, y: np.ndarray, mu: np.ndarray, weights: np.ndarray,
                     params: dict[str, Any]) -> list[str]:
        """Messages about the fitted model (e.g. separation), at the estimates: the linked mean
        ``mu`` at the conditional modes and the parameter values. The result adds each to its
        ``messages`` and warns it. None by default."""
        return []

    def boundary_rows(self, y: np.ndarray, mu: np.ndarray, weights: np.ndarray,
                      params: dict[str, Any]) -> np.ndarray | None:
        """Rows whose fitted mean is numerically at the boundary of its range on a response
        value at that boundary (a Poisson mean below 1e-10 on a count of 0, a binomial
        probability within 1e-10 of 0 or 1 on a proportion of 0 or 1), at the estimates: a bool
        array, or None when the mean has no such boundary. By default from
        :attr:`mean_bounds`. The GLMM result reports the fixed effects identified only by these
        rows: their maximum-likelihood estimates are not finite."""
        low, high = self.mean_bounds
        if low is None and high is None:
            return None
        y, mu = np.asarray(y, float), np.asarray(mu, float)
        out = np.zeros(mu.shape, bool)
        if low is not None:
            out |= (y == low) & (mu - low < BOUNDARY_TOL)
        if high is not None:
            out |= (y == high) & (high - mu < BOUNDARY_TOL)
        return out

    # -- the distribution ----------------------------------------------------------------
    @abstractmethod
    def loglik(self, y: np.ndarray, mu: np.ndarray, weights: np.ndarray,
               params: dict[str, float]) -> np.ndarray:
        """Per-observation log-density with all constants."""

    def loglik_kernel(self, y, mu, weights, params) -> np.ndarray:
        """The part of ``loglik`` that depends on mu (all of it unless overridden).

        Families whose density has a data-only term (binomial coefficients, log y!) override
        this and ``loglik_constant`` so the fitting loop computes that term once per fit.
        """
        return self.loglik(y, mu, weights, params)

    def loglik_constant(self, y, weights, params) -> float:
        """Sum over rows of ``loglik - loglik_kernel`` (0 unless overridden)."""
        return 0.0

    @abstractmethod
    def validate(self, y: np.ndarray, weights: np.ndarray, label: str) -> None:
        """Raise DataError naming ``label`` if y is impossible under the family."""

    def initialize(self, y: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """A starting mean strictly inside the support."""
        return np.asarray(y, dtype=float) + 0.1

    def mean(self, mu: np.ndarray, params: dict[str, float]) -> np.ndarray:
        """E[y]: ``mu`` itself unless part of the distribution sits outside the linked mean
        (zero inflation, hurdles, ZOIB's ends). Fitted values, response-scale predictions and
        residuals use it, as glmmTMB's ``predict(type = "response")`` does."""
        return mu

    def variance(self, mu: np.ndarray, params: dict[str, float]) -> np.ndarray:
        """Var(y) per unit weight, used for Pearson residuals (1 / info by default)."""
        return 1.0 / self.info_mu(mu, mu, np.ones_like(mu), params)

    def score_mu(self, y, mu, weights, params) -> np.ndarray:
        """d loglik / d mu, by central differences unless overridden."""
        h = 1e-6 * np.maximum(1.0, np.abs(mu))
        up = self.loglik(y, mu + h, weights, params)
        dn = self.loglik(y, mu - h, weights, params)
        return (up - dn) / (2 * h)

    def info_mu(self, y, mu, weights, params) -> np.ndarray:
        """Information in mu, -d^2 loglik / d mu^2 (observed, numerically) unless overridden."""
        h = 1e-4 * np.maximum(1.0, np.abs(mu))
        up = self.loglik(y, mu + h, weights, params)
        mid = self.loglik(y, mu, weights, params)
        dn = self.loglik(y, mu - h, weights, params)
        return np.maximum(-(up - 2 * mid + dn) / (h * h), 1e-12)

    def obs_info_mu(self, y, mu, weights, params) -> np.ndarray:
        """Observed information in mu, -d^2 loglik / d mu^2 (numerical unless overridden)."""
        h = 1e-4 * np.maximum(1.0, np.abs(mu))
        up = self.loglik(y, mu + h, weights, params)
        mid = self.loglik(y, mu, weights, params)
        dn = self.loglik(y, mu - h, weights, params)
        return -(up - 2 * mid + dn) / (h * h)

    def loglik_derivatives(self, y: np.ndarray, mu: np.ndarray, weights: np.ndarray,
                           params: dict[str, Any], wrt: tuple[str, ...] = (),
                           third: bool = False) -> LogDensityDerivatives:
        """Derivatives of ``loglik`` in mu (to the third with ``third``) and in the parameters
        ``wrt`` (natural scale); see :mod:`interlace.families.derivatives`. The default is the
        documented fallback by differences; override it with closed forms."""
        return numeric_derivatives(self, y, mu, weights, params, wrt, third)

    def info_derivatives(self, y: np.ndarray, mu: np.ndarray, weights: np.ndarray,
                         params: dict[str, Any], wrt: tuple[str, ...] = ()
                         ) -> tuple[Any, dict[str, Any]]:
        """(d info_mu / d mu, {name: d info_mu / d psi}): the change of the expected
        information, for lme4's Laplace weights (by differences unless overridden)."""
        return numeric_info_derivatives(self, y, mu, weights, params, wrt)

    def param_second_derivative(self, y: np.ndarray, mu: np.ndarray, weights: np.ndarray,
                                params: dict[str, Any], name: str) -> np.ndarray:
        """d2 loglik / d psi2 per row for the parameter ``name`` (natural scale): the Laplace
        approximation needs it when the parameter's formula has random effects
        (``ziformula = ~ x + (1 | g)``). By differences of ``loglik_derivatives``' dl/dpsi
        unless overridden."""
        p = self.parameters[name]
        v = params[name]
        z = p.to_unconstrained(v)
        hz = 1e-5 * np.maximum(1.0, np.abs(z))
        up, dn = (self.loglik_derivatives(y, mu, weights, dict(params, **{name: p.from_unconstrained(
            zz)}), (name,)).dp[name] for zz in (z + hz, z - hz))
        return (up - dn) / (2 * hz) / p.natural_derivative(v)

    def simulate(self, mu: np.ndarray, weights: np.ndarray, params: dict[str, float],
                 rng: np.random.Generator) -> np.ndarray:
        raise PluginError(f"family {self.name!r} does not implement simulate()")

    def __repr__(self) -> str:
        ps = ", ".join(f"{k}={p.value!r}" for k, p in self.parameters.items())
        return f"{type(self).__name__}(link={self.link.name!r}{', ' + ps if ps else ''})"


declare_kind("family", Family)


class ExponentialFamily(Family):
    """Var(y) = phi * V(mu) / weight: score and Fisher information have closed forms."""

    @abstractmethod
    def unit_variance(self, mu: np.ndarray, params: dict[str, float]) -> np.ndarray:
        """V(mu)."""

    def dispersion(self, params: dict[str, float]) -> float:
        """phi (1 unless the family has a scale parameter)."""
        return 1.0

    def variance(self, mu, params):
        return self.dispersion(params) * self.unit_variance(mu, params)

    def score_mu(self, y, mu, weights, params):
        return weights * (y - mu) / (self.dispersion(params) * self.unit_variance(mu, params))

    def info_mu(self, y, mu, weights, params):
        return weights / (self.dispersion(params) * self.unit_variance(mu, params))

    def unit_variance_deriv(self, mu: np.ndarray, params: dict[str, float]) -> np.ndarray:
        """V'(mu), by central differences unless overridden."""
        h = 1e-6 * np.maximum(1.0, np.abs(mu))
        return (self.unit_variance(mu + h, params) - self.unit_variance(mu - h, params)) / (2 * h)

    def unit_variance_deriv2(self, mu: np.ndarray, params: dict[str, float]) -> np.ndarray:
        """V''(mu), by central differences of ``unit_variance_deriv`` unless overridden."""
        h = 1e-5 * np.maximum(1.0, np.abs(mu))
        return (self.unit_variance_deriv(mu + h, params)
                - self.unit_variance_deriv(mu - h, params)) / (2 * h)

    def obs_info_mu(self, y, mu, weights, params):
        phi, V = self.dispersion(params), self.unit_variance(mu, params)
        return weights / (phi * V) + weights * (y - mu) * self.unit_variance_deriv(mu, params) / (
            phi * V * V)

    def mu_derivatives(self, y, mu, weights, params, third: bool = False
                       ) -> LogDensityDerivatives:
        """The derivatives in mu in closed form from V, V' (and V''): with r = w / (phi V),
        d1 = r (y - mu), d2 = -r (1 + (y - mu) V'/V), d3 = r (2 V'/V + (y - mu) (2 V'^2 -
        V V'') / V^2)."""
        phi, V = self.dispersion(params), self.unit_variance(mu, params)
        V1 = self.unit_variance_deriv(mu, params)
        r = weights / (phi * V)
        e = y - mu
        out = LogDensityDerivatives(r * e, -r * (1.0 + e * V1 / V))
        if third:
            V2 = self.unit_variance_deriv2(mu, params)
            out.d3 = r * (2.0 * V1 / V + e * (2.0 * V1 * V1 - V * V2) / (V * V))
        return out

    def loglik_derivatives(self, y, mu, weights, params, wrt=(), third=False):
        """Closed forms in mu (:meth:`mu_derivatives`); the parameters by differences unless a
        subclass overrides this."""
        out = self.mu_derivatives(y, mu, weights, params, third)
        return numeric_parameter_derivatives(self, y, mu, weights, params, wrt, third, out)

    def info_derivatives(self, y, mu, weights, params, wrt=()):
        """d info / d mu = -info V'/V in closed form; the parameters by differences unless a
        subclass overrides this."""
        info = self.info_mu(y, mu, weights, params)
        dmu = -info * self.unit_variance_deriv(mu, params) / self.unit_variance(mu, params)
        if not wrt:
            return dmu, {}
        return dmu, numeric_info_derivatives(self, y, mu, weights, params, wrt)[1]


def require_finite(y: np.ndarray, label: str) -> None:
    """Shared check: finite numeric response."""
    if not np.all(np.isfinite(y)):
        raise DataError(f"response {label!r} has non-finite values")


def lognormal_latent_variance(family: Family, mean: Callable[[], float],
                              params: dict[str, float]) -> float | None:
    """The lognormal approximation of a log-link count family's latent variance,
    log(1 + Var(y) / mu^2) at the null model's mean mu (insight 0.19's ``get_variance``:
    log(1 + 1/mu) for the Poisson, log(1 + 1/mu + 1/theta) for NB2); None for other links."""
    if family.link.name != "log":
        return None
    mu = float(mean())
    return float(np.log1p(family.variance(np.array([mu]), params)[0] / mu ** 2))
