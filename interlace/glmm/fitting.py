"""The fitting loop: formula -> design -> objective -> optimizer -> result.

Two stages, as lme4 does it: (1) theta (and estimated family parameters) with beta at its
joint conditional mode inside PIRLS; (2) everything jointly with the chosen integrator. A
Newton step on a finite-difference Hessian polishes the optimum, and the same Hessian gives
the covariance of the estimates (lme4's default for GLMMs). Canonical-link Laplace fits with
the closed-form gradient skip stage (1) and difference that gradient forward (m gradients,
not 2m) for the Hessian.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from interlace.errors import InterlaceError
from interlace.glmm.objective import Layout, Objective
from interlace.glmm.resolve import check_nagq, resolve_family, resolve_integrator
from interlace.glmm.rowkernel import fixed_effects_for, kernel_for
from interlace.glmm.start import glm_start, theta_moments
from interlace.linalg.blas import blas_limit
from interlace.linalg.differences import (
    fd_gradient,
    fd_hessian,
    hessian_forward,
    hessian_from_gradient,
)
from interlace.model.context import ModelContext
from interlace.model.design import build_design
from interlace.model.formula import parse_formula
from interlace.model.param_formulas import param_formulas
from interlace.optimizers.base import OptimizeResult
from interlace.registry import resolve


def glmer(
    formula: str,
    data: pd.DataFrame,
    family: Any = "binomial",
    groups: Any = None,
    random: Any = None,
    weights: Any = None,
    offset: Any = None,
    optimizer: Any = "lbfgsb",
    nAGQ: int = 1,
    link: Any = None,
    integrator: Any = None,
    optimizer_options: dict | None = None,
    ziformula: str | None = None,
    dispformula: str | None = None,
):
    """Fit a GLMM by maximum likelihood (Laplace, or adaptive quadrature when nAGQ > 1).

    ``formula`` may hold lme4-style random terms ``(1 + x | g)``; ``groups=`` (a column or a
    list, for random intercepts) and ``random=`` (strings like ``"(1 | herd)"``) add terms.
    ``family``, ``link``, ``optimizer`` and ``integrator`` are plugin names or instances.
    ``ziformula`` / ``dispformula`` (glmmTMB's, fixed effects only, default ``"~1"``) model the
    family's zero-part probability (logit scale) or dispersion (log scale) by covariates.
    Returns a :class:`~interlace.glmm.result.GLMMResult`.
    """
    from interlace.glmm.result import GLMMResult

    nAGQ = check_nagq(nAGQ)
    fam = resolve_family(family, link)
    opt = resolve("optimizer", optimizer)
    integ = resolve_integrator(integrator, nAGQ, fam)
    parsed = parse_formula(formula, groups=groups, random=random)
    parsed.params = param_formulas(fam, ziformula, dispformula)
    with blas_limit():  # the design's rank check (a QR) too
        design = build_design(parsed, data, fam, weights=weights, offset=offset)
        ctx = ModelContext.build(design, fam)
        integ.check(ctx)
        return fit_model(ctx, integ, opt, optimizer_options, GLMMResult)


def fit_model(ctx: ModelContext, integ, opt, optimizer_options, result_cls):
    """Run the stages and build the result."""
    design, fam = ctx.design, ctx.family
    fp0 = fam.parameter_values()
    beta0 = glm_start(design, fam, fp0, kern=kernel_for(ctx), fe=fixed_effects_for(ctx))
    fp0.update(fam.start_parameters(design, beta0))
    est = [k for k, p in fam.parameters.items() if not p.fixed]
    pdes = design.param_designs
    fam_sizes = {k: pdes[k].k for k in est if k in pdes}
    z0 = np.concatenate([_coef_start(fam.parameters[k].to_unconstrained(fp0[k]), pdes.get(k))
                         for k in est]) if est else np.zeros(0)
    theta0 = np.concatenate([t.theta_start() for t in design.terms])
    if fam.has_dispersion and fam.scale_parameter in fp0:
        theta0 = theta0 * fp0[fam.scale_parameter]  # absolute scale: lme4's relative start x sigma
    tlow = np.concatenate([t.theta_lower_bounds() for t in design.terms])
    ntheta, p = ctx.ntheta, design.p

    def bounds_for(layout: Layout):
        b = [(0.0 if np.isfinite(lo) else None, None) for lo in tlow]
        if layout.beta_free:
            b += [(None, None)] * p
        for k in est:  # a formula's coefficients are free; its per-row values are clipped
            b += [(-30.0, 30.0)] if k not in pdes else [(None, None)] * pdes[k].k
        return b

    # The optimizer works on x * scale, with beta_j scaled by the spread of X's column j, so
    # that a unit step means a comparable change in eta for every coefficient (a covariate in
    # the hundreds otherwise draws a first step that overflows the linear predictor).
    beta_scale = _column_scale(design.X)

    def scale_for(layout: Layout) -> np.ndarray:
        parts = [np.ones(ntheta)]
        if layout.beta_free:
            parts.append(beta_scale)
        parts += [np.ones(1) if k not in pdes else _column_scale(pdes[k].X) for k in est]
        return np.concatenate(parts)

    def run(obj: Objective, x0: np.ndarray, layout: Layout, rough: bool = False,
            polished: bool = False):
        lower = np.array([(-np.inf if lo is None else lo) for lo, _ in bounds_for(layout)])
        sc = scale_for(layout)
        ylow = lower * sc
        cache: dict = {}
        stop = None  # (polished) stop where the projected gradient is below this

        def f(y):
            key = y.tobytes()
            if key not in cache:
                cache.clear()
                cache[key] = obj(y / sc)
            return cache[key]

        def jac(y):
            x = y / sc
            g = obj.gradient(x)
            if g is None:
                fx = f(y)
                g = (np.zeros_like(x) if fx >= 1e100
                     else fd_gradient(obj, x, fx, lower, unit=1.0 / sc))
            gy = g / sc
            if stop is not None:
                pg = np.where((y <= ylow) & (gy > 0), 0.0, gy)  # projected on the bounds
                if np.max(np.abs(pg)) <= stop:
                    raise _GradientFloorError(y.copy(), f(y))
            return gy

        bounds = [(None if lo is None else lo * c, None if hi is None else hi * c)
                  for (lo, hi), c in zip(bounds_for(layout), sc)]
        options = dict(opt.rough_options()) if rough else {}
        if polished:  # an exact Newton polish follows: the tail of the iterations is its job
            options.update(opt.polished_options())
            f0 = abs(f(x0 * sc))
            # The gradient's rounding floor grows with the deviance (PIRLS's modes converge
            # to a relative tolerance): at 10^6 Poisson rows (deviance 3e6) it is ~0.02, and
            # L-BFGS-B's line searches below it failed six times in a row; from such a point
            # the Newton polish's step is ~1e-7.
            stop = GRADIENT_FLOOR * f0 if f0 < 1e99 else None
        options.update(optimizer_options or {})
        try:
            res = opt.minimize(f, x0 * sc, bounds, jac=jac if opt.uses_gradient else None,
                               options=options)
        except _GradientFloorError as done:
            res = OptimizeResult(done.y, done.fun, True, obj.nfev,
                                 "projected gradient at its rounding floor")
        res.x = np.asarray(res.x, float) / sc
        return res, lower

    diag = np.flatnonzero(np.isfinite(tlow))  # theta entries bounded below by 0

    def escape_boundary(obj: Objective, x: np.ndarray, layout: Layout, r):
        """A variance on its bound is a stationary point of the deviance (even in theta),
        so a gradient method can stall there: probe positive values and restart if lower."""
        for _ in range(3):
            f0 = obj(x)
            at0 = [i for i in diag if x[i] <= 1e-8]
            best, fbest = None, f0 - 1e-6
            for i in at0:
                for v in (0.05, 0.2, 0.5, 1.0):
                    xt = x.copy()
                    xt[i] = v
                    ft = obj(xt)
                    if ft < fbest:
                        best, fbest = xt, ft
            if best is None:
                break
            r, _ = run(obj, best, layout)
            x = r.x
        return x, r

    lay2 = Layout(ntheta, p, est, profiled=False, fam_sizes=fam_sizes)
    obj2 = Objective(ctx, integ, lay2, beta0)
    x_start = np.concatenate([theta0, beta0, z0])
    # A canonical-link Laplace fit with the closed-form gradient (a log-concave conditional
    # density) starts the joint stage directly, at the GLM fit with theta from its moments:
    # the first stage cost more evaluations than it saved the joint one (cbpp 32 -> 27
    # deviances, VerbAgg's shape 53 -> 43; the moment start: 100k Poisson rows 31 -> 25).
    # Otherwise (e.g. a sqrt link, where it found a saddle) it stays. Options given to the
    # optimizer (e.g. maxiter) keep lme4's start, so that they mean what they mean there.
    exact = opt.uses_gradient and _exact_canonical(integ, ctx, est)
    if exact and not optimizer_options:
        x_start[:ntheta] = theta_moments(design, kernel_for(ctx), fixed_effects_for(ctx),
                                         beta0, fp0)
    use_grad = opt.uses_gradient and obj2.gradient(x_start) is not None
    exact = exact and use_grad
    r1 = nfev1 = None
    if not exact:
        # Stage 1: theta (and family parameters) alone, to a loose tolerance; it only provides
        # the start of the joint stage. With an exact gradient beta is held at the GLM start;
        # without one (derivative-free optimizers, integrators with no gradient) beta is
        # profiled inside PIRLS, as lme4 does.
        lay1 = Layout(ntheta, p, est, profiled=not use_grad, fixed_beta=use_grad,
                      fam_sizes=fam_sizes)
        obj1 = Objective(ctx, integ, lay1, beta0)
        r1, _ = run(obj1, np.concatenate([theta0, z0]), lay1, rough=True)
        x1, r1 = escape_boundary(obj1, r1.x, lay1, r1)
        r1.x = x1
        obj1(r1.x)  # leave beta and u at the stage-1 optimum
        obj2.u = obj1.u.copy()
        x_start = np.concatenate([r1.x[:ntheta], obj1.beta, r1.x[ntheta:]])
        nfev1 = obj1.nfev

    # Everything jointly with the chosen integrator.
    r2, lower = run(obj2, x_start, lay2, polished=exact)
    x, r2 = escape_boundary(obj2, np.maximum(r2.x, lower), lay2, r2)
    x = np.maximum(x, lower)
    fx = obj2(x)

    # Newton polish on a finite-difference Hessian, which also gives the standard errors.
    # With the integrator's exact gradient the Hessian costs 2m gradients (m forward ones when
    # that gradient is closed-form to rounding), else ~2m^2 deviances.
    has_grad = exact or obj2.gradient(x) is not None  # (exact: hess_and_grad takes it afresh)

    unit = 1.0 / scale_for(lay2)  # a coefficient's step changes eta by about the same amount

    def exact_gradient(x):
        """The gradient with the modes at x converged once more (a forward difference of 1e-7
        needs them exact: PIRLS's own tolerance leaves errors of ~1e-6 in H)."""
        obj2.reconverge(x)
        return obj2.gradient(x)

    def hess_and_grad(x, fx):
        if exact:  # forward differences: the centre's gradient must be as exact as the steps'
            obj2.reconverge(x)
        g = obj2.gradient(x) if has_grad else None
        snap = obj2.snapshot()  # the state at x: restored after the differences around it
        if g is not None:
            H = (hessian_forward(exact_gradient, x, g, unit=unit) if exact
                 else hessian_from_gradient(obj2.gradient, x, unit=unit))
            if H is not None:
                obj2.restore(snap)
                return H, g
        H, g = fd_hessian(obj2, x, fx, unit=unit)
        obj2.restore(snap)
        return H, g

    def grad_at(x, fx):
        g = obj2.gradient(x) if has_grad else None
        return fd_gradient(obj2, x, fx, lower, unit=unit) if g is None else g

    H, g = hess_and_grad(x, fx)
    x_h = x.copy()
    for _ in range(4):
        try:
            step = np.linalg.solve(H, g)
        except np.linalg.LinAlgError:
            break
        xn = np.maximum(x - step, lower)
        snap = obj2.snapshot()
        fn = obj2(xn)
        gn = None
        if not fn < fx - 1e-12:
            # Within rounding of the deviance a decrease is invisible; near the optimum the
            # step is still taken if it shrinks the (exact) gradient, so that the optimum does
            # not depend on the path that reached it (e.g. with or without the first stage).
            gn = obj2.gradient(xn) if has_grad and fn <= fx + 1e-12 * max(1.0, abs(fx)) else None
            if gn is None or not np.max(np.abs(gn)) < np.max(np.abs(g)):
                obj2.restore(snap)
                break
        x, fx = xn, fn
        if np.max(np.abs(step) / np.maximum(1.0, np.abs(x))) > 1e-5:
            H, g = hess_and_grad(x, fx)
            x_h = x.copy()
        else:
            g = grad_at(x, fx) if gn is None else gn
        if np.max(np.abs(step)) < 1e-7:
            break
    if np.max(np.abs(x - x_h) / np.maximum(1.0, np.abs(x))) > 1e-4:
        H, g = hess_and_grad(x, fx)  # moved far: the Hessian must be taken again
    fx = obj2(x)  # state (u, modes) at the reported optimum
    if obj2.last is None or not np.isfinite(fx) or fx >= 1e100:
        raise InterlaceError(
            "the likelihood could not be evaluated at any parameter value the optimizer tried "
            "(complete separation, or too few observations for this model?); simplify the "
            "model or check the response"
        )
    nfev = obj2.nfev + (nfev1 or 0)
    return result_cls.from_fit(ctx, integ, opt, x, fx, H, g, lay2, obj2, r2, nfev, r1)


GRADIENT_FLOOR = 1e-8  # the gradient's rounding floor relative to the deviance (see run)


class _GradientFloorError(Exception):
    """Raised inside an optimizer's gradient call to stop it at a point whose gradient is at
    the rounding floor (its line searches could only fail from there)."""

    def __init__(self, y: np.ndarray, fun: float) -> None:
        super().__init__("gradient at its rounding floor")
        self.y, self.fun = y, fun


def _exact_canonical(integ, ctx: ModelContext, est: list[str]) -> bool:
    """Whether the integrator's gradient is closed-form for this model (plugins may lack the
    query: then no)."""
    f = getattr(integ, "exact_canonical", None)
    return bool(f(ctx, est)) if f is not None else False


def _column_scale(X: np.ndarray) -> np.ndarray:
    """Each column's spread (1 for constant columns): the optimizer's unit for its coefficient."""
    spread = X.std(axis=0)
    return np.where(spread > 1e-12, spread, 1.0)


def _coef_start(z: float, pdesign) -> np.ndarray:
    """Start of a family parameter's entries: its scalar start, or the coefficients of its
    formula that give that value on every row (least squares on a constant)."""
    if pdesign is None:
        return np.array([z])
    return np.linalg.lstsq(pdesign.X, np.full(pdesign.X.shape[0], z), rcond=None)[0]
