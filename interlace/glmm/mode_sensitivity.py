"""How a GLMM's conditional modes move with its estimates, for prediction standard errors.

The optimizer's parameters psi = [theta, beta, family parameters on their unconstrained
scale] have covariance 2 H^-1 (H the deviance's Hessian at the optimum, as the fixed effects'
standard errors). The modes b(psi) are PIRLS's at psi; their derivatives are central
differences of PIRLS warm-started at the fitted modes (Newton converges to rounding there, so
the differences are accurate to about 1e-8). theta entries held at their zero bound are left
out (they carry no variance). The modes' conditional covariance is the inverse of the exact
(observed-information) Hessian in u at the modes, as TMB's; for canonical links it is the
fit's own penalised system. See :mod:`interlace.results.prediction_se`.
"""

from __future__ import annotations

import numpy as np

from interlace.errors import UnsupportedModelError
from interlace.glmm.objective import Layout, Objective
from interlace.glmm.pirls import pirls
from interlace.results.prediction_se import (
    Sensitivity,
    b_from_u,
    central_differences,
    free_covariance,
)


def glmm_sensitivity(result) -> Sensitivity:
    """The :class:`Sensitivity` of a fitted GLMM's predictions to all its estimates."""
    ctx = result.context
    d = ctx.design
    coefs = getattr(result, "family_coefs", {})
    names = list(coefs)
    layout = Layout(ctx.ntheta, d.p, names,
                    fam_sizes={n: len(coefs[n]) for n in names if n in d.param_designs})
    beta = result.fe_params.to_numpy(dtype=float)
    obj = Objective(ctx, None, layout, beta)
    x0 = np.concatenate([result.theta_absolute, beta]
                        + [coefs[n]["Estimate"].to_numpy(dtype=float) for n in names])
    H = result.hessian.to_numpy(dtype=float)
    if H.shape != (x0.size, x0.size):
        raise UnsupportedModelError(
            f"prediction standard errors with random effects need the deviance's Hessian in "
            f"all {x0.size} parameters; this fit has one of shape {H.shape}")
    lower = np.concatenate([t.theta_lower_bounds() for t in d.terms])
    free = np.ones(x0.size, bool)
    free[: ctx.ntheta] = ~((lower == 0) & (x0[: ctx.ntheta] <= 1e-8))
    C = free_covariance(H, free, "theta, beta and the family parameters")
    u0 = result.spherical_modes

    def modes(x: np.ndarray) -> np.ndarray:
        theta, b, fp = obj.unpack(x)
        m = pirls(ctx, theta, b, fp, u0)
        return b_from_u(ctx, theta, m.u) if m.converged else np.full(u0.size, np.nan)

    idx = np.flatnonzero(free)
    D = central_differences(modes, x0, idx)
    A = np.zeros((d.p, idx.size))
    pos = np.flatnonzero((idx >= ctx.ntheta) & (idx < ctx.ntheta + d.p))
    A[idx[pos] - ctx.ntheta, pos] = 1.0
    theta, b, fp = obj.unpack(x0)
    factor = pirls(ctx, theta, b, fp, u0, observed=True).factor
    if factor is None:  # the exact Hessian is not positive definite there: Fisher's
        factor = result._modes_factor()
    return Sensitivity([(A, D, C)], factor)
