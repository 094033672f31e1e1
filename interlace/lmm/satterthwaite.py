"""Satterthwaite's degrees of freedom for the fixed effects of an LMM (lmerTest's method)."""

from __future__ import annotations

import numpy as np

from interlace.lmm.objective import LMMObjective
from interlace.lmm.vcov_gradient import vcov_gradient


def satterthwaite_df(obj: LMMObjective, theta: np.ndarray, sigma: float, h: float = 1e-4) -> np.ndarray:
    """Satterthwaite's degrees of freedom for each coefficient (lmerTest's method).

    df_j = 2 V_jj^2 / (g' A g), with V(theta, sigma) = sigma^2 (RX'RX)^-1, g its gradient in the
    variance parameters (theta, sigma) and A = 2 H^-1 their asymptotic covariance, H the
    Hessian of the (unprofiled) deviance at the estimate.
    """
    vg = vcov_gradient(obj, theta, sigma, h)
    G = np.diagonal(vg.jacobian, axis1=1, axis2=2)
    V = np.diag(vg.V)
    den = np.einsum("ij,ik,kj->j", G, vg.A, G)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, 2.0 * V**2 / den, np.inf)
