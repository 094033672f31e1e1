"""The Laplace deviance and its exact gradient from passes: the integrator a distributed GLMM
fit hands the in-memory optimisation stages.

Penalised IRLS runs on the driver, each iteration one pass (the log-likelihood, A's and A'WA
at the trial modes); the factor of M and the steps are the driver's, with the in-memory PIRLS's
rules (step halving, the last step taken and M refactored at the mode). The gradient is one
more pass (:mod:`~interlace.distributed.gradient_kernel`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from interlace.distributed import system
from interlace.distributed.gradient_kernel import gradient_stats
from interlace.distributed.kernels import pirls_stats
from interlace.distributed.model import DaskModel
from interlace.distributed.system import BlockFactor
from interlace.integrators.base import IntegrationResult, Integrator


@dataclass
class DaskModes:
    """PIRLS's state at the modes (what the fitting loop and the result read): u, beta, the
    factor of M, whether it converged, the iterations, the log-likelihood. Per-row values
    (eta, mu) stay on the workers."""

    u: np.ndarray
    beta: np.ndarray
    factor: BlockFactor | None
    converged: bool
    iterations: int
    cond_loglik: float
    eta: None = None
    mu: None = None

    @property
    def laplace_deviance(self) -> float:
        if self.factor is None or not math.isfinite(self.cond_loglik):
            return np.inf
        return -2.0 * self.cond_loglik + float(self.u @ self.u) + self.factor.logdet()


class DaskLaplace(Integrator):
    """lme4's Laplace approximation, every sum over rows a pass over the partitions."""

    name = "laplace"

    def __init__(self, model: DaskModel, tol: float = 1e-8, maxit: int = 60) -> None:
        super().__init__(nAGQ=1)
        self.model, self.tol, self.maxit = model, tol, maxit

    def lambdas(self, theta: np.ndarray) -> list[np.ndarray]:
        """Each term's k x k factor, design order."""
        ctx = self.model.ctx
        return [t.Lambda(theta[sl]) for t, sl in zip(ctx.design.terms, ctx.theta_slices())]

    def stats_at(self, lams, beta, u) -> tuple[dict, float]:
        """One PIRLS pass at u, and the penalised deviance there (inf if infeasible)."""
        m = self.model
        st = m.passes.run("pirls", pirls_stats, (m.ctx.family, beta, lams, u, m.lay))
        if st.get("bad", 1) or not math.isfinite(st["ll"]):
            return st, np.inf
        return st, -2.0 * st["ll"] + float(u @ u)

    def modes(self, theta: np.ndarray, beta: np.ndarray, u0: np.ndarray) -> DaskModes:
        """The conditional modes of u at (theta, beta), warm-started at u0."""
        lay, lams = self.model.lay, self.lambdas(theta)
        u = u0.copy()
        st, pdev = self.stats_at(lams, beta, u)
        if not math.isfinite(pdev) and np.any(u != 0):
            u = np.zeros_like(u)
            st, pdev = self.stats_at(lams, beta, u)
        if not math.isfinite(pdev):
            return DaskModes(u, beta, None, False, 0, -np.inf)
        converged, it = False, 0
        for it in range(1, self.maxit + 1):  # noqa: B007 - reported
            F = BlockFactor.factor(st, lay)
            if F is None:
                return DaskModes(u, beta, None, False, it, -np.inf)
            gu = st["As"] - u
            du = F.solve(gu)
            if float(gu @ du) < self.tol:  # the last step, and M refactored at the mode
                u = u + du
                st, pdev = self.stats_at(lams, beta, u)
                converged = math.isfinite(pdev)
                break
            step = 1.0
            while step > 1e-10:
                un = u + step * du
                stn, pn = self.stats_at(lams, beta, un)
                if pn <= pdev + 1e-10 * max(1.0, abs(pdev)):
                    break
                step *= 0.5
            else:
                converged = True
                break
            small = abs(pdev - pn) < 1e-13 * max(1.0, abs(pdev))
            u, st, pdev = un, stn, pn
            if small:
                converged = True
                break
        if not math.isfinite(pdev):
            return DaskModes(u, beta, None, False, it, -np.inf)
        return DaskModes(u, beta, BlockFactor.factor(st, lay), converged, it, float(st["ll"]))

    def integrate(self, ctx, theta, beta, fparams, u0) -> IntegrationResult:
        res = self.modes(np.asarray(theta, float), np.asarray(beta, float), u0)
        return IntegrationResult(-0.5 * res.laplace_deviance, res)

    def has_gradient(self) -> bool:
        """Whether the exact gradient is offered: not when M^-1's cross block of crossed
        factors would exceed :data:`~interlace.distributed.system.MAX_CROSS_DENSE` entries
        (the optimizer then differences the distributed deviance instead)."""
        lay = self.model.lay
        return lay.q2 * lay.q0 <= system.MAX_CROSS_DENSE

    def exact_canonical(self, ctx, fam_names) -> bool:
        return not fam_names and self.has_gradient()

    def gradient(self, ctx, theta, beta, fparams, result, fam_names):
        """d(-2 log L) over [theta, beta]: one pass at the modes, then one solve."""
        modes = result.modes
        if modes.factor is None or fam_names or not self.has_gradient():
            return None
        m = self.model
        inv = modes.factor.inverse_parts(m.pattern)
        entries = [(ti, m.lay.pos_of[ti], int(r), int(c)) for ti, t in enumerate(ctx.design.terms)
                   for r, c in zip(t.tri_rows, t.tri_cols)]
        payload = (ctx.family, beta, self.lambdas(theta), modes.u, m.lay, inv, entries)
        st = m.passes.run("gradient", gradient_stats, payload)
        lam = modes.factor.solve(st["Av"])
        g_theta = st["gconst"] + st["gvec"] @ lam
        g_beta = st["xv"] - st["AWX"].T @ lam
        return np.concatenate([g_theta, g_beta])
