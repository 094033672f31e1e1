"""`interlace.fit()`: linear mixed models by REML or ML (lme4's lmer), on the GLMM core.

Same formula, design and penalised system as :func:`interlace.glmer`; the objective is the
profiled deviance of :mod:`interlace.lmm.objective`, a function of theta alone. By default it is
minimised by a built-in trust-region Newton method (exact gradient; exact Hessian for models
with few random effects, a finite-difference start and BFGS updates otherwise) from moment
estimates of theta; an optimizer plugin named in ``optimizer=`` is used instead when given.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from scipy.linalg.lapack import dgesv, dpotrf, dsyevd

from interlace.errors import InterlaceError
from interlace.families.gaussian import GaussianFamily
from interlace.linalg.blas import blas_limit
from interlace.linalg.differences import hessian_from_gradient
from interlace.lmm.objective import DenseLMM, LMMContext, LMMObjective
from interlace.lmm.result import LMMResult
from interlace.model.context import ModelContext
from interlace.model.design import build_design
from interlace.model.formula import parse_formula
from interlace.optimizers.base import OptimizeResult
from interlace.registry import resolve


def fit(
    formula: str,
    data: pd.DataFrame,
    groups: Any = None,
    random: Any = None,
    weights: Any = None,
    offset: Any = None,
    method: str = "REML",
    optimizer: Any = None,
    optimizer_options: dict | None = None,
):
    """Fit a linear mixed model (lme4's ``lmer``) by ``method="REML"`` (default) or ``"ML"``.

    ``optimizer=None`` (default) minimises the profiled deviance with the built-in bounded
    quasi-Newton method (exact gradient, finite-difference starting Hessian, BFGS updates);
    an optimizer plugin name (e.g. ``"lbfgsb"``, ``"bobyqa"``) uses that plugin instead.

    Returns an :class:`~interlace.lmm.result.LMMResult` with lmer's estimates, residual
    variance ``scale``, the REML criterion and Satterthwaite degrees of freedom (lmerTest).
    """
    if not isinstance(method, str) or method.upper() not in ("REML", "ML"):
        raise InterlaceError(f"method must be 'REML' or 'ML', got {method!r}")
    reml = method.upper() == "REML"
    opt = _BUILTIN if optimizer is None else resolve("optimizer", optimizer)
    fam = GaussianFamily()
    parsed = parse_formula(formula, groups=groups, random=random)
    args = dict(formula=formula, data=data, groups=groups, random=random, weights=weights,
                offset=offset, optimizer=optimizer, optimizer_options=optimizer_options)
    with blas_limit():  # the design's rank check (a QR) too
        design = build_design(parsed, data, fam, weights=weights, offset=offset)
        if reml and design.n <= design.p:
            raise InterlaceError(
                f"REML needs more rows ({design.n}) than fixed effects ({design.p})")
        ctx = LMMContext(design, fam)
        obj = LMMObjective(ctx, reml)
        theta, dev, H, g, nfev, message = optimize_theta(ctx, reml, opt, optimizer_options, obj)
        return LMMResult.from_lmm(ctx, obj, theta, dev, H, g, nfev, message, opt, args)


def _grouped_grams(t, w: np.ndarray, wr: np.ndarray, ti: int, dense: DenseLMM | None,
                   zr: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Per level of term t, Z_l'W Z_l (levels, k, k) and Z_l'W r (levels, k): read off the
    dense system's Gram matrix when there is one, else one weighted bincount each."""
    if dense is not None:
        lay = dense.lay
        return dense.Aa.ravel().take(lay.term_grams[ti]), zr.take(lay.term_cols[ti])
    k, L, Z, codes = t.k, t.nlevels, t.Z, t.codes
    if k == 1:
        z = Z[:, 0]
        zz = np.bincount(codes, w * z * z, minlength=L)
        return zz[:, None, None], np.bincount(codes, wr * z, minlength=L)[:, None]
    kk = np.arange(k * k)
    idx = (codes[:, None] * (k * k) + kk).ravel()
    prod = ((Z * w[:, None])[:, :, None] * Z[:, None, :]).ravel()
    ZtZ = np.bincount(idx, prod, minlength=L * k * k).reshape(L, k, k)
    Ztr = np.bincount((codes[:, None] * k + kk[:k]).ravel(), (Z * wr[:, None]).ravel(),
                      minlength=L * k).reshape(L, k)
    return ZtZ, Ztr


def _level_fits(t, ZtZ: np.ndarray, Ztr: np.ndarray, rr: np.ndarray, s2: float
                ) -> tuple[np.ndarray, float] | None:
    """Per level of a k-column term, least squares of r on its columns (from the level sums
    Z'WZ, Z'Wr and r'Wr): the covariance of the level coefficients less their mean sampling
    covariance (a moment estimate of the term's covariance, in units of the residual variance
    s2 = the within mean square) and that mean square; None when fewer than two levels can be
    fitted."""
    k, L = t.k, t.nlevels
    cnt = np.bincount(t.codes, minlength=L)
    if k == 2:
        a, b, c = ZtZ[:, 0, 0], ZtZ[:, 0, 1], ZtZ[:, 1, 1]
        det = a * c - b * b
        scale = (a + c) ** 2
    else:
        det = np.linalg.det(ZtZ)
        scale = np.einsum("lii->l", ZtZ) ** k
    ok = (cnt > k) & (det > 1e-10 * scale)
    nok = int(np.count_nonzero(ok))
    if nok < 2:
        return None
    if nok < L:
        ZtZ, Ztr, rr, cnt, det = ZtZ[ok], Ztr[ok], rr[ok], cnt[ok], det[ok]
    if k == 2:  # closed-form 2 x 2 inverses
        inv = np.empty_like(ZtZ)
        inv[:, 0, 0], inv[:, 1, 1] = ZtZ[:, 1, 1], ZtZ[:, 0, 0]
        inv[:, 0, 1] = inv[:, 1, 0] = -ZtZ[:, 0, 1]
        inv /= det[:, None, None]
    else:
        inv = np.linalg.inv(ZtZ)
    bl = (inv @ Ztr[:, :, None])[:, :, 0]
    dfw = int(cnt.sum()) - k * nok
    # within-level residual sum of squares: r'Wr - (Z'Wr)' b per level
    ssw = float(rr.sum()) - float(Ztr.ravel() @ bl.ravel())
    msw = max(ssw, 0.0) / dfw if dfw > 0 else s2
    bc = bl - bl.sum(axis=0) / nok
    Sb = (bc.T @ bc) / (nok - 1) - (msw / nok) * inv.sum(axis=0)
    return Sb, msw


def _chol2_floored(a: float, b: float, c: float) -> tuple[float, float, float] | None:
    """Lower Cholesky factor (l00, l10, l11) of [[a, b], [b, c]] when its eigenvalues are
    already above moment_start's floor (1e-4 of the largest), in plain floats; None otherwise
    (the eigenvalues are then floored through an eigendecomposition)."""
    h = math.hypot(0.5 * (a - c), b)
    top, low = 0.5 * (a + c) + h, 0.5 * (a + c) - h
    if not (math.isfinite(h) and low >= 1e-4 * max(top, 1e-8) and a > 0):
        return None
    l00 = math.sqrt(a)
    l10 = b / l00
    d = c - l10 * l10
    return (l00, l10, math.sqrt(d)) if d > 0 else None


def moment_start(ctx: ModelContext, dense: DenseLMM | None = None) -> np.ndarray | None:
    """A starting theta near the optimum: moment estimates from the (weighted) least-squares
    residuals. For a term with one column, its one-way ANOVA variance estimate; for a term
    with k columns, the covariance of per-level least-squares coefficients less their mean
    sampling covariance; each relative to the smallest within-level mean square. None when a
    term has more than four columns (lme4's start is used). The grouped sums come from the
    dense system's Gram matrix when given."""
    d = ctx.design
    if any(t.k > 4 for t in d.terms):
        return None
    w = d.weights
    yo = d.y - d.offset if dense is None else dense.yo
    if dense is not None:
        q = dense.q
        XtWX, XtWy = dense.A[q:, q:], dense.r0[q:]
    else:
        Xw = d.X * w[:, None]
        XtWX, XtWy = d.X.T @ Xw, Xw.T @ yo
    _, _, beta, info = dgesv(XtWX, XtWy)  # numpy's solve without its overhead
    if info != 0:
        sw = np.sqrt(w)
        beta = np.linalg.lstsq(d.X * sw[:, None], yo * sw, rcond=None)[0]
    r = yo - d.X @ beta
    wr = w * r
    n = d.n
    rss = float(wr @ r)
    total = rss / max(n - d.p, 1)
    zr = None if dense is None else dense.r0[:q] - dense.A[:q, q:] @ beta  # Z'W r
    covs, within = [], [total]
    for ti, t in enumerate(d.terms):
        ZtZ, Ztr = _grouped_grams(t, w, wr, ti, dense, zr)
        if t.k > 1:
            lf = _level_fits(t, ZtZ, Ztr, np.bincount(t.codes, wr * r, minlength=t.nlevels),
                             total)
            covs.append(None if lf is None else lf[0])
            if lf is not None:
                within.append(lf[1])
            continue
        zz, zt = ZtZ[:, 0, 0], Ztr[:, 0]
        pos = zz > 0
        L = int(np.sum(pos))
        if L < 2 or n <= L:
            covs.append(np.zeros((1, 1)))
            continue
        m = zt / np.maximum(zz, 1e-300)
        ssb = float(np.sum((zt * m)[pos]))  # = sum zz m^2
        msw = max(rss - ssb, 0.0) / (n - L)
        msb = ssb / (L - 1)
        zs = float(zz.sum())
        n0 = (zs - float(zz @ zz) / zs) / (L - 1)
        covs.append(np.array([[max((msb - msw) / n0, 0.0)]]))
        within.append(msw)
    s2 = max(min(within), 1e-12 * max(total, 1e-300))
    out = []
    for t, S in zip(d.terms, covs):
        if S is None:
            out.append(t.theta_start())
            continue
        S = S / s2
        if t.k == 1:
            out.append(np.sqrt(np.maximum(S[0], 0.0)) + 0.01)
            continue
        if not t.correlated:
            out.append(np.sqrt(np.maximum(np.diag(S), 0.0)) + 0.01)
            continue
        if t.k == 2:
            chol = _chol2_floored(float(S[0, 0]), 0.5 * float(S[0, 1] + S[1, 0]), float(S[1, 1]))
            if chol is not None:
                out.append(np.array(chol))
                continue
        ev, V, info = dsyevd(0.5 * (S + S.T), lower=1)  # LAPACK directly: tiny matrices
        if info != 0:
            out.append(t.theta_start())
            continue
        ev = np.maximum(ev, 1e-4 * max(float(ev.max()), 1e-8))
        Lc, info = dpotrf((V * ev) @ V.T, lower=1, clean=1)
        out.append(Lc[t.tri_rows, t.tri_cols] if info == 0 else t.theta_start())
    return np.concatenate(out)


def _bounds(lower: np.ndarray) -> list[tuple]:
    """Optimizer-plugin bounds: (0, None) on Lambda's diagonal, (None, None) off it."""
    return [(0.0 if np.isfinite(lo) else None, None) for lo in lower]


class _Builtin:
    """The built-in optimizer's name on the result."""

    name = "quasi-newton"
    uses_gradient = True


_BUILTIN = _Builtin()


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


def _tr_step(H: np.ndarray, g: np.ndarray, radius: float) -> np.ndarray:
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
    if exact:
        g, H = obj.grad_hess(x)
    else:
        g = obj.grad(x)
        H = fd_hessian_from_grad(obj, x, forward)
    bounded = np.isfinite(lower)
    radius = max(1.0, float(np.abs(x).max()))
    message, converged = "maximum number of iterations reached", False
    for _ in range(maxiter):
        held = bounded & (x <= lower) & (g > 0)
        if held.any():
            free = ~held
            if not free.any():
                message, converged = "all parameters at their bounds", True
                break
            d = np.zeros_like(x)
            d[free] = _tr_step(H[np.ix_(free, free)], g[free], radius)
        else:
            d = _tr_step(H, g, radius)
        xn = np.maximum(x + d, lower)
        s_ = xn - x
        pred = -float(g @ s_ + 0.5 * s_ @ H @ s_)
        ftol = 1e-11 + 1e-13 * abs(f)  # a hundred times the deviance's rounding level
        if pred < ftol:
            message, converged = "predicted decrease below tolerance", True
            break
        fn = obj(xn)
        rho = (f - fn) / pred
        step = float(np.linalg.norm(s_))
        if rho < 0.25:
            radius = 0.25 * step
        elif rho > 0.75 and step > 0.8 * radius:
            radius *= 2.0
        if not fn < f:
            if radius < 1e-10 or pred < 100 * ftol:
                message, converged = "no further decrease (at the precision of the deviance)", True
                break
            continue
        if exact:
            g, H = obj.grad_hess(xn)
            x, f = xn, fn
            continue
        gn = obj.grad(xn)
        y_ = gn - g
        sy = float(s_ @ y_)
        if sy > 1e-12 * step * np.linalg.norm(y_):
            Hs = H @ s_
            H = H - np.outer(Hs, Hs) / float(s_ @ Hs) + np.outer(y_, y_) / sy
        x, f, g = xn, fn, gn
    obj.last_hessian = (x.copy(), H)
    return OptimizeResult(x, f, converged, obj.nfev, message)


def optimize_theta(ctx: ModelContext, reml: bool, opt, optimizer_options=None,
                   obj: LMMObjective | None = None):
    """Minimise the profiled deviance over theta; a Newton polish on its finite-difference
    Hessian, and a probe off the zero bound (where the deviance is stationary in theta)."""
    obj = LMMObjective(ctx, reml) if obj is None else obj
    terms = ctx.design.terms
    lower = obj.lower
    bounded = np.isfinite(lower)
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

    builtin = opt is _BUILTIN
    builtin_options = dict(optimizer_options or {})
    if builtin and set(builtin_options) - {"maxiter"}:
        raise InterlaceError(
            f"optimizer_options for the built-in optimizer (optimizer=None) take only 'maxiter'; "
            f"got {sorted(set(builtin_options) - {'maxiter'})} - name an optimizer plugin (e.g. "
            f"optimizer='lbfgsb') to pass it other options")
    if "maxiter" in builtin_options:
        m = builtin_options["maxiter"]
        if isinstance(m, bool) or not isinstance(m, (int, np.integer)) or m < 0:
            raise InterlaceError(f"optimizer_options maxiter must be a non-negative integer, "
                                 f"got {m!r}")
    forward = obj.dense is None  # evaluations are expensive: forward differences

    def run(x0):
        if builtin:
            r = quasi_newton(obj, x0, lower, forward, **builtin_options)
            if r.converged:
                return r
            # insurance: L-BFGS-B from wherever the Newton iterations stopped
            x0 = r.x if np.isfinite(r.fun) and r.fun < 1e100 else x0
            return resolve("optimizer", "lbfgsb").minimize(f, x0, _bounds(lower), jac=jac)
        return opt.minimize(f, x0, _bounds(lower), jac=jac if opt.uses_gradient else None,
                            options=optimizer_options)

    x0 = moment_start(ctx, obj.dense) if builtin else None
    r = run(np.concatenate([t.theta_start() for t in terms]) if x0 is None else x0)
    x = np.maximum(r.x, lower)
    for _ in range(3):
        at_zero = np.flatnonzero(bounded & (x <= 1e-8))
        if not at_zero.size:
            break
        fx = obj(x)
        trial = []
        for i in at_zero:
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
    gh = obj.grad_hess(x) if builtin else None  # exact (dense systems only)
    H = None if gh is None else gh[1]
    last = getattr(obj, "last_hessian", None)
    if H is None and builtin and last is not None and np.array_equal(last[0], x):
        # expensive evaluations: the quasi-Newton Hessian serves the convergence check, and
        # the result computes the finite-difference one only if it is asked for
        H = last[1]
        obj.hessian_approximate = True
    if H is None:
        H = fd_hessian_from_grad(obj, x, forward) if builtin else hessian_from_gradient(obj.grad, x)
    g = obj.grad(x) if gh is None else gh[0]
    if builtin:  # the built-in optimizer is Newton's method already
        return x, fx, H, g, obj.nfev, r.message
    free = ~(bounded & (x <= 1e-8))
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
