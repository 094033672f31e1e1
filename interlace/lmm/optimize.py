"""Minimisation of the LMM's profiled deviance over theta (the stage :func:`optimize_lmm`).

The built-in optimizer (``optimizer=None``) is :func:`~interlace.lmm.newton.quasi_newton`
from moment estimates (:func:`~interlace.lmm.start.moment_start`), with L-BFGS-B as insurance;
an optimizer plugin may be named instead. Either way, parameters stuck at theta's zero bound
are probed off it (the deviance is stationary there), and a plugin's optimum gets a Newton
polish on the finite-difference Hessian.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from interlace.errors import InterlaceError
from interlace.linalg.differences import hessian_from_gradient
from interlace.lmm.newton import fd_hessian_from_grad, quasi_newton
from interlace.lmm.objective import LMMObjective
from interlace.lmm.start import moment_start
from interlace.model.terms import zero_bound_probes
from interlace.optimizers import default_optimizer
from interlace.optimizers.base import OptimizeResult, check_optimizer_options
from interlace.registry import resolve


class BuiltinOptimizer:
    """The built-in optimizer's name on the result."""

    name = "quasi-newton"
    uses_gradient = True


BUILTIN = BuiltinOptimizer()


@dataclass
class LMMOptimum:
    """The optimum of the profiled deviance: theta, the deviance there, its Hessian and gradient
    in theta, the number of deviance evaluations, the optimizer's message and the optimizer."""

    theta: np.ndarray
    deviance: float
    hessian: np.ndarray
    gradient: np.ndarray
    nfev: int
    message: str
    optimizer: Any
    limit_reached: bool = False  # the optimizer stopped at its evaluation or iteration limit
    options: dict | None = None  # the options the optimizer was given


def resolve_optimizer(optimizer: Any):
    """The built-in optimizer for None, else the named (or given) optimizer plugin."""
    return BUILTIN if optimizer is None else resolve("optimizer", optimizer)


def plugin_bounds(lower: np.ndarray) -> list[tuple]:
    """Optimizer-plugin bounds: (0, None) on Lambda's diagonal, (None, None) off it."""
    return [(0.0 if np.isfinite(lo) else None, None) for lo in lower]


def builtin_options(optimizer_options: dict | None) -> dict:
    """The built-in optimizer's options, checked: only a non-negative integer ``maxiter``."""
    options = dict(optimizer_options or {})
    if set(options) - {"maxiter"}:
        raise InterlaceError(
            f"optimizer_options for the built-in optimizer (optimizer=None) take only 'maxiter'; "
            f"got {sorted(set(options) - {'maxiter'})} - name an optimizer plugin (e.g. "
            f"optimizer='lbfgsb') to pass it other options")
    if "maxiter" in options:
        m = options["maxiter"]
        if isinstance(m, bool) or not isinstance(m, (int, np.integer)) or m < 0:
            raise InterlaceError(f"optimizer_options maxiter must be a non-negative integer, "
                                 f"got {m!r}")
    return options


def _plugin_functions(obj: LMMObjective) -> tuple[Callable, Callable]:
    """The deviance (remembering its latest value, as optimizers ask twice) and its gradient."""
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

    return f, jac


def _runner(obj: LMMObjective, opt, optimizer_options: dict | None
            ) -> Callable[[np.ndarray], OptimizeResult]:
    """One minimisation from a start: the built-in Newton method (L-BFGS-B from where it stopped
    if it did not converge) or the optimizer plugin."""
    lower = obj.lower
    f, jac = _plugin_functions(obj)
    builtin = opt is BUILTIN
    options = builtin_options(optimizer_options) if builtin else None
    forward = obj.dense is None  # evaluations are expensive: forward differences

    # a structure's own parameters (ar1's rho, ...) curve the deviance where the Newton
    # method's start Hessian misleads it: L-BFGS-B with the exact gradient there
    newton = obj.ctx.linear_theta

    def run(x0: np.ndarray) -> OptimizeResult:
        if builtin:
            r = quasi_newton(obj, x0, lower, forward, **options) if newton else None
            if r is not None and r.converged:
                return r
            # insurance: the default optimizer from wherever the Newton iterations stopped
            x0 = r.x if r is not None and np.isfinite(r.fun) and r.fun < 1e100 else x0
            fallback = resolve("optimizer", default_optimizer())
            return fallback.minimize(f, x0, plugin_bounds(lower), jac=jac)
        return opt.minimize(f, x0, plugin_bounds(lower), jac=jac if opt.uses_gradient else None,
                            options=optimizer_options)

    return run


