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

from dataclasses import dataclass

import numpy as np
from scipy.linalg import cho_solve, cholesky
from scipy.linalg.lapack import dpotrf, dpotri, dpotrs

from interlace.core.model import ModelContext

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


class DenseLMM:
    """The whole penalised system as one dense (q + p) matrix, for models with few random
    effects: with A = [Z X]'W[Z X] and Lambda_b = diag(Lambda, I_p) computed once,

        B = Lambda_b' A Lambda_b + diag(I_q, 0) = [[M, Lambda'Z'WX], [X'WZ Lambda, X'WX]]

    and its Cholesky factor holds L (of M) in its leading block and RX in its trailing one.
    One evaluation is two small products, one factorisation and one solve.
    """

    def __init__(self, ctx: ModelContext, w: np.ndarray, yo: np.ndarray) -> None:
        d, system = ctx.design, ctx.system
        n, p, q = d.n, d.p, system.q
        self.n, self.p, self.q, self.m = n, p, q, q + p
        m = self.m
        ZX = np.zeros((n, m))
        rows = np.arange(n)[:, None]
        for t, sl in zip(system.terms, system.slices):
            ZX[rows, sl.start + t.codes[:, None] * t.k + np.arange(t.k)] = t.Z
        ZX[:, q:] = d.X
        self.ZX = ZX
        self.ZXw = ZX * w[:, None]
        self.A = ZX.T @ self.ZXw
        self.r0 = self.ZXw.T @ yo
        self.w, self.yo = w, yo
        # where each theta entry sits in Lambda (solver layout: term blocks, levels major)
        pos_of = {ti: pos for pos, ti in enumerate(system.order)}
        r_all, c_all, t_all, off = [], [], [], 0
        for ti, t in enumerate(d.terms):
            base = system.slices[pos_of[ti]].start + np.arange(t.nlevels)[:, None] * t.k
            r_all.append((base + t.tri_rows).ravel())
            c_all.append((base + t.tri_cols).ravel())
            t_all.append(np.tile(off + np.arange(t.ntheta), t.nlevels))
            off += t.ntheta
        r, c = np.concatenate(r_all), np.concatenate(c_all)
        self.ntheta = off
        self.tidx = np.concatenate(t_all)
        self.lam_rows, self.lam_cols = r, c
        self.lam_flat = r * m + c  # Lambda_b[r, c] in flat form
        self.lam_tflat = c * m + r  # P[c, r] for an m x m P
        self.lam_tflat_q = c * q + r  # P[c, r] for a q x q P
        self.Lb0 = np.eye(m)
        self.Lb0[:q, :q] = 0.0
        self.diag_q = np.arange(q) * (m + 1)
        self.yy = float(yo @ (w * yo))
        self.pair_tt = (self.tidx[:, None] * off + self.tidx[None, :]).ravel()
        self.flat_rr = r[:, None] * q + r[None, :]  # (A - V)[r, r'] in a q x q matrix
        self.flat_cr = c[:, None] * q + r[None, :]  # U[c, r'] in a q-column matrix
        self._cc: dict[int, np.ndarray] = {}

    def solve(self, theta: np.ndarray) -> PLSSolution | None:
        """The penalised least-squares solution at theta (None if B is not positive definite)."""
        q = self.q
        Lb = self.Lb0.copy()
        Lb.flat[self.lam_flat] = theta[self.tidx]
        T = Lb.T @ self.A
        B = T @ Lb
        B.flat[self.diag_q] += 1.0
        L, info = dpotrf(B, lower=1, clean=1, overwrite_a=1)
        if info != 0:
            return None
        x, info = dpotrs(L, Lb.T @ self.r0, lower=1)
        if info != 0 or not np.all(np.isfinite(x)):
            return None
        u, beta = x[:q], x[q:]
        resid = self.yo - self.ZX @ (Lb @ x)
        pwrss = float(self.w @ (resid * resid) + u @ u)
        ld = 2.0 * np.log(np.diagonal(L))
        Lx = L[q:, q:]
        return PLSSolution(beta, u, pwrss, float(ld[:q].sum()), float(ld[q:].sum()), Lx @ Lx.T,
                           resid, dense=(L, T, Lb))

    def _logdet_derivs(self, Hs: np.ndarray, Ts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Gradient and Hessian in theta of log|S| for S = Lambda_s' A_s Lambda_s + E (a
        leading block of the augmented [Z X y] system) from S^-1 (Hs) and Lambda_s' A_s (Ts):
        with the positions (r, c) of theta's entries in Lambda, U = S^-1 Lambda_s' A_s and
        V = A_s Lambda_s S^-1 Lambda_s' A_s, the gradient's entry k is 2 sum over positions p
        of k of U[c, r], and the Hessian's (k, l) is 2 sum over positions p of k, p' of l of
        (A - V)[r, r'] S^-1[c, c'] - U[c, r'] U[c', r].
        """
        q = self.q
        HT = Hs @ Ts[:, :q]
        V = Ts[:, :q].T @ HT
        AV = (self.A[:q, :q] - V).ravel(order="K")  # symmetric: either layout's order
        Uf = HT.ravel()  # U = HT[:q], C order
        Uc = Uf[self.flat_cr]  # U[c, r']
        grid = AV[self.flat_rr] * Hs.ravel(order="K")[self._flat_cc(Hs.shape[0])] - Uc * Uc.T
        nt = self.ntheta
        grad = 2.0 * np.bincount(self.tidx, Uf[self.lam_tflat_q], minlength=nt)
        hess = 2.0 * np.bincount(self.pair_tt, grid.ravel(), minlength=nt * nt).reshape(nt, nt)
        return grad, hess

    def _flat_cc(self, size: int) -> np.ndarray:
        """Flat indices of S^-1[c, c'] over pairs of positions, for an S of this size."""
        if size not in self._cc:
            C = self.lam_cols
            self._cc[size] = C[:, None] * size + C[None, :]
        return self._cc[size]

    @staticmethod
    def _sym(Hl: np.ndarray) -> np.ndarray:
        """The symmetric matrix whose lower triangle dpotri returned (upper part zero)."""
        H = Hl + Hl.T
        H.flat[:: H.shape[0] + 1] *= 0.5
        return H

    def grad_hess(self, sol: PLSSolution, reml: bool, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Exact gradient and Hessian of the profiled deviance in theta: with G the system
        augmented by y (log|G| = log|B| + log pwrss), REML's deviance is
        (n - p) log|G| - (n - p - 1) log|B| and ML's log|M| + n (log|G| - log|B|), plus
        constants. G^-1 comes from B^-1, the solution x = (u, beta) and the exact pwrss."""
        L, T, Lb = sol.dense
        q, m = self.q, self.m
        Hb = self._sym(dpotri(L, lower=1)[0])
        x = np.concatenate([sol.u, sol.beta])
        pw = sol.pwrss
        Hg = np.empty((m + 1, m + 1))
        Hg[:m, :m] = Hb + np.outer(x / pw, x)
        Hg[:m, m] = Hg[m, :m] = -x / pw
        Hg[m, m] = 1.0 / pw
        Tg = np.empty((m + 1, q))
        Tg[:m] = T[:, :q]
        Tg[m] = self.r0[:q]
        gb, hb = self._logdet_derivs(Hb, T)
        gg, hg = self._logdet_derivs(Hg, Tg)
        if reml:
            nr = n - self.p
            return nr * gg - (nr - 1) * gb, nr * hg - (nr - 1) * hb
        Hm = self._sym(dpotri(np.asfortranarray(L[:q, :q]), lower=1)[0])
        gm, hm = self._logdet_derivs(Hm, T[:q, :q])
        return gm + n * (gg - gb), hm + n * (hg - hb)

    def gradient_parts(self, sol: PLSSolution, reml: bool):
        """d log|M|, d pwrss and d log|RX'RX| in theta: with P = M^-1 Lambda'Z'WZ (and B^-1
        Lambda_b'A for |B| = |M| |RX'RX|), d log|M| / d theta_k = 2 sum P[c, r] over the
        positions (r, c) of theta_k in Lambda; d pwrss = -2 sum (Z'Wr)_r u_c."""
        L, T, _ = sol.dense
        q, nt = self.q, self.ntheta
        Pm, _ = dpotrs(L[:q, :q], T[:q, :q], lower=1)
        dldm = 2.0 * np.bincount(self.tidx, Pm.ravel()[self.lam_tflat_q], minlength=nt)
        zwr = self.ZXw[:, :q].T @ sol.resid
        dpw = -2.0 * np.bincount(self.tidx, zwr[self.lam_rows] * sol.u[self.lam_cols],
                                 minlength=nt)
        if not reml:
            return dldm, dpw, 0.0
        Pb, _ = dpotrs(L, T, lower=1)
        dlb = 2.0 * np.bincount(self.tidx, Pb.ravel()[self.lam_tflat], minlength=nt)
        return dldm, dpw, dlb - dldm


class LMMObjective:
    """Profiled deviance of a linear mixed model as a function of theta."""

    def __init__(self, ctx: ModelContext, reml: bool) -> None:
        self.ctx, self.reml = ctx, reml
        d = ctx.design
        self.w = d.weights
        self.yo = d.y - d.offset
        self.Xw = self.w[:, None] * d.X
        self.XtWX = d.X.T @ self.Xw
        self.Xtwy = self.Xw.T @ self.yo
        self.ldW = float(np.sum(np.log(self.w)))
        self.nfev = 0
        self._cache: dict[bytes, PLSSolution | None] = {}
        q = ctx.system.q
        self.dense = (DenseLMM(ctx, self.w, self.yo)
                      if q <= _DENSE_Q and d.n * q <= _DENSE_NQ else None)

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
