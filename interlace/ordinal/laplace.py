"""The Laplace approximation of a cumulative link mixed model, with its exact gradient.

:func:`clmm`'s default integrator at ``nAGQ = 1``. The deviance is the core's Laplace deviance
(penalised IRLS at the modes, the observed information in the log-determinant, as
ordinal::clmm), so the fit is the one the ``laplace`` plugin gives; what differs is the
gradient. Over theta and beta it is the closed form of the fused kernels
(:func:`~interlace.glmm.gradient_fused.fused_laplace_gradient`: the kernel's W is the observed
information, and dW/deta is analytic); over the thresholds' parameters psi it is, with
lev = diag(A M^-1 A'), v = lev dW/deta, lambda = M^-1 A'v and the cut-point derivatives of
:mod:`interlace.ordinal.rows`,

    dD/dtau_j = sum_{y = j-1} (-2 l_a + lev W_a + (A lambda) s_a)
              + sum_{y = j}   (-2 l_b + lev W_b + (A lambda) s_b),

then dD/dz = (d tau / dz)' dD/dtau. It is closed-form to rounding, so the fit starts the joint
stage directly and takes the Hessian by forward differences of it (m gradients, not 2m, and no
differences of the deviance in the thresholds). With a single scalar random term M is
diagonal: penalised IRLS runs elementwise per group (:mod:`interlace.ordinal.pirls_diagonal`,
for a log-concave F) and the gradient in all three blocks is one pass
(:func:`scalar_gradient`).
"""

from __future__ import annotations

import numpy as np

from interlace.glmm.gradient_fused import fused_laplace_gradient
from interlace.glmm.pirls import pirls
from interlace.glmm.rowkernel import fixed_effects_for, kernel_for
from interlace.integrators.base import IntegrationResult, Integrator
from interlace.ordinal.pirls_diagonal import diagonal_pirls


class OrdinalLaplace(Integrator):
    """Laplace approximation for :func:`clmm` (the cumulative-link row kernel's model only),
    with the exact gradient in theta, beta and the thresholds."""

    name = "laplace"

    def __init__(self, nAGQ: int = 1, **options) -> None:
        super().__init__(nAGQ=nAGQ, **options)
        self._last: tuple | None = None  # (ctx, theta, beta, parameters, result)
        self._unit: tuple | None = None  # (ctx, whether its scalar term's Z column is all 1)

    def integrate(self, ctx, theta, beta, fparams, u0):
        """The Laplace approximation at the modes. Asked again at the same parameters from the
        modes it returned (the fit's re-convergence before differences of the gradient), the
        same result: penalised IRLS had converged there, its last Newton step taken."""
        last = self._last
        if (last is not None and last[4].modes.converged and u0 is last[4].modes.u
                and last[0] is ctx and np.array_equal(last[1], theta)
                and np.array_equal(last[2], beta) and last[3] == tuple(fparams.items())):
            return last[4]
        if ctx.system.single1 and ctx.family.cumulative.log_concave:
            res = diagonal_pirls(ctx, kernel_for(ctx), theta, beta, fparams, u0)
        else:
            res = pirls(ctx, theta, beta, fparams, u0)
        out = IntegrationResult(-0.5 * res.laplace_deviance, res)
        self._last = (ctx, theta.copy(), beta.copy(), tuple(fparams.items()), out)
        return out

    def _unit_column(self, ctx) -> bool:
        """Whether the single scalar term's Z column is identically 1 (kept per model)."""
        if self._unit is None or self._unit[0] is not ctx:
            self._unit = (ctx, bool(np.all(ctx.design.terms[0].Z == 1.0)))
        return self._unit[1]

    def exact_canonical(self, ctx, fam_names):
        """The gradient is closed-form to rounding (see the module docstring)."""
        return True

    def gradient(self, ctx, theta, beta, fparams, result, fam_names):
        res = result.modes
        kern = kernel_for(ctx)
        if (ctx.system.single1 and ctx.design.terms[0].linear and res.factor is not None
                and res.mu is not None and res.zl is not None):
            return scalar_gradient(ctx, kern, fparams, res, fam_names, self._unit_column(ctx))
        g = fused_laplace_gradient(ctx, kern, theta, fparams, res)
        if g is None or not fam_names:
            return g
        return np.concatenate([g, threshold_gradient(ctx, kern, theta, fparams, res,
                                                     fam_names)])


