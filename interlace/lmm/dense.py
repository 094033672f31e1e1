"""The dense path of the LMM objective: for models with few random effects the whole (q + p)
penalised system is one dense matrix (:class:`DenseLMM`), whose index arrays depend only on the
model's shape (:class:`DenseLayout`, kept per shape by :func:`dense_layout`). It gives the
penalised least-squares solution, the exact gradient and the exact Hessian of the profiled
deviance in theta."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.linalg.lapack import dpotrf, dpotrs

from interlace.caches import bounded_cache
from interlace.linalg.penalized import solver_order
from interlace.lmm.solution import PLSSolution


@dataclass(frozen=True)
class DenseLayout:
    """Index arrays of the dense (q + p) system that depend only on the model's shape (terms'
    levels, columns and correlation, and p), so fits of one shape share them."""

    q: int
    m: int
    ntheta: int
    order: tuple  # design-term indices in the blocked solver's order (largest q first)
    starts: tuple  # per design term, its first column in the solver's u layout
    tidx: np.ndarray  # theta entry of each position (r, c) of Lambda's non-zeros
    lam_rows: np.ndarray
    lam_cols: np.ndarray
    lam_flat: np.ndarray  # Lambda_a[r, c] in flat form ((m + 1) x (m + 1))
    lam_tflat_q: np.ndarray  # P[c, r] for a q x q P
    lam_tflat: np.ndarray  # P[c, r] for an m x m P
    La0: np.ndarray  # Lambda_a = diag(Lambda, I_p, 1) with Lambda's entries zero
    E: np.ndarray  # diag(I_q, 0), m x m
    rk: np.ndarray  # flat (r, theta) index of each position in a q x ntheta matrix
    ck: np.ndarray  # flat (c, theta) index of each position in a q x ntheta matrix
    # over pairs (p, p') of positions: flat (theta_p, theta_p') and, into q-column matrices,
    # [r, r'], [c, r'] and [c', r]; [c, c'] into q x q and m x m matrices
    pair_tt: np.ndarray
    pair_rr: np.ndarray
    pair_cr: np.ndarray
    pair_rc: np.ndarray
    pair_cc_q: np.ndarray
    pair_cc_m: np.ndarray
    lower: np.ndarray  # theta's lower bounds (lme4's: 0 on Lambda's diagonal)
    term_cols: tuple  # per design term, (levels, k) columns of its levels in the system
    term_grams: tuple  # per design term, (levels, k, k) flat indices of its blocks of Aa
    eye_m: np.ndarray  # the m x m identity



_LAYOUT_PAIRS = 65_536  # layouts with more position pairs are not kept (megabytes each)


def _build_layout(shape: tuple, p: int) -> DenseLayout:
    """The layout of one shape: ``shape`` holds (levels, columns, (theta's rows in Lambda,
    its columns)) per term."""
    qs = [L * k for L, k, _ in shape]
    order = solver_order(qs)
    q = int(sum(qs))
    m = q + p
    starts = [0] * len(shape)
    off = 0
    for ti in order:
        starts[ti] = off
        off += qs[ti]
    r_all, c_all, t_all, lo_all, off = [], [], [], [], 0
    for ti, (L, k, (rows, cols)) in enumerate(shape):
        rows, cols = np.asarray(rows, np.int64), np.asarray(cols, np.int64)
        base = starts[ti] + np.arange(L)[:, None] * k
        r_all.append((base + rows).ravel())
        c_all.append((base + cols).ravel())
        t_all.append(np.tile(off + np.arange(rows.size), L))
        lo_all.append(np.where(rows == cols, 0.0, -np.inf))
        off += rows.size
    r, c, tidx = np.concatenate(r_all), np.concatenate(c_all), np.concatenate(t_all)
    arrays = dict(
        tidx=tidx, lam_rows=r, lam_cols=c, lam_flat=r * (m + 1) + c, lam_tflat_q=c * q + r,
        lam_tflat=c * m + r,
        rk=r * off + tidx, ck=c * off + tidx,
        pair_tt=(tidx[:, None] * off + tidx[None, :]).ravel(),
        pair_rr=(r[:, None] * q + r[None, :]).ravel(), pair_cr=(c[:, None] * q + r[None, :]).ravel(),
        pair_rc=(c[None, :] * q + r[:, None]).ravel(),
        pair_cc_q=(c[:, None] * q + c[None, :]).ravel(),
        pair_cc_m=(c[:, None] * m + c[None, :]).ravel(),
        lower=np.concatenate(lo_all))
    cols = [starts[ti] + np.arange(L * k).reshape(L, k) for ti, (L, k, _) in enumerate(shape)]
    grams = [cl[:, :, None] * (m + 1) + cl[:, None, :] for cl in cols]
    arrays["eye_m"] = np.eye(m)
    arrays["La0"] = np.eye(m + 1)
    arrays["La0"][:q, :q] = 0.0
    arrays["E"] = np.zeros((m, m))
    arrays["E"][:q, :q] = arrays["eye_m"][:q, :q]
    for a in [*arrays.values(), *cols, *grams]:
        a.flags.writeable = False  # shared between fits
    return DenseLayout(q, m, off, tuple(order), tuple(starts), **arrays, term_cols=tuple(cols),
                       term_grams=tuple(grams))


def dense_layout(terms: list, p: int) -> DenseLayout:
    """The dense-system layout for these terms and p fixed effects (kept for small shapes)."""
    shape = tuple((t.nlevels, t.k, (tuple(t.tri_rows.tolist()), tuple(t.tri_cols.tolist())))
                  for t in terms)
    positions = sum(L * len(pos[0]) for L, _, pos in shape)  # tidx's size
    return _kept_layout(shape, p) if positions**2 <= _LAYOUT_PAIRS else _build_layout(shape, p)


@bounded_cache("lmm.dense_layout", 8, "dense LMM index arrays per model shape")
def _kept_layout(shape: tuple, p: int) -> DenseLayout:
    """A small shape's layout, shared by the fits of that shape (its arrays are read-only)."""
    return _build_layout(shape, p)


