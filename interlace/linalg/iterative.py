"""Solves with the penalised system M by preconditioned conjugate gradients, factoring later.

For two crossed scalar terms with many levels each, the Schur complement S of the trailing
block (after eliminating the diagonal lead block) is q2 x q2 and nearly dense, so its Cholesky
costs q2^3 / 3 per factorisation. PIRLS factors M at every Newton step but only needs the
final factor (the log-determinant and the gradient at the mode); its steps need only solves.
:class:`DeferredFactor` does those solves by conjugate gradients on S, whose products are
sparse (S v = a22 v - L21 L21' v, a22 diagonal), with S's diagonal as preconditioner, and
factors M exactly the first time anything else is asked of it. The answers are the exact ones:
the solves converge to a residual of ``tol`` relative, and fall back to the factor if not.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from scipy.sparse import csr_matrix

PCG_TOL = 1e-12  # relative residual of the S solves
PCG_MAXIT = 400  # beyond this the exact factor is cheaper: solve with it instead


def pcg(matvec: Callable, b: np.ndarray, pinv: np.ndarray, tol: float = PCG_TOL,
        maxit: int = PCG_MAXIT) -> np.ndarray | None:
    """Solve S x = b (S symmetric positive definite, given by ``matvec``) by conjugate
    gradients with the diagonal preconditioner ``pinv`` (1 / diag S); None if not converged."""
    x = np.zeros_like(b)
    r = b.copy()
    bnorm = float(np.linalg.norm(b))
    if bnorm == 0.0:
        return x
    z = pinv * r
    p = z.copy()
    rz = float(r @ z)
    for _ in range(maxit):
        Sp = matvec(p)
        pSp = float(p @ Sp)
        if not pSp > 0.0:
            return None
        alpha = rz / pSp
        x += alpha * p
        r -= alpha * Sp
        if float(np.linalg.norm(r)) <= tol * bnorm:
            return x
        z = pinv * r
        rz_new = float(r @ z)
        p = z + (rz_new / rz) * p
        rz = rz_new
    return None


class DeferredFactor:
    """M for two scalar terms (diagonal lead block, one diagonal trailing block): solves by
    conjugate gradients on the Schur complement; the exact factor, built by ``exact()`` on
    first need, answers everything else (log-determinant, inverse parts, leverages)."""

    def __init__(self, L0: np.ndarray, L21: csr_matrix, a22: np.ndarray,
                 exact: Callable[[], Any]) -> None:
        self.L0, self.L21, self._exact_fn, self._exact = L0, L21, exact, None
        self.L21T = L21.T.tocsr()
        d = a22 - np.asarray(L21.multiply(L21).sum(axis=1)).ravel()
        self._a22 = a22
        self._pinv = 1.0 / np.where(d > 0, d, a22)

    def exact(self) -> Any:
        """The exact (Cholesky) factor of M, computed once."""
        if self._exact is None:
            exact = self._exact_fn()
            if exact is None:  # numerically indefinite after all
                raise np.linalg.LinAlgError("penalised system is not positive definite")
            self._exact = exact
        return self._exact

    def _schur_mv(self, v: np.ndarray) -> np.ndarray:
        return self._a22 * v - self.L21 @ (self.L21T @ v)

    def _solve1(self, r: np.ndarray) -> np.ndarray:
        q0 = self.L0.size
        y0 = r[:q0] / self.L0
        x2 = pcg(self._schur_mv, r[q0:] - self.L21 @ y0, self._pinv)
        if x2 is None:
            return self.exact().solve(r)
        x0 = (y0 - self.L21T @ x2) / self.L0
        return np.concatenate([x0, x2])

    def solve(self, r: np.ndarray) -> np.ndarray:
        """M^-1 r for r of shape (q,) or (q, m)."""
        if self._exact is not None:
            return self._exact.solve(r)
        if r.ndim == 1:
            return self._solve1(r)
        return np.column_stack([self._solve1(r[:, j]) for j in range(r.shape[1])])

    def logdet(self) -> float:
        """log |M|, from the exact factor; +inf if M is numerically indefinite (the deviance is
        then infinite, as for a failed factor on the Cholesky path)."""
        try:
            return self.exact().logdet()
        except np.linalg.LinAlgError:
            return np.inf

    def inverse_parts(self) -> tuple:
        """See ``PenalizedFactor.inverse_parts``."""
        return self.exact().inverse_parts()

    def inverse_traces(self) -> np.ndarray | None:
        """See ``PenalizedFactor.inverse_traces``."""
        return self.exact().inverse_traces()

    def minv_rows(self, ZL: list[np.ndarray]) -> np.ndarray:
        """See ``PenalizedFactor.minv_rows``."""
        return self.exact().minv_rows(ZL)

    def dense(self) -> np.ndarray:
        """M as a dense matrix (tests and debugging only)."""
        return self.exact().dense()
