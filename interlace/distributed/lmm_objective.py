"""lme4's profiled REML / ML criterion of a linear mixed model from its sufficient statistics.

One pass gives Z'WZ (in blocks), Z'WX, Z'Wy, X'WX, X'Wy and y'Wy; at each theta the driver
scales them by Lambda, factors M = I + Lambda'Z'WZ Lambda in blocks
(:class:`~interlace.distributed.system.BlockFactor`) and solves the penalised least-squares
normal equations through the Schur complement RX'RX = X'WX - X'WZ Lambda M^-1 Lambda'Z'WX.
No pass over the rows is needed after the first: the criterion is a function of these sums.
Its methods are the ones the in-memory result reads from an
:class:`~interlace.lmm.objective.LMMObjective` (``solve``, ``sigma2``, ``unprofiled`` and its
gradient, ``reml``, ``lower``, ``ctx``), so Satterthwaite's df come from the same code.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.sparse import block_diag, csr_matrix, kron
from scipy.sparse import eye as speye

from interlace.distributed.layout import ULayout
from interlace.distributed.system import BlockFactor
from interlace.lmm.solution import PLSSolution
from interlace.model.context import ModelContext

LOG2PI = math.log(2.0 * math.pi)


class DaskLMMObjective:
    """The profiled deviance in theta from the sums of one pass (``stats``)."""

    def __init__(self, ctx: ModelContext, stats: dict, lay: ULayout, reml: bool) -> None:
        self.ctx, self.stats, self.lay, self.reml = ctx, stats, lay, reml
        self.ldW = float(stats["sumlogw"])
        self.lower = np.concatenate([t.theta_lower_bounds() for t in ctx.design.terms])
        self.nfev = 0

    def lambda_blocks(self, theta: np.ndarray) -> list[np.ndarray]:
        """Each solver position's k x k factor."""
        ctx = self.ctx
        lams = [t.Lambda(theta[sl]) for t, sl in zip(ctx.design.terms, ctx.theta_slices())]
        return [lams[ti] for ti in self.lay.order]

    def solve(self, theta: np.ndarray) -> PLSSolution | None:
        """The penalised least-squares solution at theta (None if M cannot be factored)."""
        st, lay = self.stats, self.lay
        lams = self.lambda_blocks(np.asarray(theta, float))
        full = [kron(speye(n), csr_matrix(L)) for n, L in zip(lay.nlevels, lams)]
        Lfull = block_diag(full, format="csr")
        blocks = {"lead": np.einsum("ba,lbc,cd->lad", lams[0], st["lead"], lams[0])}
        if len(full) > 1:
            L0, Lr = full[0], block_diag(full[1:], format="csr")
            blocks["cross"] = csr_matrix(Lr.T @ st["cross"] @ L0)
            blocks["trail"] = csr_matrix(Lr.T @ st["trail"] @ Lr)
        F = BlockFactor.factor(blocks, lay)
        if F is None:
            return None
        LZy, LZX = Lfull.T @ st["ZWy"], np.asarray(Lfull.T @ st["ZWX"])
        MiLZy = F.solve(LZy)
        MiLZX = np.column_stack([F.solve(LZX[:, j]) for j in range(LZX.shape[1])])
        RX2 = st["XWX"] - LZX.T @ MiLZX
        try:
            beta = np.linalg.solve(RX2, st["XWy"] - LZX.T @ MiLZy)
        except np.linalg.LinAlgError:
            return None
        u = MiLZy - MiLZX @ beta
        pwrss = float(st["yWy"] - u @ LZy - beta @ st["XWy"])
        sign, ldRX2 = np.linalg.slogdet(RX2)
        if sign <= 0 or not pwrss > 0:
            return None
        return PLSSolution(beta, u, pwrss, F.logdet(), float(ldRX2), RX2, None, F)

    @property
    def n_resid(self) -> int:
        d = self.ctx.design
        return d.n - d.p if self.reml else d.n

    def __call__(self, theta: np.ndarray) -> float:
        """The profiled deviance (REML criterion), 1e100 where it cannot be evaluated."""
        self.nfev += 1
        sol = self.solve(theta)
        if sol is None:
            return 1e100
        nr = self.n_resid
        out = sol.ldL2 - self.ldW + nr * (1.0 + LOG2PI + math.log(sol.pwrss / nr))
        return float(out + (sol.ldRX2 if self.reml else 0.0))

    def sigma2(self, sol: PLSSolution) -> float:
        return sol.pwrss / self.n_resid

    def unprofiled(self, phi: np.ndarray) -> float:
        """The deviance at (theta, sigma) without profiling sigma (Satterthwaite's df)."""
        theta, sigma = phi[:-1], float(phi[-1])
        sol = self.solve(theta)
        if sol is None or sigma <= 0:
            return 1e100
        nr = self.n_resid
        out = sol.ldL2 - self.ldW + nr * (LOG2PI + 2 * math.log(sigma)) + sol.pwrss / sigma**2
        return float(out + (sol.ldRX2 if self.reml else 0.0))

    def unprofiled_gradient(self, phi: np.ndarray, h: float = 1e-5) -> np.ndarray:
        """Central differences of :meth:`unprofiled` (every evaluation is the driver's)."""
        phi = np.asarray(phi, float)
        g = np.empty(phi.size)
        for i in range(phi.size):
            e = np.zeros(phi.size)
            e[i] = h * max(1.0, abs(phi[i]))
            g[i] = (self.unprofiled(phi + e) - self.unprofiled(phi - e)) / (2 * e[i])
        return g
