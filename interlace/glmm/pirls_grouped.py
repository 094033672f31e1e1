"""PIRLS on per-level sums: one random intercept and a mean exp(eta) (Poisson, log link).

With eta_i = base_i + c u_j for the rows i of level j (c = theta, base = offset + X beta), the
conditional log-likelihood in u is

    sum_i w_i (y_i eta_i - exp(eta_i)) = y'W base + c sum_j u_j Y_j - sum_j exp(c u_j) E_j,

with Y_j = sum of w_i y_i and E_j = sum of w_i exp(base_i) over level j. So once E is summed
(one pass over the rows per call) every Newton iteration costs O(levels), not O(rows): M is
diagonal, d_j = c^2 exp(c u_j) E_j + 1. The rows are visited again only at the mode, where the
mean, the log-likelihood and the factor are taken row by row as :func:`interlace.glmm.pirls.pirls`
takes them, so the result is that function's (the same mode, to its tolerance).
"""

from __future__ import annotations

import math

import numpy as np

from interlace.families.base import RowKernel
from interlace.glmm.rowkernel import FixedEffects
from interlace.model.context import ModelContext


def applies(ctx: ModelContext, kern: RowKernel, ZL: list[np.ndarray]) -> bool:
    """Whether the model is one random intercept with an exp-mean kernel."""
    return bool(kern.exp_mean) and ctx.system.lead_constant(ZL) is not None


def _level_response(ctx: ModelContext, kern: RowKernel) -> tuple[np.ndarray, np.ndarray]:
    """(w y per row, its sum per level), computed once per model."""
    cached = ctx.__dict__.get("_level_wy")
    if cached is None or cached[0] is not kern:
        wy = kern.y if kern.unit else kern.w * kern.y
        cached = (kern, wy, ctx.system.level_sums(0, wy))
        ctx.__dict__["_level_wy"] = cached
    return cached[1], cached[2]


def grouped_modes(ctx: ModelContext, kern: RowKernel, fe: FixedEffects, ZL: list[np.ndarray],
                  beta: np.ndarray, u0: np.ndarray, tol: float, maxit: int
                  ) -> tuple[np.ndarray, np.ndarray, bool, int] | None:
    """The conditional modes u by Newton steps (with step halving) on the per-level sums, from
    ``u0``: (u, base, converged, iterations); None where exp(base) overflows (the row-wise
    PIRLS then runs, with its checks)."""
    system = ctx.system
    c = system.lead_constant(ZL)
    base = fe.xbeta(beta)
    with np.errstate(over="ignore", invalid="ignore"):
        eb = np.exp(base)
        E = system.level_sums(0, eb if kern.unit else kern.w * eb)
    wy, Y = _level_response(ctx, kern)
    if not np.all(np.isfinite(E)):
        return None

    def pdev(u: np.ndarray) -> tuple[float, np.ndarray]:
        with np.errstate(over="ignore", invalid="ignore"):
            m = np.exp(c * u) * E  # per level, the sum of the means
            ll = c * float(Y @ u) - float(m.sum())
        return (-2.0 * ll + float(u @ u) if math.isfinite(ll) else np.inf), m

    u = u0.copy()
    f, m = pdev(u)
    if not math.isfinite(f):
        u = np.zeros_like(u)
        f, m = pdev(u)
        if not math.isfinite(f):
            return None
    for it in range(1, maxit + 1):
        g = c * (Y - m) - u
        du = g / (c * c * m + 1.0)
        if float(g @ du) < tol:
            # the last (tiny) step, as the row-wise PIRLS takes it, and one more (O(levels)):
            # the modes are then exact to rounding, as Objective.reconverge would make them
            u = u + du
            m = pdev(u)[1]
            return u + (c * (Y - m) - u) / (c * c * m + 1.0), base, True, it
        step = 1.0
        while step > 1e-10:
            un = u + step * du
            fn, mn = pdev(un)
            if fn <= f + 1e-10 * max(1.0, abs(f)):
                break
            step *= 0.5
        else:
            return u, base, True, it  # no further decrease at machine precision
        small = abs(f - fn) < 1e-13 * max(1.0, abs(f))
        u, f, m = un, fn, mn
        if small:
            return u, base, True, it
    return u, base, False, maxit


def grouped_pirls(ctx: ModelContext, kern: RowKernel, fe: FixedEffects, ZL: list[np.ndarray],
                  beta: np.ndarray, fp: dict, u0: np.ndarray, tol: float, maxit: int
                  ) -> tuple | None:
    """:func:`grouped_modes`, then the rows at the mode: (u, eta, mu, conditional
    log-likelihood, factor, weights, converged, iterations), or None (the row-wise PIRLS runs
    instead) where the sums overflow or the factor fails."""
    modes = grouped_modes(ctx, kern, fe, ZL, beta, u0, tol, maxit)
    if modes is None:
        return None
    u, base, converged, it = modes
    system = ctx.system
    eta = system.zl_u(ZL, u)
    eta += base  # in place: one fresh n-vector fewer (each costs page faults)
    out = kern.evaluate_checked(eta, fp)
    if out is None:
        return None
    mu, llk = out
    ll = llk + ctx.loglik_constant(fp)
    W = kern.weights(eta, mu, fp)
    F = system.factor(ZL, W) if math.isfinite(ll) else None
    if F is None:
        return None
    return u, eta, mu, ll, F, W, converged, it
