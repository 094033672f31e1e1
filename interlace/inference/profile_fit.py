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

from interlace.linalg.differences import fd_gradient

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
        """The deviance's Hessian at the center (computed once): differences of the gradient,
        central inside the bounds and one-sided, inwards, next to them (an SD at 0, a
        correlation at +-1)."""
        if self._hessian is None:
            c = self.center
            m = c.size
            H = np.empty((m, m))
            g0 = None
            for j in range(m):
                h = 1e-4 * max(1.0, abs(c[j]))
                e = np.zeros(m)
                e[j] = h
                if c[j] - h >= self.lower[j] and c[j] + h <= self.upper[j]:
                    H[:, j] = (self.gradient(c + e) - self.gradient(c - e)) / (2 * h)
                else:
                    side = 1.0 if c[j] + h <= self.upper[j] else -1.0
                    g0 = self.gradient(c) if g0 is None else g0
                    H[:, j] = (self.gradient(c + side * e) - g0) / (side * h)
            self._hessian = 0.5 * (H + H.T)
        return self._hessian


def positive_definite(H: np.ndarray) -> np.ndarray:
    """H with its eigenvalues made positive (at least 1e-8 of the largest)."""
    if H.size == 0:
        return H
    w, V = np.linalg.eigh(0.5 * (H + H.T))
    w = np.abs(w)
    top = float(w.max()) if np.isfinite(w).all() and w.max() > 0 else 1.0
    return (V * np.maximum(w, 1e-8 * top)) @ V.T


def minimize_free(fun: Callable, grad: Callable, x0: np.ndarray, lower: np.ndarray,
                  upper: np.ndarray, H0: np.ndarray, tol: float = 1e-10,
                  maxiter: int = 100) -> tuple[np.ndarray, float, np.ndarray]:
    """Bounded quasi-Newton minimisation from x0: Newton steps on the coordinates not held at
    a bound, with BFGS updates of the Hessian from ``H0`` (the deviance's at the optimum, or
    the last point's), an Armijo backtracking line search on the projected path, and a stop
    when the Newton decrement g'H^-1 g (twice the predicted decrease) is below ``tol``.
    Returns the minimiser, the deviance there and the updated Hessian."""
    x = np.clip(x0, lower, upper)
    f = float(fun(x))
    H = positive_definite(H0)
    if x.size == 0 or f >= HUGE:
        return x, f, H
    g = grad(x)
    for _ in range(maxiter):
        held = ((x <= lower) & (g > 0)) | ((x >= upper) & (g < 0))
        fr = np.flatnonzero(~held)
        if fr.size == 0:
            break
        d = np.zeros_like(x)
        d[fr] = -np.linalg.solve(H[np.ix_(fr, fr)], g[fr])
        if -(g[fr] @ d[fr]) < tol:
            break
        t, fn = 1.0, HUGE
        while t > 1e-10:
            xn = np.clip(x + t * d, lower, upper)
            fn = float(fun(xn))
            if fn < HUGE and fn <= f + 1e-4 * float(g @ (xn - x)):
                break
            t *= 0.25
        else:
            break
        gn = grad(xn)
        s_, y_ = xn - x, gn - g
        sy = float(s_ @ y_)
        if sy > 1e-12 * np.linalg.norm(s_) * np.linalg.norm(y_):
            Hs = H @ s_
            H = H - np.outer(Hs, Hs) / float(s_ @ Hs) + np.outer(y_, y_) / sy
        x, f, g = xn, fn, gn
    return x, f, H


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
        if not np.all(np.isfinite(self.slope)):  # e.g. at a correlation of +-1
            self.slope = np.zeros(self.free.size)
        if not np.all(np.isfinite(Hff)):
            Hff = np.diag(np.where(np.isfinite(np.diag(Hff)) & (np.diag(Hff) > 0),
                                   np.diag(Hff), 1.0))
        self.se = float(np.sqrt(2.0 / cond)) if np.isfinite(cond) and cond > 0 else np.nan
        self.H0 = Hff
        self.hess, self.side = Hff, 0  # the Hessian carried along the trace, on one side

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

        side = int(np.sign(w - self.estimate))
        if side != self.side:
            self.hess, self.side = self.H0, side
        lo, hi = chart.lower[free], chart.upper[free]
        x, fx, hess = minimize_free(fun, grad, start, lo, hi, self.hess)
        if fx >= HUGE:  # the extrapolated start left the valid region: from the optimum's
            x, fx, hess = minimize_free(fun, grad, self.start, lo, hi, self.H0)
        self.hess = hess
        return fx, x, chart.natural(self.full(w, x))
