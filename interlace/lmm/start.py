"""Moment estimates of theta: the built-in LMM optimizer's starting point."""

from __future__ import annotations

import math

import numpy as np
from scipy.linalg.lapack import dgesv, dpotrf, dsyevd

from interlace.lmm.dense import DenseLMM
from interlace.model.context import ModelContext


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


def _ls_residuals(ctx: ModelContext, dense: DenseLMM | None):
    """Weighted least-squares fit of the fixed effects alone: residuals r, W r, their weighted
    sum of squares, its mean square and Z'W r (dense systems only, else None)."""
    d = ctx.design
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
    rss = float(wr @ r)
    total = rss / max(d.n - d.p, 1)
    zr = None if dense is None else dense.r0[:q] - dense.A[:q, q:] @ beta  # Z'W r
    return r, wr, rss, total, zr


def _one_way(ZtZ: np.ndarray, Ztr: np.ndarray, rss: float, n: int
             ) -> tuple[np.ndarray, float | None]:
    """A one-column term's one-way ANOVA variance estimate and within mean square (None when
    fewer than two levels or no within degrees of freedom)."""
    zz, zt = ZtZ[:, 0, 0], Ztr[:, 0]
    pos = zz > 0
    L = int(np.sum(pos))
    if L < 2 or n <= L:
        return np.zeros((1, 1)), None
    m = zt / np.maximum(zz, 1e-300)
    ssb = float(np.sum((zt * m)[pos]))  # = sum zz m^2
    msw = max(rss - ssb, 0.0) / (n - L)
    msb = ssb / (L - 1)
    zs = float(zz.sum())
    n0 = (zs - float(zz @ zz) / zs) / (L - 1)
    return np.array([[max((msb - msw) / n0, 0.0)]]), msw


def _term_theta(t, S: np.ndarray | None) -> np.ndarray:
    """theta of term t from its covariance estimate S relative to the residual variance
    (eigenvalues floored at 1e-4 of the largest); the term's default start when S is None."""
    if S is None:
        return t.theta_start()
    if not t.linear:  # a structure's own parameters: it knows how to read S
        return np.asarray(t.structure.start_from_covariance(S, t.k), float)
    if t.k == 1:
        return np.sqrt(np.maximum(S[0], 0.0)) + 0.01
    if not t.correlated:
        return np.sqrt(np.maximum(np.diag(S), 0.0)) + 0.01
    if t.k == 2:
        chol = _chol2_floored(float(S[0, 0]), 0.5 * float(S[0, 1] + S[1, 0]), float(S[1, 1]))
        if chol is not None:
            return np.array(chol)
    ev, V, info = dsyevd(0.5 * (S + S.T), lower=1)  # LAPACK directly: tiny matrices
    if info != 0:
        return t.theta_start()
    ev = np.maximum(ev, 1e-4 * max(float(ev.max()), 1e-8))
    Lc, info = dpotrf((V * ev) @ V.T, lower=1, clean=1)
    return Lc[t.tri_rows, t.tri_cols] if info == 0 else t.theta_start()


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
    r, wr, rss, total, zr = _ls_residuals(ctx, dense)
    covs, within = [], [total]
    for ti, t in enumerate(d.terms):
        ZtZ, Ztr = _grouped_grams(t, d.weights, wr, ti, dense, zr)
        if t.k > 1:
            lf = _level_fits(t, ZtZ, Ztr, np.bincount(t.codes, wr * r, minlength=t.nlevels),
                             total)
            covs.append(None if lf is None else lf[0])
            if lf is not None:
                within.append(lf[1])
            continue
        cov, msw = _one_way(ZtZ, Ztr, rss, d.n)
        covs.append(cov)
        if msw is not None:
            within.append(msw)
    s2 = max(min(within), 1e-12 * max(total, 1e-300))
    return np.concatenate([_term_theta(t, None if S is None else S / s2)
                           for t, S in zip(d.terms, covs)])
