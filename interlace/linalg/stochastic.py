"""Stochastic log-determinant and inverse entries of M for two large crossed scalar terms.

The exact log-determinant and gradient need the dense factor of the q2 x q2 Schur complement
S = diag(a22) - L21 L21' (and, for the gradient, S^-1 on S's pattern): q2^3 flops each time.
Here both come from one block of preconditioned conjugate-gradient solves X = S^-1 P^1/2 R
with fixed Rademacher probes R (q2 x m; P = diag S):

* log|S| = log|P| + tr log C (C = P^-1/2 S P^-1/2) by stochastic Lanczos quadrature: the CG
  coefficients of column j are the Lanczos tridiagonal T_j of C started at r_j, and
  r_j' log(C) r_j ~ |r_j|^2 e1' log(T_j) e1 (Ubaru, Chen & Saad 2017);
* the entries of S^-1 that the gradient needs (its diagonal, S^-1 B on B's pattern and
  diag(B' S^-1 B), B = L21 L0^-1) by the unbiased Hutchinson-type estimate
  S^-1 ~ (X W' + W X') / 2m, W = P^-1/2 R (E[X W'] = S^-1).

The probes are drawn once per model (common random numbers), so the estimates are smooth,
deterministic functions of the parameters, as an optimizer and differences of gradients need.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from scipy.linalg import eigh_tridiagonal
from scipy.sparse import csr_matrix

from interlace.linalg.iterative import DeferredFactor

PROBES = 16  # Rademacher probe vectors (the estimates' standard error falls as 1/sqrt(m))
PROBE_TOL = 1e-10  # relative residual of the probe solves (differences of gradients need it)
PROBE_MAXIT = 400
_CHUNK = 4096  # rows per block of the per-row gathers (their temporaries stay in cache: 4x faster)


def rademacher_probes(q: int, m: int = PROBES, seed: int = 20190) -> np.ndarray:
    """Fixed +-1 probe vectors (q x m), the same for every evaluation of one model."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, 2, size=(q, m)).astype(float) * 2.0 - 1.0


def block_pcg(matvec: Callable, B: np.ndarray, pinv: np.ndarray, tol: float = PROBE_TOL,
              maxit: int = PROBE_MAXIT) -> tuple[np.ndarray, list[np.ndarray], list[np.ndarray]]:
    """Solve S X = B column by column (S symmetric positive definite, ``matvec`` taking q x k
    blocks) by preconditioned CG with P^-1 = ``pinv``; returns X and, per column, the CG
    coefficients (alphas, betas) that define its Lanczos tridiagonal. Columns stop at a
    relative residual of ``tol``; raises LinAlgError if S is found not positive definite or
    a column does not converge."""
    q, m = B.shape
    X = np.zeros_like(B)
    R = B.copy()
    Z = pinv[:, None] * R
    P = Z.copy()
    rz = np.einsum("ij,ij->j", R, Z)
    bnorm = np.linalg.norm(B, axis=0)
    A = np.full((maxit, m), np.nan)  # per iteration and column: CG step length ...
    Bt = np.full((maxit, m), np.nan)  # ... and residual ratio
    act = np.flatnonzero(bnorm > 0)
    for k in range(maxit):
        if act.size == 0:
            break
        Pa = P[:, act]
        SP = matvec(Pa)
        pSp = np.einsum("ij,ij->j", Pa, SP)
        if not np.all(pSp > 0):
            raise np.linalg.LinAlgError("Schur complement is not positive definite")
        a = rz[act] / pSp
        X[:, act] += a * Pa
        Ra = R[:, act] - a * SP
        R[:, act] = Ra
        Za = pinv[:, None] * Ra
        rz_new = np.einsum("ij,ij->j", Ra, Za)
        b = rz_new / rz[act]
        A[k, act], Bt[k, act] = a, b
        P[:, act] = Za + b * Pa
        rz[act] = rz_new
        done = np.linalg.norm(Ra, axis=0) <= tol * bnorm[act]
        act = act[~done]
    if act.size:
        raise np.linalg.LinAlgError("conjugate gradients did not converge on the probes")
    alphas = [A[~np.isnan(A[:, c]), c] for c in range(m)]
    betas = [Bt[~np.isnan(Bt[:, c]), c] for c in range(m)]
    return X, alphas, betas


