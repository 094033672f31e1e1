"""The optimizer stages of a GLMM fit, as lme4 runs them.

(1) theta (and estimated family parameters) with beta at its joint conditional mode inside
PIRLS, or held at the GLM start when the integrator has an exact gradient; (2) everything
jointly with the chosen integrator. Each stage runs the optimizer plugin on a scaled vector
(:class:`ScaledDeviance`) and then probes variances stuck on their bound of 0
(:meth:`Stages.escape_boundary`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from interlace.glmm.objective import Layout, Objective
from interlace.glmm.parameters import Parameters
from interlace.linalg.differences import fd_gradient, hessian_forward
from interlace.model.terms import zero_bound_probes
from interlace.optimizers.base import Optimizer, OptimizeResult

GRADIENT_FLOOR = 1e-8  # the gradient's rounding floor relative to the deviance (see Stages.run)


class GradientFloorError(Exception):
    """Raised inside an optimizer's gradient call to stop it at a point whose gradient is at
    the rounding floor (its line searches could only fail from there)."""

    def __init__(self, y: np.ndarray, fun: float) -> None:
        super().__init__("gradient at its rounding floor")
        self.y, self.fun = y, fun


class ScaledDeviance:
    """The deviance and its gradient as the optimizer sees them: of y = x * scale.

    The deviance at the last point is cached (optimizers ask for it again with the gradient).
    Without the integrator's gradient the gradient is a forward difference. With ``stop`` set,
    the gradient call raises :class:`GradientFloorError` once the projected gradient (zero
    where a bound holds and the gradient pushes into it) is below ``stop``.
    """

    def __init__(self, obj: Objective, scale: np.ndarray, lower: np.ndarray) -> None:
        self.obj, self.scale, self.lower = obj, scale, lower
        self.ylow = lower * scale
        self.cache: dict = {}
        self.stop: float | None = None

    def __call__(self, y: np.ndarray) -> float:
        key = y.tobytes()
        if key not in self.cache:
            self.cache.clear()
            self.cache[key] = self.obj(y / self.scale)
        return self.cache[key]

    def jac(self, y: np.ndarray) -> np.ndarray:
        sc = self.scale
        x = y / sc
        g = self.obj.gradient(x)
        feasible = True
        if g is None:
            fx = self(y)
            feasible = fx < 1e100
            g = (fd_gradient(self.obj, x, fx, self.lower, unit=1.0 / sc) if feasible
                 else np.zeros_like(x))
        gy = g / sc
        # a point where the deviance cannot be evaluated has no gradient: its zeros must not
        # read as the gradient's rounding floor (the optimizer backs off from such points)
        if self.stop is not None and feasible:
            pg = np.where((y <= self.ylow) & (gy > 0), 0.0, gy)  # projected on the bounds
            if np.max(np.abs(pg)) <= self.stop:
                raise GradientFloorError(y.copy(), self(y))
        return gy


@dataclass
class Stages:
    """The optimizer runs of one fit: the parameters' bounds and scaling, the optimizer plugin
    and the options the user gave it."""

    params: Parameters
    opt: Optimizer
    options: dict | None = None

    def run(self, obj: Objective, x0: np.ndarray, layout: Layout, rough: bool = False,
            polished: bool = False) -> tuple[OptimizeResult, np.ndarray]:
        """One optimizer run from x0; returns its result (x unscaled) and the lower bounds.

        ``rough``: the optimizer's loose options (a first stage only provides a start).
        ``polished``: an exact Newton polish follows, so the tail of the iterations is its job:
        the run stops where the projected gradient reaches its rounding floor.
        """
        opt, params = self.opt, self.params
        lower, sc = params.lower(layout), params.scale(layout)
        fun = ScaledDeviance(obj, sc, lower)
        bounds = [(None if lo is None else lo * c, None if hi is None else hi * c)
                  for (lo, hi), c in zip(params.bounds(layout), sc)]
        options = dict(opt.rough_options()) if rough else {}
        if polished:
            options.update(opt.polished_options())
            f0 = abs(fun(x0 * sc))
            # The gradient's rounding floor grows with the deviance (PIRLS's modes converge
            # to a relative tolerance): at 10^6 Poisson rows (deviance 3e6) it is ~0.02, and
            # L-BFGS-B's line searches below it failed six times in a row; from such a point
            # the Newton polish's step is ~1e-7.
            fun.stop = GRADIENT_FLOOR * f0 if f0 < 1e99 else None
        options.update(self.options or {})
        try:
            res = opt.minimize(fun, x0 * sc, bounds, jac=fun.jac if opt.uses_gradient else None,
                               options=options)
        except GradientFloorError as done:
            res = OptimizeResult(done.y, done.fun, True, obj.nfev,
                                 "projected gradient at its rounding floor")
        res.x = np.asarray(res.x, float) / sc
        return res, lower

    def escape_boundary(self, obj: Objective, x: np.ndarray, layout: Layout,
                        r: OptimizeResult) -> tuple[np.ndarray, OptimizeResult]:
        """A variance on its bound is a stationary point of the deviance (even in theta), so a
        gradient method can stall there: probe positive values and restart if lower."""
        diag = self.params.diag
        probes = zero_bound_probes(self.params.ctx.design.terms)
        for _ in range(3):
            f0 = obj(x)
            at0 = [i for i in diag if x[i] <= 1e-8]
            best, fbest = None, f0 - 1e-6
            for i in at0:
                for v in probes[i]:
                    xt = x.copy()
                    xt[i] = v
                    ft = obj(xt)
                    if ft < fbest:
                        best, fbest = xt, ft
            if best is None:
                break
            r, _ = self.run(obj, best, layout)
            x = r.x
        return x, r

    def first_stage(self, joint: Objective, use_grad: bool
                    ) -> tuple[OptimizeResult, np.ndarray, int]:
        """theta (and family parameters) alone, to a loose tolerance: it only provides the
        joint stage's start (returned, with the stage's result and deviance count). With an
        exact gradient beta is held at the GLM start; without one (derivative-free optimizers,
        integrators with no gradient) beta is profiled inside PIRLS, as lme4 does. The joint
        objective's modes are warm-started from this stage's. theta starts as
        :meth:`~interlace.glmm.parameters.Parameters.first_stage_theta` (lme4's identity when
        the optimizer was given options)."""
        params = self.params
        lay1 = params.layout(profiled=not use_grad, fixed_beta=use_grad)
        obj1 = Objective(params.ctx, joint.integrator, lay1, params.beta0)
        theta0 = params.theta0 if self.options else params.first_stage_theta()
        r1, _ = self.run(obj1, np.concatenate([theta0, params.z0]), lay1, rough=True)
        x1, r1 = self.escape_boundary(obj1, r1.x, lay1, r1)
        r1.x = x1
        obj1(r1.x)  # leave beta and u at the stage-1 optimum
        joint.u = obj1.u.copy()
        nt = params.ntheta
        x_start = np.concatenate([r1.x[:nt], obj1.beta, r1.x[nt:]])
        return r1, x_start, obj1.nfev

    def joint_stage(self, obj: Objective, x_start: np.ndarray, exact: bool
                    ) -> tuple[np.ndarray, float, OptimizeResult, np.ndarray]:
        """Everything jointly with the chosen integrator: the optimum, its deviance, the
        optimizer's result and the lower bounds."""
        layout = obj.layout
        r2, lower = self.run(obj, x_start, layout, polished=exact)
        x, r2 = self.escape_boundary(obj, np.maximum(r2.x, lower), layout, r2)
        x = np.maximum(x, lower)
        return x, obj(x), r2, lower


