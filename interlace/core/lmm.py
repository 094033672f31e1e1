"""Linear mixed models: lme4's profiled deviance (REML or ML) over theta alone.

For relative covariance factors theta (b = Lambda u, u ~ N(0, sigma^2 I)) the penalised least
squares problem min_{beta,u} |W^1/2 (y - X beta - Z Lambda u)|^2 + |u|^2 is solved with the
same blocked factor of M = I + Lambda'Z'WZ Lambda as the GLMMs use, plus the p x p Schur
complement RX'RX = X'WX - C'M^-1 C. With pwrss the penalised residual sum of squares,

    ML:   d(theta) = log|M| - log|W| + n (1 + log(2 pi pwrss / n))
    REML: d(theta) = log|M| + log|RX'RX| - log|W| + (n - p)(1 + log(2 pi pwrss / (n - p)))

(Bates et al. 2015, section 3). beta, u and sigma^2 = pwrss / n (or n - p) are profiled out,
so the optimizer sees theta only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.linalg import cho_solve, cholesky

from interlace.core.model import ModelContext

_LOG2PI = float(np.log(2 * np.pi))


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

    def solve(self, theta: np.ndarray) -> PLSSolution | None:
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

    def __call__(self, theta: np.ndarray) -> float:
        self.nfev += 1
        theta = np.asarray(theta, float)
        sol = self.solve(theta)
        self._last = (theta.copy(), sol)
        return 1e100 if sol is None else float(self.deviance_from(sol))

    def grad(self, theta: np.ndarray) -> np.ndarray:
        """Exact gradient, reusing the solution of the last evaluation at the same theta."""
        theta = np.asarray(theta, float)
        last = getattr(self, "_last", None)
        sol = last[1] if last is not None and np.array_equal(last[0], theta) else None
        g = self.gradient(theta, sol)
        return np.zeros_like(theta) if g is None else g

    def sigma2(self, sol: PLSSolution) -> float:
        d = self.ctx.design
        return sol.pwrss / (d.n - d.p if self.reml else d.n)

    def unprofiled(self, phi: np.ndarray) -> float:
        """The deviance at (theta, sigma) without profiling sigma (for Satterthwaite's df)."""
        theta, sigma = phi[:-1], phi[-1]
        sol = self.solve(theta)
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

    def gradient_parts(self, theta: np.ndarray, sol: PLSSolution | None = None):
        """Derivatives of log|M|, pwrss and log|RX'RX| in theta (and the solution used).

        With A = Z Lambda, A_k = Z dLambda/dtheta_k, Q = W (X - A M^-1 A'WX) and r the
        residuals: d log|M| = 2 sum_i w_i a_k,i' M^-1 a_i; d pwrss = -2 sum_i w_i r_i (A_k u)_i
        (envelope theorem); d log|RX'RX| = -2 tr(RX2^-1 (A_k'Q)'(A'Q)) (Woodbury).
        """
        ctx, d, system = self.ctx, self.ctx.design, self.ctx.system
        theta = np.asarray(theta, float)
        if sol is None:
            sol = self.solve(theta)
        if sol is None:
            return None
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
                np.asarray(dlrx_all) if self.reml else 0.0, sol)
