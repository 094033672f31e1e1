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
differences of the deviance in the thresholds).
"""

from __future__ import annotations

import numpy as np

from interlace.glmm.gradient_fused import fused_laplace_gradient
from interlace.glmm.pirls import pirls
from interlace.glmm.rowkernel import kernel_for
from interlace.integrators.base import IntegrationResult, Integrator


class OrdinalLaplace(Integrator):
    """Laplace approximation for :func:`clmm` (the cumulative-link row kernel's model only),
    with the exact gradient in theta, beta and the thresholds."""

    name = "laplace"

    def __init__(self, nAGQ: int = 1, **options) -> None:
        super().__init__(nAGQ=nAGQ, **options)
        self._last: tuple | None = None  # (ctx, theta, beta, parameters, result)

    def integrate(self, ctx, theta, beta, fparams, u0):
        """The Laplace approximation at the modes. Asked again at the same parameters from the
        modes it returned (the fit's re-convergence before differences of the gradient), the
        same result: penalised IRLS had converged there, its last Newton step taken."""
        last = self._last
        if (last is not None and last[4].modes.converged and u0 is last[4].modes.u
                and last[0] is ctx and np.array_equal(last[1], theta)
                and np.array_equal(last[2], beta) and last[3] == tuple(fparams.items())):
            return last[4]
        res = pirls(ctx, theta, beta, fparams, u0)
        out = IntegrationResult(-0.5 * res.laplace_deviance, res)
        self._last = (ctx, theta.copy(), beta.copy(), tuple(fparams.items()), out)
        return out

    def exact_canonical(self, ctx, fam_names):
        """The gradient is closed-form to rounding (see the module docstring)."""
        return True

    def gradient(self, ctx, theta, beta, fparams, result, fam_names):
        res = result.modes
        kern = kernel_for(ctx)
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
