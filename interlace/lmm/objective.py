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

from functools import cached_property

import numpy as np
from scipy import sparse
from scipy.linalg import cho_solve, cholesky

from interlace.lmm.dense import DenseLayout, DenseLMM, dense_layout
from interlace.lmm.solution import PLSSolution
from interlace.model.context import ModelContext

__all__ = ["DenseLMM", "DenseLayout", "LMMObjective", "PLSSolution", "dense_layout"]

_LOG2PI = float(np.log(2 * np.pi))
_DENSE_Q = 400  # at most this many random effects: one dense (q + p) system per theta
_DENSE_NQ = 4_000_000  # ... and at most this many entries in the dense n x q Z
_CACHE = 4  # solutions kept, by theta


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
        # the dense system's derivatives take theta to be the factors' entries (| and || terms)
        self.dense = (DenseLMM(d, self.w, self.yo, dense_layout(d.terms, d.p))
                      if q <= _DENSE_Q and d.n * q <= _DENSE_NQ and ctx.linear_theta else None)
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

    def _position_gradients(self, t, m_t: np.ndarray, ut: np.ndarray, zl_t: np.ndarray,
                            wr: np.ndarray, Q: np.ndarray, RX2i: np.ndarray) -> tuple:
        """(d log|M|, d pwrss, d log|RX'RX|) in Lambda's entries at t's positions, as k x k
        matrix products (a structured term: all of its lower triangle)."""
        r, c = t.tri_rows, t.tri_cols
        dldm = 2.0 * ((t.Z * self.w[:, None]).T @ m_t)[r, c]
        dpw = -2.0 * ((t.Z * wr[:, None]).T @ ut)[r, c]
        if not self.reml:
            return dldm, dpw, None
        n, k, p = t.Z.shape[0], t.k, Q.shape[1]
        ind = sparse.csr_matrix((np.ones(n), (t.codes, np.arange(n))), shape=(t.nlevels, n))
        AkQ = (ind @ (t.Z[:, :, None] * Q[:, None, :]).reshape(n, k * p)).reshape(-1, k, p)
        AQ = (ind @ (zl_t[:, :, None] * Q[:, None, :]).reshape(n, k * p)).reshape(-1, k, p)
        G = np.einsum("lrj,jm,lcm->rc", AkQ, RX2i, AQ, optimize=True)
        return dldm, dpw, -2.0 * G[r, c]

    def _gradient_parts(self, theta: np.ndarray, sol: PLSSolution) -> tuple:
        """(d log|M|, d pwrss, d log|RX'RX|) at theta, by the cheapest exact route."""
        ctx, d, system = self.ctx, self.ctx.design, self.ctx.system
        if self.dense is not None:
            return self.dense.gradient_parts(sol, self.reml)
        if all(t.k == 1 and t.linear for t in d.terms):
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
        for ti, (t, tsl) in enumerate(zip(d.terms, ctx.theta_slices())):
            pos = pos_of[ti]
            ut = sol.u[system.slices[pos]].reshape(-1, t.k)[t.codes]
            zl_t = ZL[pos]
            if not t.linear:  # every entry of Lambda's lower triangle, in matrix products
                parts = self._position_gradients(t, m[:, col0[pos]:col0[pos] + t.k], ut, zl_t,
                                                 wr, Q, RX2i)
                dldm_all.extend(t.chain(theta[tsl], parts[0]))
                dpw_all.extend(t.chain(theta[tsl], parts[1]))
                if self.reml:
                    dlrx_all.extend(t.chain(theta[tsl], parts[2]))
                continue
            dldm, dpw, dlrx = [], [], []
            for row, col in zip(t.tri_rows, t.tri_cols):
                zr = t.Z[:, row]
                dldm.append(2.0 * np.sum(self.w * zr * m[:, col0[pos] + col]))
                dpw.append(-2.0 * np.sum(wr * zr * ut[:, col]))
                if self.reml:
                    AkQ = np.stack([np.bincount(t.codes, zr * Q[:, j], minlength=t.nlevels)
                                    for j in range(p)], axis=1)
                    AQ = np.stack([np.bincount(t.codes, zl_t[:, col] * Q[:, j], minlength=t.nlevels)
                                   for j in range(p)], axis=1)
                    dlrx.append(-2.0 * np.sum((AkQ @ RX2i) * AQ))
            dldm_all.extend(t.chain(theta[tsl], dldm))  # Lambda's entries -> theta
            dpw_all.extend(t.chain(theta[tsl], dpw))
            if self.reml:
                dlrx_all.extend(t.chain(theta[tsl], dlrx))
        return (np.asarray(dldm_all), np.asarray(dpw_all),
                np.asarray(dlrx_all) if self.reml else 0.0)
