"""Linear mixed models: lme4's profiled deviance (REML or ML) over theta alone.

For relative covariance factors theta (b = Lambda u, u ~ N(0, sigma^2 I)) the penalised least
squares problem min_{beta,u} |W^1/2 (y - X beta - Z Lambda u)|^2 + |u|^2 is solved with the
same blocked factor of M = I + Lambda'Z'WZ Lambda as the GLMMs use, plus the p x p Schur
complement RX'RX = X'WX - C'M^-1 C. With pwrss the penalised residual sum of squares,

    ML:   d(theta) = log|M| - log|W| + n (1 + log(2 pi pwrss / n))
    REML: d(theta) = log|M| + log|RX'RX| - log|W| + (n - p)(1 + log(2 pi pwrss / (n - p)))

(Bates et al. 2015, section 3). beta, u and sigma^2 = pwrss / n (or n - p) are profiled out,
so the optimizer sees theta only.

Three routes, all exact: models with few random effects (q <= 400) factor the whole
(q + p) system densely (:class:`DenseLMM`, which also gives the exact Hessian); models whose
terms all have one column get the gradient from traces of M^-1 alone; others use the blocked
solver's rows of M^-1.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from scipy.linalg import cho_solve, cholesky
from scipy.linalg.lapack import dpotrf, dpotrs

from interlace.caches import bounded_cache
from interlace.linalg.penalized import PenalizedSystem, solver_order
from interlace.model.context import ModelContext
from interlace.model.terms import tri_positions

_LOG2PI = float(np.log(2 * np.pi))
_DENSE_Q = 400  # at most this many random effects: one dense (q + p) system per theta
_DENSE_NQ = 4_000_000  # ... and at most this many entries in the dense n x q Z
_CACHE = 4  # solutions kept, by theta


@dataclass
class PLSSolution:  # noqa: D101 - fields documented inline
    """The penalised least-squares solution at one theta."""

    beta: np.ndarray
    u: np.ndarray
    pwrss: float
    ldL2: float  # log |M|
    ldRX2: float  # log |RX'RX|
    RX2: np.ndarray  # X'V^-1 X * sigma^2 (the Schur complement)
    resid: np.ndarray  # y - offset - X beta - Z Lambda u
    factor: object = None  # PenalizedFactor of M
    MiC: np.ndarray | None = None  # M^-1 Lambda'Z'WX
    dense: tuple | None = None  # (L, T, Lb) of the dense path: chol(B), Lb'A, Lambda_b
    grad_parts: tuple | None = None  # gradient_parts' result, once computed
    hess: tuple | None = None  # exact (gradient, Hessian) in theta, once computed (dense)


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
    """The layout of one shape: ``shape`` holds (levels, columns, correlated) per term."""
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
    for ti, (L, k, corr) in enumerate(shape):
        rows, cols = tri_positions(k, corr)
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
    shape = tuple((t.nlevels, t.k, bool(t.correlated)) for t in terms)
    positions = sum(L * (k * (k + 1) // 2 if corr else k) for L, k, corr in shape)  # tidx's size
    return _kept_layout(shape, p) if positions**2 <= _LAYOUT_PAIRS else _build_layout(shape, p)


@bounded_cache("lmm.dense_layout", 8)
def _kept_layout(shape: tuple, p: int) -> DenseLayout:
    """A small shape's layout, shared by the fits of that shape (its arrays are read-only)."""
    return _build_layout(shape, p)


class LMMContext(ModelContext):
    """A :class:`ModelContext` whose blocked solver (``system``) is built on first use: the
    dense (q + p) path never needs it, and on small models building it costs as much as a
    whole evaluation."""

    def __init__(self, design, family) -> None:  # noqa: D107 - the dataclass's fields
        self.design, self.family = design, family

    @cached_property
    def system(self) -> PenalizedSystem:
        """The blocked penalised system (built on first use)."""
        return PenalizedSystem(self.design.terms)


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