class DenseLMM:
    """The whole penalised system as one dense (q + p) matrix, for models with few random
    effects: with A = [Z X]'W[Z X] and Lambda_b = diag(Lambda, I_p) computed once,

        B = Lambda_b' A Lambda_b + diag(I_q, 0) = [[M, Lambda'Z'WX], [X'WZ Lambda, X'WX]]

    and its Cholesky factor holds L (of M) in its leading block and RX in its trailing one.
    A is kept augmented by y (Aa = [Z X y]'W[Z X y]), so one product Lambda_a'Aa gives
    Lambda_b'A, the right-hand side Lambda_b'[Z X]'Wy and the derivatives' [Lambda_b'A; y'WZ].
    One evaluation is two small products, one factorisation and one solve.
    """

    def __init__(self, design, w: np.ndarray, yo: np.ndarray, layout: DenseLayout) -> None:
        n, p, q, m = design.n, design.p, layout.q, layout.m
        self.n, self.p, self.q, self.m, self.lay = n, p, q, m, layout
        ZXy = np.zeros((n, m + 1))
        rows = np.arange(n)[:, None]
        for t, start in zip(design.terms, layout.starts):
            ZXy[rows, start + t.ucols.reshape(n, t.k)] = t.Z
        ZXy[:, q:m] = design.X
        ZXy[:, m] = yo
        ZXyw = ZXy * w[:, None]
        self.Aa = ZXy.T @ ZXyw
        self.A, self.r0 = self.Aa[:m, :m], self.Aa[:m, m]
        self.ZX, self.ZXw = ZXy[:, :m], ZXyw[:, :m]
        self.w, self.yo = w, yo
        self.ntheta, self.tidx = layout.ntheta, layout.tidx
        self.lam_rows, self.lam_cols = layout.lam_rows, layout.lam_cols

    def solve(self, theta: np.ndarray) -> PLSSolution | None:
        """The penalised least-squares solution at theta (None if B is not positive definite)."""
        q, m, lay = self.q, self.m, self.lay
        La = lay.La0.copy()
        La.flat[lay.lam_flat] = theta[lay.tidx]
        Ta = La.T @ self.Aa  # [[Lambda_b'A, Lambda_b'r0], [r0', y'Wy]]
        Lb = La[:m, :m]
        B = Ta[:m, :m] @ Lb
        B += lay.E
        L, info = dpotrf(B, lower=1, clean=1, overwrite_a=1)
        if info != 0:
            return None
        x, info = dpotrs(L, Ta[:m, m], lower=1)
        if info != 0:
            return None
        u, beta = x[:q], x[q:]
        resid = self.yo - self.ZX @ (Lb @ x)
        pwrss = float(self.w @ (resid * resid) + u @ u)
        if not math.isfinite(pwrss):  # (a non-finite solution x)
            return None
        ld = 2.0 * np.log(L.diagonal())
        Lx = L[q:, q:]
        return PLSSolution(beta, u, pwrss, float(ld[:q].sum()), float(ld[q:].sum()), Lx @ Lx.T,
                           resid, dense=(L, Ta, x))

    def _logdet_derivs(self, AV: np.ndarray, S: np.ndarray, U: np.ndarray, cc: np.ndarray
                       ) -> tuple[np.ndarray, np.ndarray]:
        """Gradient and Hessian in theta of log|S| for S = Lambda_s' A_s Lambda_s + E (a leading
        block of the [Z X] system) from S^-1 (S, its [c, c'] entries at flat ``cc``),
        U = S^-1 Lambda_s' A_s and A - V = A - A_s Lambda_s S^-1 Lambda_s' A_s (leading q
        columns of each): with the positions (r, c) of theta's entries in Lambda, the
        gradient's entry k is 2 sum over positions p of k of U[c, r], and the Hessian's (k, l)
        is 2 sum over positions p of k, p' of l of (A - V)[r, r'] S^-1[c, c'] - U[c, r'] U[c', r].
        """
        lay, nt = self.lay, self.ntheta
        grid = (AV.take(lay.pair_rr) * S.take(cc)
                - U.take(lay.pair_cr) * U.take(lay.pair_rc))
        grad = 2.0 * np.bincount(lay.tidx, U.take(lay.lam_tflat_q), minlength=nt)
        hess = 2.0 * np.bincount(lay.pair_tt, grid, minlength=nt * nt).reshape(nt, nt)
        return grad, hess

    def grad_hess(self, sol: PLSSolution, reml: bool, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Exact gradient and Hessian of the profiled deviance in theta: with G the system
        augmented by y (log|G| = log|B| + log pwrss), REML's deviance is
        log|B| + (n - p) (log|G| - log|B|) and ML's log|M| + n (log|G| - log|B|), plus
        constants. G^-1 = B^-1 (padded) + v v' with v = (u, beta, -1) / sqrt(pwrss), so the
        derivatives of log|G| - log|B| are rank-one corrections of B's pieces: small products
        with the q x ntheta matrices Yv[r, k] = v_c and Yt[c, k] = t_r (t = [Lambda_b'A; y'WZ]'v)
        summed over the positions (r, c) of theta_k; only one log-determinant needs the sums
        over pairs of positions."""
        L, Ta, x = sol.dense
        q, m, nt, lay = self.q, self.m, self.ntheta, self.lay
        T = Ta[:m, :q]  # Lambda_b'A, leading q columns
        Hb = dpotrs(L, lay.eye_m, lower=1)[0]  # B^-1
        HTb = Hb @ T
        Ub = HTb[:q]
        AVb = self.A[:q, :q] - T.T @ HTb
        sp = np.sqrt(sol.pwrss)
        t = (T.T @ x - self.r0[:q]) / sp
        tr = t.take(lay.lam_rows)
        vc = sol.u.take(lay.lam_cols) / sp
        Yv = np.bincount(lay.rk, vc, minlength=q * nt).reshape(q, nt)
        Yt = np.bincount(lay.ck, tr, minlength=q * nt).reshape(q, nt)
        z = np.bincount(lay.tidx, tr * vc, minlength=nt)
        W = Yt.T @ Ub @ Yv
        D = Yv.T @ AVb @ Yv - Yt.T @ Hb[:q, :q] @ Yt - 2.0 * np.outer(z, z) - W - W.T
        if reml:
            g, h = self._logdet_derivs(AVb, Hb, Ub, lay.pair_cc_m)
            c = n - self.p
        else:
            Hm = dpotrs(L[:q, :q], lay.eye_m[:q, :q], lower=1)[0]  # M^-1
            Tq = T[:q]
            Um = Hm @ Tq
            g, h = self._logdet_derivs(self.A[:q, :q] - Tq.T @ Um, Hm, Um, lay.pair_cc_q)
            c = n
        return g + (2.0 * c) * z, h + (2.0 * c) * D

    def gradient_parts(self, sol: PLSSolution, reml: bool):
        """d log|M|, d pwrss and d log|RX'RX| in theta: with P = M^-1 Lambda'Z'WZ (and B^-1
        Lambda_b'A for |B| = |M| |RX'RX|), d log|M| / d theta_k = 2 sum P[c, r] over the
        positions (r, c) of theta_k in Lambda; d pwrss = -2 sum (Z'Wr)_r u_c."""
        L, Ta, _ = sol.dense
        q, m, nt, lay = self.q, self.m, self.ntheta, self.lay
        T = Ta[:m, :m]  # Lambda_b'A
        Pm, _ = dpotrs(L[:q, :q], T[:q, :q], lower=1)
        dldm = 2.0 * np.bincount(lay.tidx, Pm.ravel()[lay.lam_tflat_q], minlength=nt)
        zwr = self.ZXw[:, :q].T @ sol.resid
        dpw = -2.0 * np.bincount(lay.tidx, zwr[lay.lam_rows] * sol.u[lay.lam_cols],
                                 minlength=nt)
        if not reml:
            return dldm, dpw, 0.0
        Pb, _ = dpotrs(L, T, lower=1)
        dlb = 2.0 * np.bincount(lay.tidx, Pb.ravel()[lay.lam_tflat], minlength=nt)
        return dldm, dpw, dlb - dldm
