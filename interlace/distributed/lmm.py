"""``fit`` (a linear mixed model) on a Dask DataFrame: one pass of cross-products, then the
REML / ML criterion on the driver (:class:`~interlace.distributed.lmm_objective.
DaskLMMObjective`), minimised by the optimizer plugin with central-difference gradients and
polished by Newton steps on a difference Hessian: every evaluation after the pass is the
driver's alone, so the differences cost no passes."""

from __future__ import annotations

from typing import Any

import numpy as np

from interlace.distributed.frames import active_client
from interlace.distributed.kernels import lmm_stats
from interlace.distributed.lmm_objective import DaskLMMObjective
from interlace.distributed.lmm_result import DaskLMMResult
from interlace.distributed.model import build_model
from interlace.distributed.passes import Passes
from interlace.distributed.support import check_terms
from interlace.errors import InterlaceError, UnsupportedModelError
from interlace.glmm.resolve import resolve_family, resolve_optimizer
from interlace.linalg.differences import fd_gradient, fd_hessian
from interlace.lmm.stages import check_method
from interlace.model.formula import parse_formula


def polish_theta(obj: DaskLMMObjective, x: np.ndarray, fx: float
                 ) -> tuple[np.ndarray, float, np.ndarray, np.ndarray]:
    """Newton steps on a difference Hessian from the optimizer's point (bounds held)."""
    lower = obj.lower
    H, g = fd_hessian(obj, x, fx)
    for _ in range(8):
        try:
            step = np.linalg.solve(H, g)
        except np.linalg.LinAlgError:
            break
        xn = np.maximum(x - step, lower)
        fn = obj(xn)
        if not fn <= fx + 1e-12 * max(1.0, abs(fx)):
            break
        x, fx = xn, fn
        H, g = fd_hessian(obj, x, fx)
        if np.max(np.abs(step)) < 1e-9:
            break
    at = np.isfinite(lower) & (x <= lower + 1e-10)
    g = np.where(at & (g > 0), 0.0, g)
    return x, fx, H, g


def optimize_theta(obj: DaskLMMObjective, optimizer: Any, options: dict | None):
    """The optimizer plugin from lme4's start, then the polish; (theta, deviance, H, g,
    optimizer result)."""
    opt = resolve_optimizer(optimizer)
    x0 = np.concatenate([t.theta_start() for t in obj.ctx.design.terms])
    lower = obj.lower
    bounds = [(0.0 if np.isfinite(lo) else None, None) for lo in lower]

    def jac(x):
        return fd_gradient(obj, x, obj(x), lower, h=1e-6)

    r = opt.minimize(obj, x0, bounds, jac=jac if opt.uses_gradient else None,
                     options=options or {})
    x = np.maximum(np.asarray(r.x, float), lower)
    fx = obj(x)
    if not fx < 1e100:
        raise InterlaceError("the REML / ML criterion could not be evaluated at the optimum")
    x, fx, H, g = polish_theta(obj, x, fx)
    return x, fx, H, g, r, opt


def fit_dask(formula: str, data: Any, groups: Any = None, random: Any = None,
             weights: Any = None, offset: Any = None, method: str = "REML",
             optimizer: Any = None, optimizer_options: dict | None = None, client: Any = None,
             timeout: float = 600.0) -> DaskLMMResult:
    """A linear mixed model fitted on the partitions of a Dask DataFrame (see
    :func:`interlace.fit`)."""
    reml = check_method(method)
    if optimizer is not None and str(optimizer) == "newton":
        raise UnsupportedModelError("optimizer='newton' (the in-memory LMM's) is not available "
                                    "on Dask data; leave optimizer unset")
    parsed = parse_formula(formula, groups=groups, random=random)
    parsed.params = {}
    if not parsed.random:
        raise UnsupportedModelError("the formula has no random-effect term")
    check_terms(parsed)
    family = resolve_family("gaussian", None)
    passes = Passes(active_client(client), [], timeout)
    model = build_model(passes, data, parsed, family, weights, offset)
    stats = passes.run("crossprod", lmm_stats, model.lay)
    obj = DaskLMMObjective(model.ctx, stats, model.lay, reml)
    theta, dev, H, g, r, opt = optimize_theta(obj, optimizer, optimizer_options)
    res = DaskLMMResult.from_dask(model.ctx, obj, theta, dev, H, g, obj.nfev, r.message, opt,
                                  r.limit_reached)
    res.pass_log = passes.log
    return res
