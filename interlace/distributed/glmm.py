"""``glmer`` on a Dask DataFrame: the model from passes, then the in-memory optimisation stages.

The optimizer sees the same objective as the in-memory fit (the Laplace deviance over
[theta, beta] with its exact gradient, :class:`~interlace.distributed.integrator.DaskLaplace`),
runs in the same joint stage (:class:`interlace.glmm.optimize.Stages`) and is polished by the
same Newton steps on the same Hessian (:class:`interlace.glmm.polish.Polisher`), so the
estimates agree with the in-memory fit's to the optimizer's precision.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from interlace.distributed.frames import active_client
from interlace.distributed.integrator import DaskLaplace
from interlace.distributed.kernels import moment_stats
from interlace.distributed.model import DaskModel, build_model
from interlace.distributed.passes import Passes
from interlace.distributed.result import DaskGLMMResult
from interlace.distributed.start import glm_start
from interlace.distributed.support import check_glmm_support
from interlace.errors import InterlaceError
from interlace.glmm.deviance import Deviance
from interlace.glmm.fitting import Optimum
from interlace.glmm.optimize import Stages
from interlace.glmm.parameters import Parameters
from interlace.glmm.polish import Polisher
from interlace.glmm.resolve import resolve_optimizer
from interlace.glmm.start import theta_from_level_sums
from interlace.linalg.fit_limits import fit_limits
from interlace.model.formula import parse_formula
from interlace.optimizers.base import check_optimizer_options

DEFAULT_TIMEOUT = 600.0  # seconds a pass may take before the cluster counts as lost


def build_dask_glmm(formula: str, data: Any, family: Any, groups: Any = None, random: Any = None,
                    weights: Any = None, offset: Any = None, client: Any = None,
                    timeout: float = DEFAULT_TIMEOUT) -> DaskModel:
    """The distributed model (levels found, partitions built and held on the workers)."""
    parsed = parse_formula(formula, groups=groups, random=random)
    parsed.params = {}
    check_glmm_support(parsed, family)
    passes = Passes(active_client(client), [], timeout)
    return build_model(passes, data, parsed, family, weights, offset)


def dask_parameters(model: DaskModel) -> Parameters:
    """The parameter vector's start (lme4's theta, the GLM's beta), bounds and scaling."""
    ctx = model.ctx
    terms = ctx.design.terms
    beta0 = glm_start(model.passes, ctx.family, ctx.design.p)
    theta0 = np.concatenate([t.theta_start() for t in terms])
    tlow = np.concatenate([t.theta_lower_bounds() for t in terms])
    return Parameters(ctx, theta0, beta0, np.zeros(0), ctx.family.parameter_values(), [], {},
                      tlow, model.beta_scale)


def moment_theta(model: DaskModel, beta: np.ndarray) -> np.ndarray:
    """theta's start from the GLM fit's per-level moments (one pass), as the in-memory fit
    starts a canonical-link Laplace fit (:func:`interlace.glmm.start.theta_moments`)."""
    terms = model.ctx.design.terms
    st = model.passes.run("moments", moment_stats, (model.ctx.family, beta))
    return theta_from_level_sums(terms, [(st[f"A{i}"], st[f"S{i}"]) for i in range(len(terms))])


def optimize_dask_glmm(model: DaskModel, optimizer: Any = None,
                       options: dict | None = None) -> tuple[Optimum, DaskLaplace]:
    """The joint stage from the GLM start and the Newton polish, as :func:`~interlace.glmm.
    optimize_glmm` runs a canonical-link Laplace fit, on the distributed deviance."""
    opt = resolve_optimizer(optimizer)
    check_optimizer_options(opt, options)
    integ = DaskLaplace(model)
    with fit_limits():
        params = dask_parameters(model)
        dev = Deviance(params, integ)
        stages = Stages(params, opt, options)
        x_start = dev.start()
        exact = integ.has_gradient()  # else differences of the deviance (large crossed q)
        if not options:  # options given to the optimizer keep lme4's start, as in memory
            x_start[: params.ntheta] = moment_theta(model, params.beta0)
        x, fx, r2, lower = stages.joint_stage(dev, x_start, exact)
        polisher = Polisher(dev, exact, exact, 1.0 / params.scale(dev.layout), lower)
        x, fx, H, g = polisher.polish(x, fx)
        fx = dev(x)
    if dev.last is None or not np.isfinite(fx) or fx >= 1e100:
        raise InterlaceError("the likelihood could not be evaluated at any parameter value the "
                             "optimizer tried (complete separation?); check the response")
    return Optimum(x, fx, H, g, dev, r2, dev.nfev, None, options), integ


def glmer_dask(formula: str, data: Any, family: Any, groups: Any = None, random: Any = None,
               weights: Any = None, offset: Any = None, optimizer: Any = None,
               optimizer_options: dict | None = None, client: Any = None,
               timeout: float = DEFAULT_TIMEOUT) -> DaskGLMMResult:
    """A GLMM fitted on the partitions of a Dask DataFrame (see :func:`interlace.glmer`)."""
    model = build_dask_glmm(formula, data, family, groups, random, weights, offset, client,
                            timeout)
    o, integ = optimize_dask_glmm(model, optimizer, optimizer_options)
    res = DaskGLMMResult.from_fit(model.ctx, integ, resolve_optimizer(optimizer), o.x,
                                  o.deviance, o.H, o.g, o.layout, o.objective, o.result,
                                  o.evaluations, None)
    res.pass_log = model.passes.log
    return res
