"""The start of a :func:`~interlace.ordinal.fitting.clmm` fit and an approximate Hessian there.

Averaged over the random effects, a cumulative link model's coefficients and thresholds shrink
towards 0 by about c = sqrt(1 + kappa v), v the random part's variance in eta (kappa = 1 for
probit, exactly; 0.346 for the logistic, Zeger, Liang and Albert 1988), so the fit without
random effects (R's clm) times c, with theta from the moments of its residuals, starts close
to the optimum. From there quasi-Newton steps (:func:`~interlace.glmm.optimize.warm_newton`)
on :func:`start_hessian` reach it in a few evaluations (wine: 6 deviances, where L-BFGS-B
from the GLM start took 19). That Hessian is the penalised deviance's in (beta, thresholds)
with u profiled out (the Schur complement of the penalised system: exact but for the
log-determinant's curvature), and differences of the exact gradient in theta.
"""

from __future__ import annotations

import numpy as np

from interlace.glmm.rowkernel import fixed_effects_for, kernel_for
from interlace.glmm.start import theta_moments
from interlace.model.context import ModelContext
from interlace.ordinal.clm import clm_curvature, clm_fit

#: Attenuation factor kappa per latent distribution (1 / its variance for the Gumbel links;
#: none for the Cauchy, which has no variance).
_KAPPA = {"logit": 0.346, "probit": 1.0, "cloglog": 6.0 / np.pi**2, "loglog": 6.0 / np.pi**2}


def clmm_start(ctx: ModelContext) -> np.ndarray | None:
    """[theta, beta, threshold parameters (unconstrained)] to start the joint fit from: the
    clm fit scaled for the random effects' attenuation (see the module docstring); None when
    it does not apply (a threshold parameter fixed, a formula parameter, a latent density that
    is not log-concave: from the cauchit's start the steps found a saddle) or the clm fails."""
    d, fam = ctx.design, ctx.family
    names = list(fam.structure.names)
    if ([k for k, p in fam.parameters.items() if not p.fixed] != names or d.param_designs
            or not fam.cumulative.log_concave):
        return None
    tau, beta, ok = clm_fit(fam, d.y, d.weights, d.X, d.offset,
                            fam.marginal_thresholds(d.y, d.weights), tol=1e-4)
    if not (ok and np.all(np.isfinite(tau)) and np.all(np.isfinite(beta))):
        return None
    fp = fam.parameter_values()
    fp.update(fam.threshold_params(tau))
    theta = theta_moments(d, kernel_for(ctx), fixed_effects_for(ctx), beta, fp)
    zl = ctx.zl(theta)
    v = float(np.mean(sum((z * z).sum(axis=1) for z in zl)))  # var of Z Lambda b per row
    c = float(np.sqrt(1.0 + _KAPPA.get(fam.cumulative.name, 0.0) * v))
    fp.update(fam.threshold_params(c * tau))
    z = [fam.parameters[k].to_unconstrained(fp[k]) for k in names]
    return np.concatenate([theta, c * beta, z])


def profiled_hessian(ctx: ModelContext, res, beta: np.ndarray, fp: dict,
                     fam_names: list[str]) -> np.ndarray | None:
    """The penalised deviance's Hessian over (beta, the thresholds' parameters ``fam_names``)
    with u profiled out, at PIRLS's modes ``res``: 2 (A_vv - B' M^-1 B), with A_vv the clm's
    information given the modes and B = (Z Lambda)' R the cross block (R per row)."""
    d, fam, system = ctx.design, ctx.family, ctx.system
    names = list(fam.structure.names)
    if res.factor is None or res.zl is None:
        return None
    z = [fam.parameters[k].to_unconstrained(fp[k]) for k in names]
    ZL = res.zl
    out = clm_curvature(fam, d.y, d.weights, d.X, d.offset + system.zl_u(ZL, res.u),
                        np.concatenate([z, beta]))
    if out is None:
        return None
    H, R = out
    B = system.zlt_r(ZL, R)
    S = -H - B.T @ res.factor.solve(B)
    nz = len(names)
    idx = np.r_[nz:nz + d.p, [names.index(k) for k in fam_names]].astype(int)
    return 2.0 * S[np.ix_(idx, idx)]


def start_hessian(dev, x: np.ndarray) -> np.ndarray | None:
    """An approximate Hessian of the deviance ``dev`` (the joint stage's objective) at x, for
    quasi-Newton steps from a start: :func:`profiled_hessian` for (beta, thresholds) and
    forward differences of the exact gradient in theta (one gradient per entry). The objective
    is left at x; None if it is not positive definite or cannot be evaluated."""
    x = np.asarray(x, float)
    if dev(x) >= 1e100:
        return None
    g0 = dev.gradient(x)
    if g0 is None or not np.all(np.isfinite(g0)):
        return None
    snap = dev.snapshot()
    theta, beta, fp = dev.last_parts
    nt = dev.layout.ntheta
    Hv = profiled_hessian(dev.ctx, dev.last_out.modes, beta, fp, dev.layout.fam_names)
    H = np.zeros((x.size, x.size))
    if Hv is None or Hv.shape != (x.size - nt,) * 2:
        return None
    H[nt:, nt:] = Hv
    cols = np.empty((x.size, nt))
    for k in range(nt):
        h = 1e-4 * max(1.0, abs(x[k]))
        xk = x.copy()
        xk[k] += h
        gk = dev.gradient(xk)
        if gk is None or not np.all(np.isfinite(gk)):
            dev.restore(snap)
            return None
        cols[:, k] = (gk - g0) / h
    H[:, :nt], H[:nt, :] = cols, cols.T
    H[:nt, :nt] = 0.5 * (cols[:nt] + cols[:nt].T)
    dev.restore(snap)
    try:
        np.linalg.cholesky(H)
    except np.linalg.LinAlgError:
        return None
    return H
