"""How a linear mixed model's conditional modes and fixed effects move with its estimates, for
prediction standard errors.

beta and sigma are profiled out of lme4's deviance, so the generalised delta method splits in
two blocks (see :mod:`interlace.results.prediction_se`): beta at the estimated theta, with
covariance ``vcov`` = sigma^2 (RX'RX)^-1 and the modes' exact derivative
d b / d beta = -Lambda M^-1 Lambda'Z'W X; and theta, with covariance 2 H^-1 from the profiled
deviance's Hessian (the REML criterion's for REML), moving beta-hat and b-hat along the
profile (central differences of the penalised least-squares solution, which is exact at each
theta). Profiling sigma changes neither block (b-hat does not depend on sigma at fixed theta).
"""

from __future__ import annotations

import numpy as np

from interlace.results.prediction_se import (
    Sensitivity,
    b_from_u,
    central_differences,
    free_covariance,
)


def lmm_sensitivity(result, objective) -> Sensitivity:
    """The :class:`Sensitivity` of a fitted LMM's predictions (``objective``: its
    :class:`~interlace.lmm.objective.LMMObjective`, REML or ML as fitted)."""
    ctx = result.context
    d = ctx.design
    theta = np.asarray(result.theta, dtype=float)
    ZL = ctx.zl(theta)
    F = ctx.system.factor(ZL, d.weights)
    MiC = F.solve(ctx.system.zlt_r(ZL, d.weights[:, None] * d.X))
    blocks = [(np.eye(d.p), -b_from_u(ctx, theta, MiC), result.vcov.to_numpy(dtype=float))]
    free = ~((objective.lower == 0) & (theta <= 1e-8))
    idx = np.flatnonzero(free)
    if idx.size:
        C = free_covariance(result.hessian.to_numpy(dtype=float), free, "theta")

        def estimates(th: np.ndarray) -> np.ndarray:
            sol = objective.solution(th)
            if sol is None:
                return np.full(d.p + ctx.system.q, np.nan)
            return np.concatenate([sol.beta, b_from_u(ctx, th, sol.u)])

        G = central_differences(estimates, theta, idx)
        blocks.append((G[: d.p], G[d.p:], C))
    return Sensitivity(blocks, result._modes_factor())