def lanczos_logquad(alpha: np.ndarray, beta: np.ndarray) -> float:
    """e1' log(T) e1 for the Lanczos tridiagonal T of preconditioned CG with coefficients
    ``alpha`` (step lengths) and ``beta`` (residual ratios): the Gauss quadrature of log."""
    k = alpha.size
    if k == 0:
        return 0.0
    diag = 1.0 / alpha
    diag[1:] += beta[:-1] / alpha[:-1]
    off = np.sqrt(beta[:-1]) / alpha[:-1]
    theta, vecs = eigh_tridiagonal(diag, off)
    if not np.all(theta > 0):
        raise np.linalg.LinAlgError("Lanczos tridiagonal is not positive definite")
    return float(np.sum(vecs[0] ** 2 * np.log(theta)))


class StochasticFactor(DeferredFactor):
    """M for two scalar terms (see :class:`DeferredFactor`), with its log-determinant and the
    entries of M^-1 on each row's levels estimated from one block of probe solves (module
    docstring); solves stay exact (CG to 1e-12), and everything else asks the exact factor."""

    def __init__(self, L0: np.ndarray, L21: csr_matrix, a22: np.ndarray,
                 exact: Callable[[], Any], probes: np.ndarray, codes: tuple) -> None:
        super().__init__(L0, L21, a22, exact)
        self.probes, self.codes = probes, codes
        self._est: tuple | None = None

    def _estimates(self) -> tuple:
        """(log|S| estimate, X, W), computed once."""
        if self._est is None:
            pdiag = 1.0 / self._pinv
            R = self.probes
            X, alphas, betas = block_pcg(self._schur_mv_block, np.sqrt(pdiag)[:, None] * R,
                                         self._pinv)
            quad = [lanczos_logquad(a, b) for a, b in zip(alphas, betas)]
            norms = np.einsum("ij,ij->j", R, R)
            ld = float(np.sum(np.log(pdiag))) + float(np.mean(norms * np.array(quad)))
            self._est = (ld, X, R / np.sqrt(pdiag)[:, None])
        return self._est

    def _schur_mv_block(self, V: np.ndarray) -> np.ndarray:
        return self._a22[:, None] * V - self.L21 @ (self.L21T @ V)

    def logdet(self) -> float:
        """log |M|, with log |S| by stochastic Lanczos quadrature; +inf if S is found not to
        be positive definite."""
        try:
            ld = self._estimates()[0]
        except np.linalg.LinAlgError:
            return np.inf
        return 2.0 * float(np.sum(np.log(self.L0))) + ld

    def minv_rows(self, ZL: list[np.ndarray]) -> np.ndarray:
        """As ``PenalizedFactor.minv_rows`` (two scalar terms), from the estimates of S^-1:
        P22 = S^-1, P20 = -S^-1 B and P00 = D^-1 + diag(B' S^-1 B), B = L21 L0^-1 (the exact
        factor's if the probe solves fail)."""
        try:
            _, X, W = self._estimates()
        except np.linalg.LinAlgError:
            return self.exact().minv_rows(ZL)
        m = X.shape[1]
        Bt = (self.L21T.multiply(1.0 / self.L0[:, None])).tocsr()  # B' (q0 x q2)
        BX, BW = Bt @ X, Bt @ W
        p22 = np.einsum("ij,ij->i", X, W) / m
        p00 = 1.0 / self.L0 ** 2 + np.einsum("ij,ij->i", BX, BW) / m
        U, V = np.hstack([X, W]), np.hstack([BW, BX])  # P20[r, j] = -(U[r] . V[j]) / 2m
        c0, c1 = self.codes
        z0, z1 = ZL[0][:, 0], ZL[1][:, 0]
        n = c0.size
        out = np.empty((n, 2))
        for s in range(0, n, _CHUNK):
            e = min(s + _CHUNK, n)
            r, j = c1[s:e], c0[s:e]
            p20 = np.einsum("ij,ij->i", U[r], V[j]) * (-0.5 / m)
            out[s:e, 0] = p00[j] * z0[s:e] + p20 * z1[s:e]
            out[s:e, 1] = p20 * z0[s:e] + p22[r] * z1[s:e]
        return out