def threshold_gradient(ctx, kern, theta: np.ndarray, fp: dict, res,
                       fam_names: list[str]) -> np.ndarray:
    """d(-2 log L)/dz over the estimated threshold parameters ``fam_names`` (unconstrained
    scale), at the modes ``res`` (see the module docstring)."""
    system, fam = ctx.system, ctx.family
    ZL = res.zl if res.zl is not None else ctx.zl(theta)
    eta = res.eta
    d = kern.derivatives(eta, fp)
    m = res.factor.minv_rows(ZL)
    lev = np.einsum("ij,ij->i", np.column_stack(ZL), m)
    v = -lev * (d["Wa"] + d["Wb"])
    Alam = system.zl_u(ZL, res.factor.solve(system.zlt_r(ZL, v)))
    ra = -2.0 * d["la"] + lev * d["Wa"] + Alam * d["sa"]
    rb = -2.0 * d["lb"] + lev * d["Wb"] + Alam * d["sb"]
    K = fam.ncat
    yi = kern.yi
    g_tau = (np.bincount(yi, weights=ra, minlength=K)[: K - 1]
             + np.bincount(yi, weights=rb, minlength=K)[1:])
    J = fam.threshold_jacobian(fp)
    if len(fam_names) == J.shape[1]:  # every threshold parameter estimated (in their order)
        return J.T @ g_tau
    cols = [list(fam.parameters).index(n) for n in fam_names]
    return J[:, cols].T @ g_tau


def scalar_gradient(ctx, kern, fp: dict, res, fam_names: list[str], unit: bool) -> np.ndarray:
    """The gradient over [theta, beta, the thresholds' parameters ``fam_names``] for a single
    scalar random term (M diagonal), in one pass: the fused kernels' formula
    (:func:`~interlace.glmm.gradient_fused.fused_laplace_gradient`) and
    :func:`threshold_gradient` share lev, v and A lambda; ``unit``: Z's column is all 1."""
    system, t = ctx.system, ctx.design.terms[0]
    codes, L0 = system.tcodes[0], res.factor.L0
    zl, eta = res.zl[0][:, 0], res.eta
    s, W = kern.score_weights(eta, res.mu, fp)[:2]
    d = kern.derivatives(eta, fp)
    Wa, Wb = d["Wa"], d["Wb"]
    mc = (1.0 / L0**2).take(codes) * zl  # (M^-1 a_i) at row i's level
    lev = zl * mc
    v = -lev * (Wa + Wb)
    lc = (np.bincount(codes, zl * v, minlength=system.q) / L0 / L0).take(codes)
    Alam = zl * lc
    r2s = v - W * Alam - 2.0 * s
    uc = res.u.take(codes)
    if unit:
        g = float(r2s @ uc) + 2.0 * float(W @ mc) + float(s @ lc)
    else:
        zr = t.Z[:, 0]
        g = float(r2s @ (zr * uc)) + 2.0 * float((W * zr) @ mc) + float(s @ (zr * lc))
    grad = np.concatenate([[g], fixed_effects_for(ctx).xt_dot(r2s)])
    if not fam_names:
        return grad
    fam, K, yi = ctx.family, ctx.family.ncat, kern.yi
    ra = -2.0 * d["la"] + lev * Wa + Alam * d["sa"]
    rb = -2.0 * d["lb"] + lev * Wb + Alam * d["sb"]
    g_tau = (np.bincount(yi, weights=ra, minlength=K)[: K - 1]
             + np.bincount(yi, weights=rb, minlength=K)[1:])
    J = fam.threshold_jacobian(fp)
    if len(fam_names) != J.shape[1]:
        J = J[:, [list(fam.parameters).index(n) for n in fam_names]]
    return np.concatenate([grad, J.T @ g_tau])
