"""The end of a fit whose optimizer ran on stochastic estimates (``solver="slq"``).

The optimizer's optimum is that of the stochastic objective (fixed probes). Its distance to the
exact optimum is measured, not assumed: the gradient at x from an independent set of probes
is an unbiased estimate of the exact gradient there, so with the Hessian H the Newton
decrement g' H^-1 g / 4 estimates the log-likelihood the exact optimum has above x. (Its
expectation is the true gap plus the new probes' own noise, of the same size: it errs on the
safe side, by about 2x.) Above ``GAP_TOL`` an exact Newton step follows, from the exact
gradient (one dense factor and inverse of the Schur complement).
"""

from __future__ import annotations

import warnings

import numpy as np

from interlace.errors import ConvergenceWarning
from interlace.glmm.objective import Objective
from interlace.linalg.stochastic import rademacher_probes

GAP_TOL = 1e-3  # log-likelihood units: a tenth of issue 19's 1e-2, since the estimate is noisy
_CHECK_SEED = 7919  # the independent probes' seed (the optimizer's are drawn with another)


def _decrement(g: np.ndarray, H: np.ndarray, x: np.ndarray, lower: np.ndarray) -> float:
    """g' H^-1 g / 4 on the free coordinates (those not held at a bound by the gradient):
    the log-likelihood a Newton step would gain on a quadratic model (deviance / 2)."""
    free = ~((x <= lower) & (g > 0))
    if not free.any():
        return 0.0
    gf = g[free]
    try:
        step = np.linalg.solve(H[np.ix_(free, free)], gf)
    except np.linalg.LinAlgError:
        return np.inf
    return max(float(gf @ step) / 4.0, 0.0)


def stochastic_gap(obj: Objective, x: np.ndarray, H: np.ndarray, lower: np.ndarray) -> float:
    """The estimated log-likelihood gap between x and the exact optimum, from the gradient with
    independent probes (called while the system estimates; its probes are restored)."""
    system = obj.ctx.system
    saved = system.probes
    system.probes = rademacher_probes(saved.shape[0], saved.shape[1], seed=_CHECK_SEED)
    try:
        obj.reconverge(x)
        g = obj.gradient(x)
    finally:
        system.probes = saved
    if g is None or not np.all(np.isfinite(g)):
        return np.inf
    return _decrement(g, H, x, lower)


def exact_newton(obj: Objective, x: np.ndarray, H: np.ndarray, lower: np.ndarray
                 ) -> np.ndarray:
    """One Newton step from x on the exact gradient (called once the system is exact again),
    kept if the exact deviance falls; warns if it does not."""
    f0 = obj.reconverge(x)
    g = obj.gradient(x)
    if g is not None and np.all(np.isfinite(g)):
        try:
            xn = np.maximum(x - np.linalg.solve(H, g), lower)
        except np.linalg.LinAlgError:
            xn = None
        if xn is not None and obj(xn) < f0:
            return xn
    warnings.warn("the stochastic optimum (solver='slq') could not be refined by an exact "
                  "Newton step; its log-likelihood may be below the exact optimum's by more "
                  "than 1e-3: refit with solver='pcg' to check", ConvergenceWarning,
                  stacklevel=3)
    return x
