"""Satterthwaite's degrees of freedom for the fixed effects of an LMM (lmerTest's method)."""

from __future__ import annotations

import numpy as np

from interlace.linalg.differences import hessian_from_gradient
from interlace.lmm.objective import LMMObjective


def satterthwaite_df(obj: LMMObjective, theta: np.ndarray, sigma: float, h: float = 1e-4) -> np.ndarray:
    """Satterthwaite's degrees of freedom for each coefficient (lmerTest's method).

    df_j = 2 V_jj^2 / (g' A g), with V(theta, sigma) = sigma^2 (RX'RX)^-1, g its gradient in the
    variance parameters (theta, sigma) and A = 2 H^-1 their asymptotic covariance, H the
    Hessian of the (unprofiled) deviance at the estimate.
    """
    phi = np.concatenate([theta, [sigma]])
    H = hessian_from_gradient(obj.unprofiled_gradient, phi)
    try:
        A = 2.0 * np.linalg.inv(H)
    except np.linalg.LinAlgError:
        A = 2.0 * np.linalg.pinv(H)

    def vdiag(ph):
        sol = obj.solve(ph[:-1])
        return ph[-1] ** 2 * np.diag(np.linalg.inv(sol.RX2))

    m = phi.size
    G = np.empty((m, obj.ctx.design.p))
    for i in range(m):
        e = np.zeros(m)
        e[i] = h * max(1.0, abs(phi[i]))
        G[i] = (vdiag(phi + e) - vdiag(phi - e)) / (2 * e[i])
    V = vdiag(phi)
    den = np.einsum("ij,ik,kj->j", G, A, G)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, 2.0 * V**2 / den, np.inf)
