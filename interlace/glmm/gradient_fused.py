"""The exact Laplace gradient for the fused canonical kernels (Poisson-log, binomial-logit).

The formula is :func:`interlace.glmm.gradient.laplace_gradient`'s. With a canonical link the
observed and expected information coincide (J = W, one factor serves both the log-determinant
and the adjoint solve), the score in eta is w (y - mu), and dW/deta has a closed form, so the
per-row work shrinks from some sixty numpy passes to about twenty. ``tests/test_rowkernel.py``
checks it against the general function.
"""

from __future__ import annotations

import numpy as np

from interlace.families.base import RowKernel
from interlace.glmm.pirls import PirlsResult
from interlace.glmm.rowkernel import fixed_effects_for
from interlace.model.context import ModelContext


def fused_laplace_gradient(ctx: ModelContext, kern: RowKernel, theta: np.ndarray, fp: dict,
                           res: PirlsResult) -> np.ndarray | None:
    """Gradient over [theta, beta] of the Laplace deviance (canonical fused kernels only)."""
    if res.factor is None or res.mu is None:
        return None
    d, system = ctx.design, ctx.system
    ZL = res.zl if res.zl is not None else ctx.zl(theta)
    u, eta, mu = res.u, res.eta, res.mu
    s, W = kern.score_weights(eta, mu, fp)[:2]
    c = system.lead_constant(ZL)
    if kern.exp_mean and c is not None and d.terms[0].linear:
        return _random_intercept_gradient(ctx, c, u, s, W, res.factor)
    Wp = kern.weights_deta(eta, mu, W)
    F = res.factor
    m = F.minv_rows(ZL)  # (n, sum k) in solver order
    if system.single1:
        lev = ZL[0][:, 0] * m[:, 0]  # row-wise a_i' M^-1 a_i
    else:
        cols = [z[:, j] for z in ZL for j in range(z.shape[1])]
        lev = cols[0] * m[:, 0]
        for j in range(1, len(cols)):
            lev += cols[j] * m[:, j]
    v = lev * Wp
    lam = F.solve(system.zlt_r(ZL, v))
    Alam = system.zl_u(ZL, lam)
    r2s = W * Alam  # r - 2 s, with r = v - J A lambda (J = W)
    np.subtract(v, r2s, out=r2s)
    r2s -= s
    r2s -= s

    grads = []
    col0, pos_of = system.col0, system.pos_of
    ones = _unit_columns(ctx)
    for ti, (t, tsl) in enumerate(zip(d.terms, ctx.theta_slices())):
        pos = pos_of[ti]
        sl = system.slices[pos]
        ut = u[sl].reshape(-1, t.k)
        lt = lam[sl].reshape(-1, t.k)
        if not t.linear:  # a structure: every entry of Lambda's lower triangle, as products
            Z, mt = t.Z, m[:, col0[pos]:col0[pos] + t.k]
            G = ((Z * r2s[:, None]).T @ ut[t.codes] + 2.0 * (Z * W[:, None]).T @ mt
                 + (Z * s[:, None]).T @ lt[t.codes])
            grads.extend(t.chain(theta[tsl], G[t.tri_rows, t.tri_cols]))
            continue
        g_pos = []
        for row, col in zip(t.tri_rows, t.tri_cols):
            if t.k == 1:  # runs of one level gather by repeat
                uc, lc = system.expand(pos, ut[:, 0]), system.expand(pos, lt[:, 0])
            else:
                uc, lc = ut[:, col].take(t.codes), lt[:, col].take(t.codes)
            mc = m[:, col0[pos] + col]
            if ones[ti][row]:  # an intercept column: skip the products with 1
                g = float(r2s @ uc) + 2.0 * float(W @ mc) + float(s @ lc)
            else:
                zr = t.Z[:, row]
                g = (float(r2s @ (zr * uc)) + 2.0 * float((W * zr) @ mc)
                     + float(s @ (zr * lc)))
            g_pos.append(g)
        grads.extend(t.chain(theta[tsl], g_pos))  # Lambda's entries -> the structure's theta
    grads.extend(fixed_effects_for(ctx).xt_dot(r2s))
    return np.asarray(grads, float)


def _random_intercept_gradient(ctx: ModelContext, c: float, u: np.ndarray, s: np.ndarray,
                                W: np.ndarray, F) -> np.ndarray:
    """The same gradient for one random intercept (Z Lambda = c on every row) with W = dW/deta
    (exp mean): M is diagonal, d_j = 1 + c^2 sum_j W, and every theta term is a per-level sum,
    so the rows are visited four times (sums of W and s, the residual, X' times it)."""
    system = ctx.system
    dj = F.L0 * F.L0
    Wj, Sj = system.level_sums(0, W), system.level_sums(0, s)
    lev = c * c / dj  # a_i' M^-1 a_i, per level
    lam = c * lev * Wj / dj  # M^-1 A' (lev W')
    a = lev - c * lam  # r - 2 s = W (lev - c lam) - 2 s, row by row
    g_theta = (float(u @ (a * Wj - 2.0 * Sj)) + 2.0 * float((c / dj) @ Wj)
               + float(lam @ Sj))
    r2s = system.expand(0, a)
    r2s *= W
    r2s -= s
    r2s -= s
    return np.concatenate([[g_theta], fixed_effects_for(ctx).xt_dot(r2s)])


def _unit_columns(ctx: ModelContext) -> list[np.ndarray]:
    """Per design term, which raw Z columns are identically 1 (computed once per model)."""
    cached = ctx.__dict__.get("_unit_z_columns")
    if cached is None:
        cached = [np.all(t.Z == 1.0, axis=0) for t in ctx.design.terms]
        ctx.__dict__["_unit_z_columns"] = cached
    return cached