class LMMObjective:
    """Profiled deviance of a linear mixed model as a function of theta."""

    def __init__(self, ctx: ModelContext, reml: bool) -> None:
        self.ctx, self.reml = ctx, reml
        d = ctx.design
        self.w = d.weights
        self.yo = d.y - d.offset
        self.ldW = float(np.log(self.w).sum())
        self.nfev = 0
        self._cache: dict[bytes, PLSSolution | None] = {}
        q = sum(t.q for t in d.terms)
        self.dense = (DenseLMM(d, self.w, self.yo, dense_layout(d.terms, d.p))
                      if q <= _DENSE_Q and d.n * q <= _DENSE_NQ else None)
        # theta's lower bounds (read-only when shared by the dense layout)
        self.lower = (self.dense.lay.lower if self.dense is not None
                      else np.concatenate([t.theta_lower_bounds() for t in d.terms]))

    @cached_property
    def Xw(self) -> np.ndarray:
        """W X (the blocked solver's; the dense system has it in its Gram matrix)."""
        return self.w[:, None] * self.ctx.design.X

    @cached_property
    def XtWX(self) -> np.ndarray:
        return self.ctx.design.X.T @ self.Xw

    @cached_property
    def Xtwy(self) -> np.ndarray:
        return self.Xw.T @ self.yo

    def solve(self, theta: np.ndarray) -> PLSSolution | None:
        """The penalised least-squares solution at theta (None where M or RX'RX is singular)."""
        if self.dense is not None:
            return self.dense.solve(np.asarray(theta, float))
        ctx, d, system = self.ctx, self.ctx.design, self.ctx.system
        ZL = ctx.zl(theta)
        F = system.factor(ZL, self.w)
        if F is None:
            return None
        C = system.zlt_r(ZL, self.Xw)
        ru = system.zlt_r(ZL, self.w * self.yo)
        MiC = F.solve(C)
        Mir = F.solve(ru)
        RX2 = self.XtWX - C.T @ MiC
        try:
            Lx = cholesky(RX2, lower=True, check_finite=False)
        except np.linalg.LinAlgError:
            return None
        beta = cho_solve((Lx, True), self.Xtwy - C.T @ Mir, check_finite=False)
        u = Mir - MiC @ beta
        resid = self.yo - d.X @ beta - system.zl_u(ZL, u)
        pwrss = float(np.sum(self.w * resid * resid) + u @ u)
        ldRX2 = 2.0 * float(np.sum(np.log(np.diag(Lx))))
        return PLSSolution(beta, u, pwrss, F.logdet(), ldRX2, RX2, resid, F, MiC)

    def deviance_from(self, sol: PLSSolution) -> float:
        n, p = self.ctx.design.n, self.ctx.design.p
        if self.reml:
            nr = n - p
            return sol.ldL2 + sol.ldRX2 - self.ldW + nr * (1.0 + _LOG2PI + np.log(sol.pwrss / nr))
        return sol.ldL2 - self.ldW + n * (1.0 + _LOG2PI + np.log(sol.pwrss / n))

    def solution(self, theta: np.ndarray) -> PLSSolution | None:
        """The solution at theta, from a small cache of the latest evaluations (the optimizer,
        the bound probes, the Hessian and the result revisit the same points)."""
        theta = np.asarray(theta, float)
        key = theta.tobytes()
        cache = self._cache
        if key in cache:
            cache[key] = cache.pop(key)  # most recently used last
            return cache[key]
        sol = self.solve(theta)
        cache[key] = sol
        if len(cache) > _CACHE:
            del cache[next(iter(cache))]
        return sol

    def clear_cache(self) -> None:
        """Drop the cached solutions (and the factors they hold)."""
        self._cache = {}

    def __call__(self, theta: np.ndarray) -> float:
        """The profiled deviance at theta (1e100 where the system is singular)."""
        self.nfev += 1
        sol = self.solution(theta)
        return 1e100 if sol is None else float(self.deviance_from(sol))

    def grad(self, theta: np.ndarray) -> np.ndarray:
        """Exact gradient, reusing the cached solution at the same theta."""
        g = self.gradient(theta)
        return np.zeros(np.size(theta)) if g is None else g

    def grad_hess(self, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        """Exact gradient and Hessian in theta (dense systems only; None otherwise or where the
        system is singular)."""
        sol = self.solution(theta)
        if self.dense is None or sol is None:
            return None
        if sol.hess is None:
            sol.hess = self.dense.grad_hess(sol, self.reml, self.ctx.design.n)
        return sol.hess

    def hessian(self, theta: np.ndarray) -> np.ndarray | None:
        """Exact Hessian in theta (dense systems only; None otherwise or where singular)."""
        gh = self.grad_hess(theta)
        return None if gh is None else gh[1]

    def sigma2(self, sol: PLSSolution) -> float:
        d = self.ctx.design
        return sol.pwrss / (d.n - d.p if self.reml else d.n)

    def unprofiled(self, phi: np.ndarray) -> float:
        """The deviance at (theta, sigma) without profiling sigma (for Satterthwaite's df)."""
        theta, sigma = phi[:-1], phi[-1]
        sol = self.solution(theta)
        if sol is None or sigma <= 0:
            return 1e100
        d = self.ctx.design
        nr = d.n - d.p if self.reml else d.n
        out = sol.ldL2 - self.ldW + nr * (_LOG2PI + 2 * np.log(sigma)) + sol.pwrss / sigma**2
        return float(out + (sol.ldRX2 if self.reml else 0.0))

    def gradient(self, theta: np.ndarray, sol: PLSSolution | None = None) -> np.ndarray | None:
        """Exact gradient of the profiled deviance in theta (see ``gradient_parts``)."""
        parts = self.gradient_parts(theta, sol)
        if parts is None:
            return None
        dldm, dpw, dlrx, sol = parts
        d = self.ctx.design
        nr = d.n - d.p if self.reml else d.n
        return dldm + nr * dpw / sol.pwrss + (dlrx if self.reml else 0.0)

    def unprofiled_gradient(self, phi: np.ndarray) -> np.ndarray:
        """Gradient of ``unprofiled`` in (theta, sigma)."""
        theta, sigma = np.asarray(phi[:-1], float), float(phi[-1])
        parts = self.gradient_parts(theta)
        if parts is None:
            return np.zeros(len(phi))
        dldm, dpw, dlrx, sol = parts
        d = self.ctx.design
        nr = d.n - d.p if self.reml else d.n
        gt = dldm + dpw / sigma**2 + (dlrx if self.reml else 0.0)
        gs = 2.0 * nr / sigma - 2.0 * sol.pwrss / sigma**3
        return np.concatenate([gt, [gs]])

    def _scalar_gradient_parts(self, theta: np.ndarray, sol: PLSSolution):
        """The gradient's parts when every term has one column, from traces of M^-1 alone.

        With Lambda_t = theta_t I, Lambda'Z'WZ Lambda = M - I gives d log|M| / d theta_t =
        2 (q_t - tr_t M^-1) / theta_t, and the same for B = [[M, C], [C', X'WX]] gives
        d log|RX'RX| / d theta_t = -2 tr_t(M^-1 C RX2^-1 C' M^-1) / theta_t. At theta_t = 0 the
        deviance is even in theta_t, so both are 0 there.
        """
        system, d = self.ctx.system, self.ctx.design
        traces = sol.factor.inverse_traces()
        if traces is None:
            return None
        RX2i = np.linalg.inv(sol.RX2)
        extra = np.einsum("ij,jk,ik->i", sol.MiC, RX2i, sol.MiC)
        wr = self.w * sol.resid
        pos_of = {ti: pos for pos, ti in enumerate(system.order)}
        nt = len(d.terms)
        dldm, dpw, dlrx = np.zeros(nt), np.zeros(nt), np.zeros(nt)
        for ti, t in enumerate(d.terms):
            pos = pos_of[ti]
            sl = system.slices[pos]
            ut = sol.u[sl]
            dpw[ti] = -2.0 * float(np.dot(wr * t.Z[:, 0], ut[t.codes]))
            th = float(theta[ti])
            if abs(th) > 1e-10:
                dldm[ti] = 2.0 * (t.q - traces[pos]) / th
                dlrx[ti] = -2.0 * float(extra[sl].sum()) / th
        return dldm, dpw, (dlrx if self.reml else 0.0)

    def gradient_parts(self, theta: np.ndarray, sol: PLSSolution | None = None):
        """Derivatives of log|M|, pwrss and log|RX'RX| in theta (and the solution used).

        With A = Z Lambda, A_k = Z dLambda/dtheta_k, Q = W (X - A M^-1 A'WX) and r the
        residuals: d log|M| = 2 sum_i w_i a_k,i' M^-1 a_i; d pwrss = -2 sum_i w_i r_i (A_k u)_i
        (envelope theorem); d log|RX'RX| = -2 tr(RX2^-1 (A_k'Q)'(A'Q)) (Woodbury).
        """
        theta = np.asarray(theta, float)
        if sol is None:
            sol = self.solution(theta)
        if sol is None:
            return None
        if sol.grad_parts is None:
            sol.grad_parts = self._gradient_parts(theta, sol)
        return (*sol.grad_parts, sol)

    def _gradient_parts(self, theta: np.ndarray, sol: PLSSolution) -> tuple:
        """(d log|M|, d pwrss, d log|RX'RX|) at theta, by the cheapest exact route."""
        ctx, d, system = self.ctx, self.ctx.design, self.ctx.system
        if self.dense is not None:
            return self.dense.gradient_parts(sol, self.reml)
        if all(t.k == 1 for t in d.terms):
            parts = self._scalar_gradient_parts(theta, sol)
            if parts is not None:
                return parts
        ZL = ctx.zl(theta)
        m = sol.factor.minv_rows(ZL)
        Q = self.Xw - self.w[:, None] * system.zl_u_matrix(ZL, sol.MiC)
        RX2i = np.linalg.inv(sol.RX2)
        wr = self.w * sol.resid
        p = d.p
        col0 = np.cumsum([0] + [t.k for t in system.terms])
        pos_of = {ti: pos for pos, ti in enumerate(system.order)}
        dldm_all, dpw_all, dlrx_all = [], [], []
        for ti, t in enumerate(d.terms):
            pos = pos_of[ti]
            ut = sol.u[system.slices[pos]].reshape(-1, t.k)[t.codes]
            zl_t = ZL[pos]
            for row, col in zip(t.tri_rows, t.tri_cols):
                zr = t.Z[:, row]
                dldm_all.append(2.0 * np.sum(self.w * zr * m[:, col0[pos] + col]))
                dpw_all.append(-2.0 * np.sum(wr * zr * ut[:, col]))
                if self.reml:
                    AkQ = np.stack([np.bincount(t.codes, zr * Q[:, j], minlength=t.nlevels)
                                    for j in range(p)], axis=1)
                    AQ = np.stack([np.bincount(t.codes, zl_t[:, col] * Q[:, j], minlength=t.nlevels)
                                   for j in range(p)], axis=1)
                    dlrx_all.append(-2.0 * np.sum((AkQ @ RX2i) * AQ))
        return (np.asarray(dldm_all), np.asarray(dpw_all),
                np.asarray(dlrx_all) if self.reml else 0.0)
