"""The built-in LMM optimizer: a bounded trust-region Newton method on the profiled deviance.

Dense systems get the exact Hessian at every step; others a finite-difference Hessian (of the
exact gradient) at the start and BFGS updates after it.
"""

from __future__ import annotations

import numpy as np
from scipy.linalg.lapack import dsyevd

from interlace.linalg.differences import hessian_from_gradient
from interlace.lmm.objective import LMMObjective
from interlace.optimizers.base import OptimizeResult


def fd_hessian_from_grad(obj: LMMObjective, x: np.ndarray, forward: bool) -> np.ndarray:
    """Hessian of the profiled deviance by differences of its exact gradient: central (2m
    gradients) when evaluations are cheap, forward (m, steps inside the bounds) otherwise."""
    if not forward:
        return hessian_from_gradient(obj.grad, x)
    m = x.size
    g0 = obj.grad(x)
    H = np.empty((m, m))
    for j in range(m):
        h = 1e-5 * max(1.0, abs(x[j]))
        e = np.zeros(m)
        e[j] = h
        H[:, j] = (obj.grad(x + e) - g0) / h
    return 0.5 * (H + H.T)


def trust_region_step(H: np.ndarray, g: np.ndarray, radius: float) -> np.ndarray:
    """The minimiser of g'd + d'Hd/2 over |d| <= radius (H's eigenvalues made positive)."""
    w, V, info = dsyevd(H, lower=1)  # LAPACK directly: numpy's eigh costs 5x more on tiny H
    if info != 0:
        w, V = np.linalg.eigh(H)
    w = np.abs(w)
    np.maximum(w, 1e-8 * max(1.0, float(w.max())), out=w)
    c = V.T @ g
    d = -V @ (c / w)
    if float(d @ d) <= radius * radius:
        return d
    lam = 0.0
    for _ in range(50):  # Newton on 1/|d(lam)| = 1/radius (More and Sorensen), from below
        dn = c / (w + lam)
        nd = float(np.sqrt(dn @ dn))
        if abs(nd - radius) <= 1e-3 * radius:
            break
        lam += (nd - radius) / radius * nd * nd / float(dn @ (dn / (w + lam)))
        lam = max(lam, 0.0)
    return -V @ (c / (w + lam))


def _free_step(x: np.ndarray, g: np.ndarray, H: np.ndarray, lower: np.ndarray,
               bounded: np.ndarray, radius: float) -> np.ndarray | None:
    """The trust-region step on the coordinates not held at a bound by the gradient (None when
    every coordinate is held)."""
    held = bounded & (x <= lower) & (g > 0)
    if not held.any():
        return trust_region_step(H, g, radius)
    free = ~held
    if not free.any():
        return None
    d = np.zeros_like(x)
    d[free] = trust_region_step(H[np.ix_(free, free)], g[free], radius)
    return d


def _bfgs_update(H: np.ndarray, s_: np.ndarray, y_: np.ndarray, step: float) -> np.ndarray:
    """BFGS update of the Hessian approximation (skipped when the curvature s'y is too small)."""
    sy = float(s_ @ y_)
    if sy > 1e-12 * step * np.linalg.norm(y_):
        Hs = H @ s_
        H = H - np.outer(Hs, Hs) / float(s_ @ Hs) + np.outer(y_, y_) / sy
    return H


def _new_radius(radius: float, rho: float, step: float) -> float:
    """Shrink the trust region after a poor prediction, grow it after a good full step."""
    if rho < 0.25:
        return 0.25 * step
    if rho > 0.75 and step > 0.8 * radius:
        return radius * 2.0
    return radius


def quasi_newton(obj: LMMObjective, x0: np.ndarray, lower: np.ndarray, forward: bool,
                 maxiter: int = 200) -> OptimizeResult:
    """Bounded trust-region Newton minimisation of the profiled deviance: the exact Hessian
    at every step for dense systems; otherwise a finite-difference Hessian at the start and
    BFGS updates after it. Steps are on the free coordinates (those not held at a bound by
    the gradient), projected onto the bounds."""
    x = np.maximum(np.asarray(x0, float), lower)
    f = obj(x)
    if not np.isfinite(f) or f >= 1e100:
        return OptimizeResult(x, f, False, obj.nfev, "infeasible start")
    exact = obj.dense is not None
    g, H = obj.grad_hess(x) if exact else (obj.grad(x), None)
    if H is None:
        H = fd_hessian_from_grad(obj, x, forward)
    bounded = np.isfinite(lower)
    radius = max(1.0, float(np.abs(x).max()))
    message, converged = "maximum number of iterations reached", False
    for _ in range(maxiter):
        d = _free_step(x, g, H, lower, bounded, radius)
        if d is None:
            message, converged = "all parameters at their bounds", True
            break
        xn = np.maximum(x + d, lower)
        s_ = xn - x
        pred = -float(g @ s_ + 0.5 * s_ @ H @ s_)
        ftol = 1e-11 + 1e-13 * abs(f)  # a hundred times the deviance's rounding level
        if pred < ftol:
            message, converged = "predicted decrease below tolerance", True
            break
        fn = obj(xn)
        step = float(np.linalg.norm(s_))
        radius = _new_radius(radius, (f - fn) / pred, step)
        if not fn < f:
            if radius < 1e-10 or pred < 100 * ftol:
                message, converged = "no further decrease (at the precision of the deviance)", True
                break
            continue
        if exact:
            g, H = obj.grad_hess(xn)
        else:
            gn = obj.grad(xn)
            H = _bfgs_update(H, s_, gn - g, step)
            g = gn
        x, f = xn, fn
    obj.last_hessian = (x.copy(), H)
    return OptimizeResult(x, f, converged, obj.nfev, message)
