"""The covariance of the fixed effects and its gradient in the variance parameters (lmerTest).

Satterthwaite's degrees of freedom for any contrast L beta (one row or several) need
V(phi) = sigma^2 (RX'RX)^-1 as a function of phi = (theta, sigma), its Jacobian and the
asymptotic covariance A = 2 H^-1 of phi (H the Hessian of the unprofiled deviance).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from interlace.linalg.differences import hessian_from_gradient
from interlace.lmm.objective import LMMObjective


@dataclass(frozen=True)
class VcovGradient:
    """V = vcov(beta) (p x p), its derivative in each variance parameter (m x p x p), and the
    variance parameters' asymptotic covariance A (m x m)."""

    V: np.ndarray
    jacobian: np.ndarray
    A: np.ndarray


def vcov_gradient(obj: LMMObjective, theta: np.ndarray, sigma: float,
                  h: float = 1e-4) -> VcovGradient:
    """V(phi), its central-difference Jacobian in phi = (theta, sigma) and A = 2 H^-1."""
    phi = np.concatenate([np.asarray(theta, float), [float(sigma)]])
    H = hessian_from_gradient(obj.unprofiled_gradient, phi)
    try:
        A = 2.0 * np.linalg.inv(H)
    except np.linalg.LinAlgError:
        A = 2.0 * np.linalg.pinv(H)

    def vcov(ph: np.ndarray) -> np.ndarray:
        sol = obj.solve(ph[:-1])
        return ph[-1] ** 2 * np.linalg.inv(sol.RX2)

    m = phi.size
    p = obj.ctx.design.p
    G = np.empty((m, p, p))
    for i in range(m):
        e = np.zeros(m)
        e[i] = h * max(1.0, abs(phi[i]))
        G[i] = (vcov(phi + e) - vcov(phi - e)) / (2 * e[i])
    return VcovGradient(vcov(phi), G, A)
