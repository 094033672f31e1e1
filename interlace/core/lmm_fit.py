"""`interlace.fit()`: linear mixed models by REML or ML (lme4's lmer), on the GLMM core.

Same formula, design, penalised system and optimizer plugins as :func:`interlace.glmer`; the
objective is the profiled deviance of :mod:`interlace.core.lmm`, a function of theta alone.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from interlace.core.design import build_design
from interlace.core.errors import InterlaceError
from interlace.core.fitting import blas_limit
from interlace.core.formula import parse_formula
from interlace.core.lmm import LMMObjective
from interlace.core.model import ModelContext
from interlace.core.objective import hessian_from_gradient
from interlace.core.registry import resolve


def fit(
    formula: str,
    data: pd.DataFrame,
    groups: Any = None,
    random: Any = None,
    weights: Any = None,
    offset: Any = None,
    method: str = "REML",
    optimizer: Any = "lbfgsb",
    optimizer_options: dict | None = None,
):
    """Fit a linear mixed model (lme4's ``lmer``) by ``method="REML"`` (default) or ``"ML"``.

    Returns an :class:`~interlace.core.lmm_result.LMMResult` with lmer's estimates, residual
    variance ``scale``, the REML criterion and Satterthwaite degrees of freedom (lmerTest).
    """
    from interlace.core.lmm_result import LMMResult
    from interlace.families.gaussian import GaussianFamily

    if not isinstance(method, str) or method.upper() not in ("REML", "ML"):
        raise InterlaceError(f"method must be 'REML' or 'ML', got {method!r}")
    reml = method.upper() == "REML"
    opt = resolve("optimizer", optimizer)
    fam = GaussianFamily()
    parsed = parse_formula(formula, groups=groups, random=random)
    design = build_design(parsed, data, fam, weights=weights, offset=offset)
    if reml and design.n <= design.p:
        raise InterlaceError(f"REML needs more rows ({design.n}) than fixed effects ({design.p})")
    ctx = ModelContext.build(design, fam)
    args = dict(formula=formula, data=data, groups=groups, random=random, weights=weights,
                offset=offset, optimizer=optimizer, optimizer_options=optimizer_options)
    with blas_limit(ctx):
        obj = LMMObjective(ctx, reml)
        theta, dev, H, g, nfev, message = optimize_theta(ctx, reml, opt, optimizer_options, obj)
        return LMMResult.from_lmm(ctx, obj, theta, dev, H, g, nfev, message, opt, args)


def optimize_theta(ctx: ModelContext, reml: bool, opt, optimizer_options=None,
                   obj: LMMObjective | None = None):
    """Minimise the profiled deviance over theta; a Newton polish on its finite-difference
    Hessian, and a probe off the zero bound (where the deviance is stationary in theta)."""
    obj = LMMObjective(ctx, reml) if obj is None else obj
    terms = ctx.design.terms
    lower = np.concatenate([t.theta_lower_bounds() for t in terms])
    bounds = [(0.0 if np.isfinite(lo) else None, None) for lo in lower]
    diag = np.flatnonzero(np.isfinite(lower))
    cache: dict = {}

    def f(x):
        key = x.tobytes()
        if key not in cache:
            cache.clear()
            cache[key] = obj(x)
        return cache[key]

    def jac(x):
        f(x)
        return obj.grad(x)

    def run(x0):
        return opt.minimize(f, x0, bounds, jac=jac if opt.uses_gradient else None,
                            options=optimizer_options)

    r = run(np.concatenate([t.theta_start() for t in terms]))
    x = np.maximum(r.x, lower)
    for _ in range(3):
        fx = obj(x)
        trial = []
        for i in diag:
            if x[i] <= 1e-8:
                for v in (0.05, 0.2, 0.5, 1.0):
                    xt = x.copy()
                    xt[i] = v
                    trial.append((obj(xt), xt))
        better = [t for t in trial if t[0] < fx - 1e-6]
        if not better:
            break
        r = run(min(better, key=lambda t: t[0])[1])
        x = np.maximum(r.x, lower)
    fx = obj(x)
    H, g = hessian_from_gradient(obj.grad, x), obj.grad(x)
    free = ~(np.isfinite(lower) & (x <= 1e-8))
    for _ in range(4):
        if not free.any():
            break
        Hf = H[np.ix_(free, free)]
        try:
            step = np.zeros_like(x)
            step[free] = np.linalg.solve(Hf, g[free])
        except np.linalg.LinAlgError:
            break
        xn = np.maximum(x - step, lower)
        fn = obj(xn)
        if not fn < fx - 1e-13:
            break
        x, fx = xn, fn
        g = obj.grad(x)
        if np.max(np.abs(step)) < 1e-8:
            break
    fx = obj(x)
    return x, fx, H, g, obj.nfev, r.message
