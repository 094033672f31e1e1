"""ICC and Nakagawa's R² as R's ``performance`` package defines them (``icc``, ``r2_nakagawa``,
with ``insight::get_variance``'s variance components, insight 0.19).

The fixed-effects variance is the sample variance (n - 1) of X beta; the random-effects
variance the mean over rows of z_i' Sigma z_i summed over the terms (Johnson 2014, so random
slopes count at the observed covariates); the residual ("distribution-specific") variance is
sigma² for an LMM, pi²/3 (logit), 1 (probit) or pi²/6 (cloglog) for a binomial GLMM, and the
lognormal approximation log(1 + 1/mu) for a Poisson log-link GLMM, log(1 + 1/mu + 1/theta)
for a negative binomial (NB2), with mu = exp(intercept) of the null model (fixed part ``~ 1``,
the same random terms, refitted) and theta the fitted model's. The family plugins say which
(``Family.latent_variance``; the binary links' ``Link.latent_variance``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from interlace.errors import InterlaceError
from interlace.model.context import ModelContext


@dataclass(frozen=True)
class VarianceParts:
    """The variance components behind the ICC and R² (insight's ``get_variance`` names)."""

    fixed: float
    random: float
    residual: float


class Shares(Mapping):
    """A dict-like pair of variance shares (``icc()``: adjusted, unadjusted; ``r2()``:
    marginal, conditional), with the variance components they come from in ``components``."""

    def __init__(self, values: dict[str, float], components: VarianceParts) -> None:
        self._values = dict(values)
        self.components = components

    def __getitem__(self, key: str) -> float:
        return self._values[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return "{" + ", ".join(f"{k!r}: {v:.4f}" for k, v in self._values.items()) + "}"


def fixed_variance(result: Any) -> float:
    """The sample variance (n - 1) of the fixed part X beta of the linear predictor."""
    d = result.design
    return float(np.var(d.X @ np.asarray(result.fe_params, dtype=float), ddof=1))


def random_variance(result: Any) -> float:
    """Sum over the random terms of the mean over rows of z_i' Sigma z_i (Sigma = Lambda
    Lambda' on the absolute scale)."""
    ctx = result.context
    theta = result.theta_absolute
    total = 0.0
    for term, sl in zip(ctx.design.terms, ctx.theta_slices()):
        L = term.Lambda(theta[sl])
        total += float(np.mean(np.sum((term.Z @ L) ** 2, axis=1)))
    return total


def null_mean(result: Any) -> float:
    """exp(intercept) of the null model: the fixed part replaced by an intercept, the random
    terms, weights and offset kept, refitted (insight's ``null_model``)."""
    if result.refitter is None:
        raise InterlaceError("the null model needs a refittable result (result.refitter)")
    d = result.design
    design = replace(d, X=np.ones((d.n, 1)), fe_names=["(Intercept)"], kept_columns=[0])
    ctx = ModelContext(design, result.context.family)
    settings = result.refitter.settings
    null = result.refitter.stages(ctx, None, **settings)
    return float(np.exp(np.asarray(null.fe_params, dtype=float)[0]))


def distribution_variance(result: Any) -> float:
    """The residual variance on the latent (link) scale: the family plugin's
    ``latent_variance`` (:meth:`interlace.families.base.Family.latent_variance`)."""
    family = result.context.family
    value = family.latent_variance(lambda: null_mean(result), dict(result.family_params))
    if value is None:
        raise InterlaceError(f"icc() and r2() need the distribution-specific variance of the "
                             f"{family.name!r} family with the {family.link.name!r} link, which "
                             f"it does not define (defined: gaussian with identity, binomial "
                             f"with logit, probit or cloglog, poisson and nbinom2 with log)")
    return float(value)


def variance_parts(result: Any) -> VarianceParts:
    """The fixed, random and residual variances of a fitted model (see the module)."""
    if not result.design.terms:
        raise InterlaceError("icc() and r2() need a model with random effects")
    return VarianceParts(fixed_variance(result), random_variance(result),
                         distribution_variance(result))


def icc(result: Any) -> Shares:
    """performance's ``icc``: adjusted = random / (random + residual), unadjusted = random /
    (fixed + random + residual)."""
    v = variance_parts(result)
    return Shares({"adjusted": v.random / (v.random + v.residual),
                   "unadjusted": v.random / (v.fixed + v.random + v.residual)}, v)


def r2(result: Any) -> Shares:
    """Nakagawa's R² (performance's ``r2_nakagawa``): marginal = fixed / total, conditional =
    (fixed + random) / total."""
    v = variance_parts(result)
    total = v.fixed + v.random + v.residual
    return Shares({"marginal": v.fixed / total, "conditional": (v.fixed + v.random) / total}, v)
