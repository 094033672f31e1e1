"""Kenward-Roger's adjusted covariance and denominator degrees of freedom, as pbkrtest.

Given Phi = vcov(beta), X and Var(y) = sum_i gamma_i G_i (REML), ``adjusted_vcov`` returns
pbkrtest's ``vcovAdj``: Phi_A = Phi + 2 Phi U Phi with its P_i and W; ``kr_test`` is
``KRmodcomp``'s F test of L beta = 0 (scaled F, denominator df) from them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import linalg


@dataclass(frozen=True)
class KRAdjustment:
    """pbkrtest's adjusted covariance Phi_A, the unadjusted Phi, P_i = -X'S^-1 G_i S^-1 X and
    W = 2 I_E^-1 (the covariance of the variance parameters)."""

    PhiA: np.ndarray
    Phi: np.ndarray
    P: np.ndarray
    W: np.ndarray


def adjusted_vcov(Phi: np.ndarray, X: np.ndarray, Gs: list[np.ndarray],
                  gamma: np.ndarray) -> KRAdjustment:
    """pbkrtest's vcovAdj (Kenward and Roger 1997, eq. 2-5; second derivatives of Sigma zero)."""
    Sigma = sum(g * G for g, G in zip(gamma, Gs))
    Sinv = linalg.cho_solve(linalg.cho_factor(Sigma), np.eye(Sigma.shape[0]))
    H = np.stack([G @ Sinv for G in Gs])  # G_i Sigma^-1
    HX = H @ X  # G_i Sigma^-1 X
    T = Sinv @ X
    P = -np.einsum("rnp,nq->rpq", HX, T)
    SHX = Sinv @ HX  # S^-1 G_s S^-1 X
    Q = np.einsum("rnp,snq->rspq", HX, SHX)  # (G_r S^-1 X)' S^-1 (G_s S^-1 X)
    K = np.einsum("rij,sji->rs", H, H)
    PPhi = P @ Phi  # P_i Phi
    IE = K - 2 * np.einsum("pq,rsqp->rs", Phi, Q) + np.einsum("rij,sji->rs", PPhi, PPhi)
    ev = np.linalg.eigvalsh(IE)
    W = 2 * (np.linalg.inv(IE) if np.min(np.abs(ev)) > 1e-10 else np.linalg.pinv(IE))
    U = np.einsum("rs,rspq->pq", W, Q) - np.einsum("rs,rpk,skq->pq", W, PPhi, P)
    PhiA = Phi + 2 * Phi @ U @ Phi
    return KRAdjustment((PhiA + PhiA.T) / 2, Phi, P, W)


def kr_ddf_scale(adj: KRAdjustment, L: np.ndarray) -> tuple[float, float]:
    """Denominator df and F scaling for the hypothesis L beta = 0 (L: q x p, full row rank),
    pbkrtest's ``.KR_adjust`` / ``Lb_ddf``."""
    L = np.atleast_2d(L)
    q = L.shape[0]
    Phi = adj.Phi
    Theta = L.T @ np.linalg.solve(L @ Phi @ L.T, L)
    u = np.einsum("pk,rkl,lq->rpq", Theta @ Phi, adj.P, Phi)
    tr = np.einsum("rii->r", u)
    A1 = float(tr @ adj.W @ tr)
    A2 = float(np.einsum("rs,rij,sji->", adj.W, u, u))
    B = (A1 + 6 * A2) / (2 * q)
    g = ((q + 1) * A1 - (q + 4) * A2) / ((q + 2) * A2)
    den = 3 * q + 2 * (1 - g)
    c1, c2, c3 = g / den, (q - g) / den, (q + 2 - g) / den
    V0 = 1 + c1 * B
    V0 = 0.0 if abs(V0) < 1e-10 else V0
    V1, V2 = 1 - c2 * B, 1 - c3 * B
    ratio = 0.0 if V1 == 0 else (1 - A2 / q) / V1
    rho = ratio**2 * V0 / V2 / q
    df2 = 4 + (q + 2) / (q * rho - 1)
    scale = 1.0 if abs(df2 - 4) < 1e-2 else df2 * (1 - A2 / q) / (df2 - 2)
    return float(df2), float(scale)
