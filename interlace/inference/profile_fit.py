"""Constrained refits for likelihood profiles: the deviance minimised over every parameter but
one, which is held at a value (the inner optimisation of lme4's ``profile.merMod``).

A model kind describes its parameters by a :class:`Chart`: coordinates ``c`` in which the
profiled parameter is one entry (SDs and correlations instead of theta's Cholesky factor, a
threshold instead of the first threshold, ...), the deviance and its gradient in them, their
bounds and every natural parameter's value at ``c``. :class:`ChartFocal` profiles entry k of a
chart; :mod:`interlace.inference.profile_walk` walks it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from scipy import optimize

from interlace.linalg.differences import fd_gradient, fd_hessian, hessian_from_gradient

HUGE = 1e100  # the deviance where it cannot be evaluated


@dataclass
class Chart:
    """Coordinates of a model's parameters for profiling.

    ``fun(c)``: the deviance (HUGE where it cannot be evaluated); ``grad(c)``: its gradient
    (None where the model has none: then differences are used); ``lower``/``upper``: bounds
    of c; ``natural(c)``: every natural parameter's value at c (the profile tables' columns);
    ``center``: c at the optimum.
    """

    fun: Callable[[np.ndarray], float]
    grad: Callable[[np.ndarray], np.ndarray | None]
    lower: np.ndarray
    upper: np.ndarray
    natural: Callable[[np.ndarray], np.ndarray]
    center: np.ndarray
    _hessian: np.ndarray | None = field(default=None, repr=False)

    def gradient(self, c: np.ndarray) -> np.ndarray:
        """The gradient, or central differences of the deviance where there is none."""
        g = self.grad(c)
        if g is None:
            g = fd_gradient(self.fun, c, self.fun(c), np.full(c.size, -np.inf), h=1e-6)
        return g

    def hessian(self) -> np.ndarray:
        """The deviance's Hessian at the center (differences of the gradient, computed once)."""
        if self._hessian is None:
            c = self.center
            H = hessian_from_gradient(self.grad, c) if self.grad(c) is not None else None
            if H is None:
                H, _ = fd_hessian(self.fun, c, self.fun(c))
            self._hessian = 0.5 * (H + H.T)
        return self._hessian


def minimize_free(fun: Callable, grad: Callable, x0: np.ndarray, lower: np.ndarray,
                  upper: np.ndarray, scale: np.ndarray) -> tuple[np.ndarray, float]:
    """Bounded minimisation (L-BFGS-B) on coordinates divided by ``scale`` (each one's
    conditional standard error, so that the deviance's curvature is about 2 in every
    direction); returns the minimiser and the deviance there."""
    if x0.size == 0:
        return x0, float(fun(x0))
    x0 = np.clip(x0, lower, upper)

    def f(w):
        x = x0 + w * scale
        val = fun(x)
        if not np.isfinite(val) or val >= HUGE:
            return HUGE, np.zeros_like(w)
        return val, grad(x) * scale

    lo = np.where(np.isfinite(lower), (lower - x0) / scale, -np.inf)
    hi = np.where(np.isfinite(upper), (upper - x0) / scale, np.inf)
    res = optimize.minimize(f, np.zeros_like(x0), jac=True, method="L-BFGS-B",
                            bounds=list(zip(lo, hi)),
                            options={"ftol": 1e-15, "gtol": 1e-7, "maxiter": 500})
    x = np.clip(x0 + res.x * scale, lower, upper)
    return x, float(fun(x))


class ChartFocal:
    """Entry ``k`` of a :class:`Chart` as a profiled parameter: its estimate, bounds, Wald
    standard error, the trace's first direction and the refit with it held at a value.
    ``to_natural`` maps the entry to the parameter's natural scale (increasing),
    ``from_natural`` back."""

    def __init__(self, chart: Chart, k: int, to_natural: Callable = np.asarray,
                 from_natural: Callable = np.asarray) -> None:
        self.chart, self.k = chart, k
        self.to_natural, self.from_natural = to_natural, from_natural
        c = chart.center
        self.free = np.flatnonzero(np.arange(c.size) != k)
        self.estimate = float(c[k])
        self.lower, self.upper = float(chart.lower[k]), float(chart.upper[k])
        self.start = c[self.free].copy()
        H = chart.hessian()
        Hff = H[np.ix_(self.free, self.free)]
        hk = H[self.free, k]
        try:
            self.slope = -np.linalg.solve(Hff, hk)
            cond = H[k, k] - hk @ (-self.slope)  # curvature of the profiled deviance
        except np.linalg.LinAlgError:
            self.slope, cond = np.zeros(self.free.size), np.nan
        self.se = float(np.sqrt(2.0 / cond)) if np.isfinite(cond) and cond > 0 else np.nan
        d = np.diag(Hff)
        self.scale = np.where(np.isfinite(d) & (d > 0), np.sqrt(2.0 / np.where(d > 0, d, 1.0)),
                              1.0)

    def full(self, w: float, free: np.ndarray) -> np.ndarray:
        c = np.empty(self.chart.center.size)
        c[self.k] = w
        c[self.free] = free
        return c

    def refit(self, w: float, start: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        """(deviance, the free coordinates, every natural value) at the minimum of the
        deviance with entry k held at w, from ``start``."""
        chart, free = self.chart, self.free

        def fun(x):
            return chart.fun(self.full(w, x))

        def grad(x):
            return chart.gradient(self.full(w, x))[free]

        x, fx = minimize_free(fun, grad, start, chart.lower[free], chart.upper[free], self.scale)
        return fx, x, chart.natural(self.full(w, x))
