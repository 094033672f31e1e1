"""How a GLMM's conditional modes move with its estimates, for prediction standard errors.

The optimizer's parameters psi = [theta, beta, family parameters on their unconstrained
scale] have covariance 2 H^-1 (H the deviance's Hessian at the optimum, as the fixed effects'
standard errors). The spherical modes u solve g(u, psi) = Lambda'Z' s(eta) - u = 0 (s the
score in eta), so by the implicit function theorem du / dpsi = M^-1 dg / dpsi with
M = -dg / du = Lambda'Z'JZ Lambda + I, J the observed information in eta at the modes (one
factorisation); dg / dpsi is a central difference of g at the fitted modes, which costs one
pass over the rows per parameter and no PIRLS. b = Lambda(theta) u then moves through both
Lambda and u. theta entries held at their zero bound are left out (they carry no variance).
M's inverse, the exact Hessian's, is also the modes' conditional covariance, as TMB's; for
canonical links it is the fit's own penalised system. See
:mod:`interlace.results.prediction_se`.
"""

from __future__ import annotations

import numpy as np

from interlace.errors import UnsupportedModelError
from interlace.glmm.objective import Layout, Objective
from interlace.glmm.pirls import pirls
from interlace.glmm.rowkernel import fixed_effects_for, kernel_for
from interlace.results.prediction_se import (
    Sensitivity,
    b_from_u,
    central_differences,
    free_covariance,
)


def _objective(result) -> tuple[Objective, np.ndarray]:
    """An objective that unpacks the optimizer's vector, and that vector at the estimates."""
    ctx = result.context
    d = ctx.design
    coefs = getattr(result, "family_coefs", {})
    names = list(coefs)
    layout = Layout(ctx.ntheta, d.p, names,
                    fam_sizes={n: len(coefs[n]) for n in names if n in d.param_designs})
    beta = result.fe_params.to_numpy(dtype=float)
    x0 = np.concatenate([result.theta_absolute, beta]
                        + [coefs[n]["Estimate"].to_numpy(dtype=float) for n in names])
    return Objective(ctx, None, layout, beta), x0


def _mode_equation(ctx, obj: Objective, u: np.ndarray):
    """psi -> g(u, psi) = Lambda'Z' s(eta) - u at fixed u (the modes' estimating equation)."""
    kern, fe, system = kernel_for(ctx), fixed_effects_for(ctx), ctx.system

    def g(x: np.ndarray) -> np.ndarray:
        theta, beta, fp = obj.unpack(x)
        ZL = ctx.zl(theta)
        eta = fe.xbeta(beta) + system.zl_u(ZL, u)
        out = kern.evaluate_checked(eta, fp)
        if out is None:
            return np.full(u.size, np.nan)
        score = kern.score_weights(eta, out[0], fp)[0]
        return system.zlt_r(ZL, score) - u

    return g


def glmm_sensitivity(result) -> Sensitivity:
    """The :class:`Sensitivity` of a fitted GLMM's predictions to all its estimates."""
    ctx = result.context
    d = ctx.design
    obj, x0 = _objective(result)
    H = result.hessian.to_numpy(dtype=float)
    if H.shape != (x0.size, x0.size):
        raise UnsupportedModelError(
            f"prediction standard errors with random effects need the deviance's Hessian in "
            f"all {x0.size} parameters; this fit has one of shape {H.shape}")
    lower = np.concatenate([t.theta_lower_bounds() for t in d.terms])
    free = np.ones(x0.size, bool)
    free[: ctx.ntheta] = ~((lower == 0) & (x0[: ctx.ntheta] <= 1e-8))
    C = free_covariance(H, free, "theta, beta and the family parameters")
    theta, beta, fp = obj.unpack(x0)
    modes = pirls(ctx, theta, beta, fp, result.spherical_modes, observed=True)
    factor = modes.factor
    if factor is None:  # the exact Hessian is not positive definite there: Fisher's
        factor = result._modes_factor()
    u = modes.u
    idx = np.flatnonzero(free)
    dg = central_differences(_mode_equation(ctx, obj, u), x0, idx)
    dlam = central_differences(lambda x: b_from_u(ctx, obj.unpack(x)[0], u), x0, idx)
    D = b_from_u(ctx, theta, factor.solve(dg)) + dlam
    A = np.zeros((d.p, idx.size))
    pos = np.flatnonzero((idx >= ctx.ntheta) & (idx < ctx.ntheta + d.p))
    A[idx[pos] - ctx.ntheta, pos] = 1.0
    return Sensitivity([(A, D, C)], factor)
