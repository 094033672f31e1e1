"""Starting values: a GLM fit without random effects (IRLS), as lme4 starts from glm()."""

from __future__ import annotations

import numpy as np
from scipy.linalg.lapack import dpotrf, dpotrs

from interlace.families.base import RowKernel
from interlace.glmm.rowkernel import FixedEffects, row_kernel
from interlace.model.design import Design

_SMALL_XT = 250_000  # p * n up to which X'WX is one matrix product (a p x n copy)


def _normal_matrix(XT: np.ndarray, W: np.ndarray) -> np.ndarray:
    """X'WX from the column-major X: one product when small, else row by row (no p x n copy)."""
    p, n = XT.shape
    if p * n <= _SMALL_XT:
        return (XT * W) @ XT.T
    A = np.empty((p, p))
    for j in range(p):  # upper triangle by rows: p products and dot products
        A[j, j:] = XT[j:] @ (W * XT[j])
    return np.triu(A) + np.triu(A, 1).T


def _solve_normal(XT: np.ndarray, W: np.ndarray, rhs: np.ndarray) -> np.ndarray | None:
    """(X'WX)^-1 rhs by a Jacobi-scaled Cholesky factor; None if X'WX is not positive definite.
    LAPACK's potrf/potrs directly: scipy's cho_factor wrappers cost 10x more on p x p."""
    A = _normal_matrix(XT, W)
    dg = np.sqrt(A.diagonal())
    if not (np.isfinite(A).all() and (dg > 0).all()):
        return None
    c, info = dpotrf(A / np.outer(dg, dg), lower=0, clean=0)
    if info != 0:
        return None
    x, info = dpotrs(c, rhs / dg, lower=0)
    return x / dg if info == 0 else None


def glm_start(design: Design, family, fp: dict, maxit: int = 50, kern: RowKernel | None = None,
              fe: FixedEffects | None = None) -> np.ndarray:
    """Fixed effects of the GLM y ~ X (no random effects) by iteratively reweighted LS.

    Each step solves the p x p normal equations for the Fisher-scoring correction, so the
    fixed point is exact even when X'WX is poorly conditioned; the tall least-squares problem
    is solved only if the normal equations fail.
    """
    X, y, w, off = design.X, design.y, design.weights, design.offset
    if X.shape[1] == 0:
        return np.zeros(0)
    link = family.link
    kern = row_kernel(family, y, w) if kern is None else kern  # the model's, when given
    fe = FixedEffects(X, off) if fe is None else fe
    mu = family.initialize(y, w)
    eta = link.link(mu)
    beta = np.zeros(X.shape[1])
    first = True
    for _ in range(maxit):
        score, W = kern.score_weights(eta, mu, fp)[:2]
        if not (np.all(np.isfinite(W)) and np.all(W >= 0) and np.all(np.isfinite(score))):
            break  # separation or overflow: keep the last finite start
        # first step: eta is not yet X beta + offset, so solve for beta itself (working response)
        rhs = fe.xt_dot(W * (eta - off) + score) if first else fe.xt_dot(score)
        step = _solve_normal(fe.XT, W, rhs)
        if step is None:
            new = _lstsq_step(X, W, eta - off + score / np.maximum(W, 1e-300))
            if new is None:
                break
        else:
            new = step if first else beta + step
        first = False
        eta_new = fe.xbeta(new)
        if not (link.valid_eta(eta_new) and np.all(np.abs(new) < 1e6)):
            break
        done = np.max(np.abs(new - beta)) < 1e-10 * (1 + np.max(np.abs(new)))
        beta, eta = new, eta_new
        mu = link.inverse(eta)
        if done:
            break
    return beta


def _lstsq_step(X: np.ndarray, W: np.ndarray, z: np.ndarray) -> np.ndarray | None:
    """Weighted least squares of the working response z on X (the robust, slower path)."""
    sw = np.sqrt(W)
    if not (np.all(np.isfinite(sw)) and np.all(np.isfinite(z))):
        return None
    try:
        return np.linalg.lstsq(X * sw[:, None], z * sw, rcond=None)[0]
    except np.linalg.LinAlgError:
        return None


def theta_moments(design: Design, kern: RowKernel, fe: FixedEffects, beta: np.ndarray,
                  fp: dict) -> np.ndarray:
    """Start of theta from the GLM fit: for a scalar term, its levels' one-step Fisher-scoring
    effects b_j = S_j / W_j (score and weight sums) vary by about sigma^2 + mean(1 / W_j), so
    sigma^2 is their excess mean square (each term alone); lme4's start (the identity) for
    other terms and where there is no excess. It spares the optimizer a few steps."""
    eta = fe.xbeta(beta)
    s, W = kern.score_weights(eta, kern.link.inverse(eta), fp)[:2]
    out = []
    for t in design.terms:
        th = t.theta_start()
        if t.k == 1:
            z = t.Z[:, 0]
            Wj = np.bincount(t.codes, z * z * W, minlength=t.nlevels)
            ok = Wj > 0
            if ok.sum() > 1:
                bj = np.bincount(t.codes, z * s, minlength=t.nlevels)[ok] / Wj[ok]
                v = float(np.mean(bj * bj) - np.mean(1.0 / Wj[ok]))
                if np.isfinite(v) and v > 0:
                    th = np.array([min(max(np.sqrt(v), 0.1), 10.0)])
        out.append(th)
    return np.concatenate(out)
