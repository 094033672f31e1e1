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
"""

from __future__ import annotations

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
from interlace.families.kernel import RowKernel
from interlace.registry import declare_kind, resolve

__all__ = ["Family", "ExponentialFamily", "FamilyParameter", "FamilyInfo", "Response",
           "DecodedResponse", "RowKernel", "successes_over_trials", "two_level_codes",
           "numeric_response", "require_finite", "check_family_outputs"]


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
        return scalar_or_array(np.exp(z) if self.transform == "log" else np.asarray(z, float))


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

    def obs_info_mu(self, y, mu, weights, params):
        phi, V = self.dispersion(params), self.unit_variance(mu, params)
        return weights / (phi * V) + weights * (y - mu) * self.unit_variance_deriv(mu, params) / (
            phi * V * V)


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
