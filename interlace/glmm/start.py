"""Starting values: a GLM fit without random effects (IRLS), as lme4 starts from glm()."""

from __future__ import annotations

import numpy as np
from scipy.linalg.lapack import dpotrf, dpotrs
from scipy.sparse import csr_matrix

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
    first, ll = True, float("nan")
    for it in range(maxit):
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
        if it >= 5:  # R's glm stops when the deviance settles: under separation the estimates
            # run off (a step of about -1 per iteration) while the likelihood stops changing
            ll, ll_old = _loglik(family, y, mu, w, fp), ll
            if abs(ll - ll_old) <= 1e-10 * (abs(ll) + 0.1):
                break
    return beta


def _loglik(family, y: np.ndarray, mu: np.ndarray, w: np.ndarray, fp: dict) -> float:
    """The GLM's log-likelihood (NaN where the family cannot evaluate it)."""
    with np.errstate(all="ignore"):
        try:
            return float(np.sum(family.loglik(y, mu, w, fp)))
        except (ValueError, FloatingPointError, ZeroDivisionError):
            return float("nan")


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
                  fp: dict, floor_without_excess: bool = False) -> np.ndarray:
    """Start of theta from the GLM fit: each level's one-step Fisher-scoring effects
    b_j = A_j^-1 S_j (A_j, S_j its weight and score sums) vary by about Sigma + mean(A_j^-1),
    so Sigma is their excess second moment (each term alone). A scalar term's SD is kept
    within [0.1, 10]; a vector term's Sigma gets its eigenvalues floored at 1e-4 of the largest
    before its Cholesky factor gives theta. lme4's start (the identity) where there is no
    excess. It spares the optimizer steps, and for a vector term a start on the scale of its
    columns (an identity start for a slope on days of a log-rate wandered off).
    ``floor_without_excess``: a scalar term without excess starts at the floor, 0.1, instead
    (random effects in ``ziformula``: from lme4's 1 the joint L-BFGS-B run overshot the
    conditional SD of Salamanders' Poisson hurdle onto its bound, 48 deviances instead of 37)."""
    eta = fe.xbeta(beta)
    s, W = kern.score_weights(eta, kern.link.inverse(eta), fp)[:2]
    return theta_from_level_sums(design.terms, [level_sums(t, s, W) for t in design.terms],
                                 floor_without_excess)


def level_sums(t, s: np.ndarray, W: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A term's per-level sums at the GLM fit: A_j = sum Z'WZ (levels, k, k) and S_j = sum
    Z's (levels, k), for ``s`` the score and ``W`` the weights in eta on the term's rows
    (sums over rows: a distributed fit adds them over partitions)."""
    k, L = t.k, t.nlevels
    Z = t.Z
    if k > 4:  # wide structured blocks: one grouped product, not k^2 sums
        ind = csr_matrix((np.ones(Z.shape[0]), (t.codes, np.arange(Z.shape[0]))),
                         shape=(L, Z.shape[0]))
        A = np.asarray(ind @ ((Z * W[:, None])[:, :, None] * Z[:, None, :]).reshape(-1, k * k)
                       ).reshape(L, k, k)
    else:
        A = np.stack([np.bincount(t.codes, Z[:, a] * Z[:, b] * W, minlength=L)
                      for a in range(k) for b in range(k)], axis=1).reshape(L, k, k)
    S = np.stack([np.bincount(t.codes, Z[:, a] * s, minlength=L) for a in range(k)], axis=1)
    return A, S


def theta_from_level_sums(terms: list, sums: list[tuple[np.ndarray, np.ndarray]],
                          floor_without_excess: bool = False) -> np.ndarray:
    """:func:`theta_moments` from each term's :func:`level_sums`."""
    out = []
    for t, (A, S) in zip(terms, sums):
        th = t.theta_start()
        sigma = _excess_covariance(t, A, S)
        if sigma is not None and t.k == 1:
            th = np.array([min(max(np.sqrt(sigma[0, 0]), 0.1), 10.0)])
        elif sigma is None and t.k == 1 and floor_without_excess:
            th = np.array([0.1])
        elif sigma is not None and not t.linear:  # a structure's own parameters
            th = np.asarray(t.structure.start_from_covariance(sigma, t.k), float)
        elif sigma is not None:
            th = _factor_entries(t, sigma)
        out.append(th)
    return np.concatenate(out)


def _excess_covariance(t, A: np.ndarray, S: np.ndarray) -> np.ndarray | None:
    """mean(b_j b_j') - mean(A_j^-1) over the levels whose A_j is invertible (None if fewer
    than two, or if the excess has no positive variance)."""
    k = t.k
    det = np.linalg.det(A)
    ok = np.isfinite(det) & (det > 1e-12 * np.maximum(np.abs(A).max(axis=(1, 2)) ** k, 1e-300))
    if ok.sum() < 2:
        return None
    Ainv = np.linalg.inv(A[ok])
    b = np.einsum("lab,lb->la", Ainv, S[ok])
    second = np.einsum("la,lb->ab", b, b) / b.shape[0]
    sigma = second - Ainv.mean(axis=0)
    sigma = 0.5 * (sigma + sigma.T)
    if not np.all(np.isfinite(sigma)):
        return None
    if np.min(np.diag(sigma)) <= 0 and t.k > 1:
        # no excess in some column: a tenth of the effects' own second moment keeps the
        # start on the scale of the columns (the identity is not, for a slope)
        sigma = 0.1 * second
    if np.max(np.diag(sigma)) <= 0:
        return None
    return sigma


def _factor_entries(t, sigma: np.ndarray) -> np.ndarray:
    """theta's entries for a vector term from a covariance: its nearest positive definite
    matrix (eigenvalues floored at 1e-4 of the largest), Cholesky, then the term's entries
    (the diagonal alone for an uncorrelated term)."""
    if not t.correlated:
        d = np.diag(sigma)
        return np.sqrt(np.maximum(d, 1e-4 * d.max()))
    ev, V = np.linalg.eigh(sigma)
    ev = np.maximum(ev, 1e-4 * ev.max())
    L = np.linalg.cholesky((V * ev) @ V.T)
    return L[t.tri_rows, t.tri_cols]