def _probe_zero_bounds(obj: LMMObjective, r: OptimizeResult, run) -> tuple[np.ndarray, OptimizeResult]:
    """Up to three times: try moving each parameter held at 0 off the bound and restart from
    the best trial that lowers the deviance."""
    lower = obj.lower
    bounded = np.isfinite(lower)
    x = np.maximum(r.x, lower)
    for _ in range(3):
        at_zero = np.flatnonzero(bounded & (x <= 1e-8))
        if not at_zero.size:
            break
        fx = obj(x)
        trial = []
        probes = zero_bound_probes(obj.ctx.design.terms)
        for i in at_zero:
            for v in probes[i]:
                xt = x.copy()
                xt[i] = v
                trial.append((obj(xt), xt))
        better = [t for t in trial if t[0] < fx - 1e-6]
        if not better:
            break
        r = run(min(better, key=lambda t: t[0])[1])
        x = np.maximum(r.x, lower)
    return x, r


def _derivatives_at(obj: LMMObjective, x: np.ndarray, builtin: bool
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Hessian and gradient at the optimum: exact (dense systems), the quasi-Newton Hessian
    when it was formed at x (expensive evaluations; the result forms the finite-difference one
    only if asked), else differences of the gradient."""
    gh = obj.grad_hess(x) if builtin else None  # exact (dense systems only)
    H = None if gh is None else gh[1]
    last = getattr(obj, "last_hessian", None)
    if H is None and builtin and last is not None and np.array_equal(last[0], x):
        H = last[1]
        obj.hessian_approximate = True
    if H is None:
        H = (fd_hessian_from_grad(obj, x, obj.dense is None) if builtin
             else hessian_from_gradient(obj.grad, x))
    g = obj.grad(x) if gh is None else gh[0]
    return H, g


def _newton_polish(obj: LMMObjective, x: np.ndarray, fx: float, H: np.ndarray, g: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Up to four Newton steps on the free coordinates with the Hessian H, kept while they
    lower the deviance (a plugin's optimum is polished to the deviance's precision)."""
    lower = obj.lower
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
    return x, g


def optimize_lmm(obj: LMMObjective, optimizer: Any = None,
                 optimizer_options: dict | None = None, start: np.ndarray | None = None
                 ) -> LMMOptimum:
    """Minimise the profiled deviance ``obj`` (see :func:`~interlace.lmm.stages.lmm_objective`)
    over theta. ``optimizer`` None (the built-in trust-region Newton method from moment
    estimates) or an optimizer plugin's name or instance; ``optimizer_options`` its options
    (the built-in one takes only ``maxiter``); ``start`` a theta to start from instead (a
    refit's warm start). Parameters held at theta's zero bound are probed off it; a plugin's
    optimum gets a Newton polish."""
    resolved = optimizer is BUILTIN or hasattr(optimizer, "minimize")
    opt = optimizer if resolved else resolve_optimizer(optimizer)
    builtin = opt is BUILTIN
    if not builtin:  # (the built-in optimizer's options are checked by builtin_options)
        check_optimizer_options(opt, optimizer_options)
    run = _runner(obj, opt, optimizer_options)
    if start is None:
        x0 = moment_start(obj.ctx, obj.dense) if builtin else None
        start = np.concatenate([t.theta_start() for t in obj.ctx.design.terms]) if x0 is None else x0
    else:
        start = check_start(obj, start)
    x, r = _probe_zero_bounds(obj, run(start), run)
    fx = obj(x)
    H, g = _derivatives_at(obj, x, builtin)
    if not builtin:  # the built-in optimizer is Newton's method already
        x, g = _newton_polish(obj, x, fx, H, g)
        fx = obj(x)
    return LMMOptimum(x, fx, H, g, obj.nfev, r.message, opt, bool(r.limit_reached),
                      optimizer_options)


def check_start(obj: LMMObjective, start: np.ndarray) -> np.ndarray:
    """A start of theta's size, moved onto its bounds (a copy); InterlaceError otherwise."""
    x = np.asarray(start, dtype=float)
    if x.shape != obj.lower.shape or not np.all(np.isfinite(x)):
        raise InterlaceError(f"a start of theta needs {obj.lower.size} finite values, got "
                             f"{x.size} of shape {x.shape}")
    return np.maximum(x, obj.lower)