def warm_newton(obj: Objective, x0: np.ndarray, H0: np.ndarray, lower: np.ndarray,
                maxiter: int = 12) -> tuple[np.ndarray, float, bool]:
    """Quasi-Newton steps from a warm start ``x0`` with ``H0``, the Hessian of a nearby problem
    (a refit's: the original fit's at its optimum), BFGS-updated as the steps go; each step
    costs one deviance and one gradient. Returns the point reached, its deviance and whether
    the steps converged (a step below 1e-5 relative: the exact Newton step of the polish that
    follows finishes, without a second Hessian); they stop unconverged at a step that would
    cross a bound or does not lower the deviance, where the optimizer takes over."""
    x = np.asarray(x0, dtype=float)
    f = obj(x)
    g = obj.gradient(x) if f < 1e100 else None
    if g is None or not np.all(np.isfinite(g)) or np.any(x < lower):
        return x, f, False
    H = np.array(H0, dtype=float)
    for _ in range(maxiter):
        try:
            step = np.linalg.solve(H, g)
        except np.linalg.LinAlgError:
            return x, f, False
        xn = x - step
        if not np.all(np.isfinite(xn)) or np.any(xn < lower):
            return x, f, False
        snap = obj.snapshot()
        fn = obj(xn)
        if not fn <= f + 1e-12 * max(1.0, abs(f)):
            obj.restore(snap)
            return x, f, False
        gn = obj.gradient(xn)
        if gn is None or not np.all(np.isfinite(gn)):
            obj.restore(snap)
            return x, f, False
        s_, y_ = xn - x, gn - g
        sy = float(s_ @ y_)
        if sy > 1e-12 * float(np.linalg.norm(s_) * np.linalg.norm(y_)):
            Hs = H @ s_
            H = H - np.outer(Hs, Hs) / float(s_ @ Hs) + np.outer(y_, y_) / sy
        x, f, g = xn, fn, gn
        if np.max(np.abs(step) / np.maximum(1.0, np.abs(x))) < 1e-5:
            return x, f, True
    return x, f, False


def exact_canonical(integ, ctx, est: list[str]) -> bool:
    """Whether the integrator's gradient is closed-form for this model (plugins may lack the
    query: then no)."""
    f = getattr(integ, "exact_canonical", None)
    return bool(f(ctx, est)) if f is not None else False


def newton_start(obj: Objective, x0: np.ndarray, unit: np.ndarray, lower: np.ndarray
                 ) -> tuple[np.ndarray, float, bool] | None:
    """:func:`warm_newton` from a cold start, on the Hessian there by forward differences of
    the exact gradient (m gradients): for a few parameters whose deviance is smooth near the
    start (one scalar random term) it replaces L-BFGS-B's first, badly scaled steps (1M
    Poisson rows: 13 deviances and 45 PIRLS iterations -> about 8 and 25). None when the
    Hessian there is unavailable or not positive definite (the optimizer starts instead)."""
    f0 = obj(x0)
    g0 = obj.gradient(x0) if f0 < 1e100 else None
    if g0 is None or not np.all(np.isfinite(g0)):
        return None
    snap = obj.snapshot()
    H0 = hessian_forward(obj.gradient, x0, g0, h=1e-6, unit=unit)
    obj.restore(snap)
    if H0 is None or not np.all(np.isfinite(H0)):
        return None
    try:
        np.linalg.cholesky(H0)
    except np.linalg.LinAlgError:
        return None
    return warm_newton(obj, x0, H0, lower, maxiter=8)
