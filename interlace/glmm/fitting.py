"""``glmer()`` and the stages it runs, each a public function (lme4's modular functions).

1. :func:`build_glmm` (lme4's ``glFormula``): parse the formula, build the design and the
   model context, with every check on the input;
2. :func:`glmm_objective` (``mkGlmerDevfun`` with ``devFunOnly = TRUE``): the deviance as a
   function of the full parameter vector;
3. :func:`optimize_glmm` (``optimizeGlmer``): the two optimizer stages, the escape from
   variances stuck at 0, the Newton polish and the Hessian at the optimum;
4. :func:`glmm_result` (``mkMerMod``): the result object.

Two stages, as lme4 does it: (1) theta (and estimated family parameters) with beta at its
joint conditional mode inside PIRLS; (2) everything jointly with the chosen integrator. A
Newton step on a finite-difference Hessian polishes the optimum, and the same Hessian gives
the covariance of the estimates (lme4's default for GLMMs). Canonical-link Laplace fits with
the closed-form gradient skip stage (1) and difference that gradient forward (m gradients,
not 2m) for the Hessian.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from interlace.errors import InterlaceError
from interlace.families.base import Family
from interlace.glmm.deviance import Deviance
from interlace.glmm.optimize import Stages, exact_canonical, newton_start, warm_newton
from interlace.glmm.parameters import Parameters
from interlace.glmm.polish import Polisher
from interlace.glmm.resolve import (
    check_nagq,
    resolve_family,
    resolve_integrator,
    resolve_optimizer,
)
from interlace.glmm.result import GLMMResult
from interlace.glmm.stochastic_finish import GAP_TOL, exact_newton, stochastic_gap
from interlace.glmm.zi_random import has_zi_random
from interlace.inference.refit import Refitter
from interlace.linalg.fit_limits import fit_limits
from interlace.lmm.fitting import fit as fit_lmm
from interlace.model.context import ModelContext
from interlace.model.design import build_design
from interlace.model.formula import parse_formula
from interlace.model.param_formulas import (
    param_formulas,
    removes_zero_part,
    zero_part_family,
)
from interlace.optimizers.base import OptimizeResult, check_optimizer_options


def glmer(
    formula: str,
    data: pd.DataFrame,
    family: Any = "binomial",
    groups: Any = None,
    random: Any = None,
    weights: Any = None,
    offset: Any = None,
    optimizer: Any = None,
    nAGQ: int = 1,
    link: Any = None,
    integrator: Any = None,
    optimizer_options: dict | None = None,
    ziformula: str | None = None,
    dispformula: str | None = None,
    solver: str = "auto",
):
    """Fit a GLMM by maximum likelihood (Laplace, or adaptive quadrature when nAGQ > 1).

    ``formula`` may hold lme4-style random terms ``(1 + x | g)``; ``groups=`` (a column or a
    list, for random intercepts) and ``random=`` (strings like ``"(1 | herd)"``) add terms.
    ``family``, ``link``, ``optimizer`` and ``integrator`` are plugin names or instances;
    ``optimizer=None`` is the model kind's default (L-BFGS-B for a GLMM).
    ``solver`` ("auto", "cholesky", "pcg" or "slq") is how the penalised system is solved;
    "auto" picks by a cost model (:func:`~interlace.linalg.penalized.choose_solver`), and
    ``result.solver`` says which was used. "pcg" and "slq" apply to two scalar random terms
    (crossed random intercepts): "pcg" does PIRLS's Newton steps by conjugate gradients, and
    "slq" in addition runs the optimizer (and the Hessian's differences) on stochastic
    log-determinants and gradients (:mod:`interlace.linalg.stochastic`), then evaluates the
    likelihood exactly at the optimum found.
    ``ziformula`` / ``dispformula`` (glmmTMB's) model the family's zero-part probability
    (logit scale) or dispersion (log scale) by covariates. As in glmmTMB, a ``ziformula`` other
    than ``"~0"`` gives a family without a zero part one (``family="poisson",
    ziformula="~1"`` is the zero-inflated Poisson, ``truncated_poisson`` becomes the hurdle,
    ``gamma`` the Gamma hurdle; see :meth:`~interlace.families.base.Family.with_zero_part`);
    for a family named with its zero part (``zipoisson``) the default is ``"~1"``.
    Returns a :class:`~interlace.glmm.result.GLMMResult`.

    A normal response with the identity link (``family="gaussian"``, an estimated sigma, no
    ``dispformula`` and no ``integrator``) is a linear mixed model: it is fitted by maximum
    likelihood as ``interlace.fit(..., method="ML")`` fits it (lme4's glmer hands it to lmer),
    and the result is an :class:`~interlace.lmm.result.LMMResult`. Its likelihood is exact,
    which every ``nAGQ`` approximates, so ``nAGQ`` is validated and has nothing to change;
    ``optimizer=None`` is then the LMM's built-in Newton method. Name an ``integrator`` to fit
    it as a GLMM instead.

    The stages are public: ``glmm_result(ctx, integ, opt, optimize_glmm(ctx, integ, opt))``
    with ``ctx = build_glmm(...)`` is this fit.
    """
    nAGQ = check_nagq(nAGQ)
    fam = zero_part_family(resolve_family(family, link), ziformula)
    if fam.zi_parameter is None and removes_zero_part(ziformula):
        ziformula = None  # glmmTMB's ~0
    if is_linear_mixed(fam, integrator, ziformula, dispformula):
        return fit_lmm(formula, data, groups=groups, random=random, weights=weights,
                       offset=offset, method="ML", optimizer=optimizer,
                       optimizer_options=optimizer_options)
    opt = resolve_optimizer(optimizer)
    integ = resolve_integrator(integrator, nAGQ, fam)
    with fit_limits():  # the design's rank check (a QR) too
        ctx = build_glmm(formula, data, fam, groups=groups, random=random, weights=weights,
                         offset=offset, ziformula=ziformula, dispformula=dispformula,
                         solver=solver)
        optimum = optimize_glmm(ctx, integ, opt, optimizer_options)
        return glmm_result(ctx, integ, opt, optimum)


def is_linear_mixed(family: Any, integrator: Any = None, ziformula: str | None = None,
                    dispformula: str | None = None) -> bool:
    """Whether :func:`glmer` fits this model by the LMM path: the family declares a normal
    response with the identity link (:meth:`~interlace.families.base.Family.is_normal_linear`)
    and neither a model for its dispersion or zero part nor an integrator is asked for."""
    return (isinstance(family, Family) and family.is_normal_linear() and integrator is None
            and ziformula is None and dispformula is None)


def build_glmm(
    formula: str,
    data: pd.DataFrame,
    family: Any = "binomial",
    groups: Any = None,
    random: Any = None,
    weights: Any = None,
    offset: Any = None,
    link: Any = None,
    ziformula: str | None = None,
    dispformula: str | None = None,
    solver: str = "auto",
) -> ModelContext:
    """The model of a :func:`glmer` call, before any fitting (lme4's ``glFormula``).

    Parses the formula (with ``groups=`` / ``random=`` terms and the family's ``ziformula`` /
    ``dispformula``), resolves the family and link plugins and builds the design (response,
    fixed- and random-effects matrices, weights, offset, dropped rows and rank-deficient
    columns) and the penalised system's structure. Bad input raises here the error
    :func:`glmer` raises for it. The arguments are :func:`glmer`'s.
    """
    fam = zero_part_family(resolve_family(family, link), ziformula)
    parsed = parse_formula(formula, groups=groups, random=random)
    parsed.params = param_formulas(fam, ziformula, dispformula)
    with fit_limits():  # the design's rank check (a QR)
        design = build_design(parsed, data, fam, weights=weights, offset=offset)
        return ModelContext.build(design, fam, solver)


def glmm_objective(ctx: ModelContext, integrator: Any = None, nAGQ: int = 1,
                   start: np.ndarray | None = None) -> Deviance:
    """The deviance of the model as a function of its parameters (lme4's ``devFunOnly``).

    ``integrator`` is a plugin name or instance (default: Laplace for ``nAGQ == 1``, adaptive
    quadrature above). The returned :class:`~interlace.glmm.deviance.Deviance` maps the full
    vector [theta, beta, family parameters on their unconstrained scale] to -2 log L, with
    ``.gradient(x)`` (None where the integrator has none), ``.start()``, ``.bounds()`` and
    ``.names()``. Building it fits the GLM without random effects (beta's start), unless
    ``start`` (such a vector: a refit's warm start) gives every entry's start.
    """
    integ = resolve_integrator(integrator, check_nagq(nAGQ), ctx.family)
    integ.check(ctx)
    with fit_limits():
        params = Parameters.start(ctx) if start is None else Parameters.warm(ctx, start)
        return Deviance(params, integ)


@dataclass
class Optimum:
    """Where :func:`optimize_glmm` ended: the parameter vector ``x`` (of ``layout``), its
    deviance, the Hessian ``H`` and gradient ``g`` there, the joint stage's ``objective`` (at
    x) and optimizer result, the deviance evaluations of both stages and the first stage's
    optimizer result (None when the joint stage started directly). With ``solver="slq"``,
    ``gap`` is the estimated log-likelihood between the optimizer's stochastic optimum and the
    exact one (:mod:`interlace.glmm.stochastic_finish`; above its ``GAP_TOL`` an exact Newton
    step was taken); None otherwise."""

    x: np.ndarray
    deviance: float
    H: np.ndarray
    g: np.ndarray
    objective: Deviance
    result: OptimizeResult
    evaluations: int
    stage1: OptimizeResult | None
    options: dict | None = None
    gap: float | None = None  # "slq": the estimated log-likelihood gap to the exact optimum

    @property
    def layout(self):
        return self.objective.layout


def optimize_glmm(ctx: ModelContext, integrator: Any, optimizer: Any,
                  options: dict | None = None, start: np.ndarray | None = None,
                  start_hessian: np.ndarray | None = None) -> Optimum:
    """Maximise the likelihood (lme4's ``optimizeGlmer``, both stages, then a Newton polish).

    ``integrator`` and ``optimizer`` are plugin instances (or names); ``options`` go to the
    optimizer (``glmer``'s ``optimizer_options``). A canonical-link Laplace fit with the
    closed-form gradient (a log-concave conditional density) starts the joint stage directly,
    at the GLM fit with theta from its moments: the first stage cost more evaluations than it
    saved the joint one (cbpp 32 -> 27 deviances, VerbAgg's shape 53 -> 43; the moment start:
    100k Poisson rows 31 -> 25). Otherwise (e.g. a sqrt link, where it found a saddle) it
    stays. Options given to the optimizer (e.g. maxiter) keep lme4's start, so that they mean
    what they mean there. ``start``, a parameter vector (a refit's warm start, e.g. the
    optimum of a fit of the same model), starts the joint stage directly instead; with
    ``start_hessian`` (the Hessian there, e.g. that fit's) and the integrator's gradient,
    quasi-Newton steps from it come first (:func:`~interlace.glmm.optimize.warm_newton`: on
    cbpp's bootstrap responses 22 deviances a refit instead of L-BFGS-B's 25, and 2.7 ms
    instead of 3.5), and the optimizer runs only if they do not converge. ``start_hessian``
    may also be a function ``(deviance, x) -> Hessian or None`` that approximates it on the
    fit's own objective (clmm's start: :func:`interlace.ordinal.start.start_hessian`).
    """
    opt = resolve_optimizer(optimizer)
    check_optimizer_options(opt, options)  # before any work (the GLM start is a fit)
    dev = glmm_objective(ctx, integrator, start=start)
    params = dev.parameters
    with fit_limits(), ctx.system.estimating() as approx:
        stages = Stages(params, opt, options)
        x_start = dev.start()
        exact = opt.uses_gradient and exact_canonical(dev.integrator, ctx, params.est)
        if exact and not options and start is None:
            x_start[: params.ntheta] = params.moment_theta(has_zi_random(ctx))
        use_grad = opt.uses_gradient and dev.gradient(x_start) is not None
        exact = exact and use_grad
        r1 = nfev1 = None
        if not exact and start is None and not has_zi_random(ctx):
            # (with random effects in the ziformula the first stage's profiled PIRLS would
            # ignore them: the joint stage starts from the GLM instead)
            r1, x_start, nfev1 = stages.first_stage(dev, use_grad)
        warm = None
        if start is not None and start_hessian is not None and use_grad:
            H0 = start_hessian(dev, x_start) if callable(start_hessian) else start_hessian
            warm = None if H0 is None else warm_newton(dev, x_start, H0,
                                                       params.lower(dev.layout))
        elif exact and not options and start is None and ctx.system.single1:
            # one scalar random term: Newton steps on the start's Hessian (a few parameters,
            # a smooth deviance), the optimizer only if they stop short
            warm = newton_start(dev, x_start, 1.0 / params.scale(dev.layout),
                                params.lower(dev.layout))
        if warm is not None and warm[2]:
            x, fx, lower = warm[0], warm[1], params.lower(dev.layout)
            r2 = OptimizeResult(x, fx, True, dev.nfev, "quasi-Newton steps from a warm start")
        else:
            x_start = x_start if warm is None else warm[0]
            x, fx, r2, lower = stages.joint_stage(dev, x_start, exact)
        has_grad = exact or dev.gradient(x) is not None  # (exact: the Hessian takes it afresh)
        polisher = Polisher(dev, exact, has_grad, 1.0 / params.scale(dev.layout), lower)
        x, fx, H, g = polisher.polish(x, fx)
        gap = stochastic_gap(dev, x, H, lower) if approx else None
    with fit_limits():  # state (u, modes) at the reported optimum; exact after estimates
        if gap is not None and gap > GAP_TOL:
            x = exact_newton(dev, x, H, lower)
        fx = dev.reconverge(x) if approx else dev(x)
    if dev.last is None or not np.isfinite(fx) or fx >= 1e100:
        raise InterlaceError(
            "the likelihood could not be evaluated at any parameter value the optimizer tried "
            "(complete separation, or too few observations for this model?); simplify the "
            "model or check the response"
        )
    return Optimum(x, fx, H, g, dev, r2, dev.nfev + (nfev1 or 0), r1, options, gap)


def glmm_result(ctx: ModelContext, integrator: Any, optimizer: Any, optimum: Optimum,
                result_cls: type = GLMMResult):
    """The fitted model (lme4's ``mkMerMod``): estimates, standard errors from the Hessian,
    conditional modes, fit statistics and convergence checks, as ``result_cls`` (a
    :class:`~interlace.glmm.result.GLMMResult` or subclass) from the plugin instances and
    :func:`optimize_glmm`'s optimum. Its ``refitter`` fits the model again (on a new
    response: ``result.refit(y)``) with the same settings, from this optimum."""
    o = optimum
    res = result_cls.from_fit(ctx, integrator, optimizer, o.x, o.deviance, o.H, o.g, o.layout,
                              o.objective, o.result, o.evaluations, o.stage1)
    res.refitter = Refitter(ctx, np.array(o.x, dtype=float), refit_glmm,
                            {"integrator": integrator, "optimizer": optimizer,
                             "options": o.options, "result_cls": result_cls,
                             "hessian": np.array(o.H, dtype=float)})
    return res


def refit_glmm(ctx: ModelContext, start: np.ndarray | None, integrator: Any, optimizer: Any,
               options: dict | None = None, result_cls: type = GLMMResult,
               hessian: np.ndarray | None = None):
    """The optimise and result stages from ``start`` (a :class:`Refitter`'s stages; None: the
    fit's own start) with ``hessian`` there, after the result kind's own check of the
    response (``result_cls.check_refit_response``)."""
    result_cls.check_refit_response(ctx)
    with fit_limits():
        optimum = optimize_glmm(ctx, integrator, optimizer, options, start=start,
                                start_hessian=None if start is None else hessian)
        return glmm_result(ctx, integrator, optimizer, optimum, result_cls)
