"""The penalised system M = I + A'WA on the driver, from a pass's sums, factored in blocks.

The lead term's block of M is diagonal by level (one k0 x k0 block each); the trailing terms'
rows meet it in a sparse cross block C and each other in a block T, factored through the Schur
complement S = T - C D^-1 C' (dense, q2 x q2), as :mod:`interlace.linalg.penalized` does for
the in-memory fit. It gives solves, log|M| and the entries of M^-1 on the pattern of M that
the gradient needs on every row.
"""

from __future__ import annotations

import numpy as np
from scipy.linalg import cho_factor, cho_solve
from scipy.sparse import bsr_matrix, csr_matrix, diags

from interlace.distributed.layout import ULayout
from interlace.errors import UnsupportedModelError

MAX_CROSS_DENSE = 50_000_000  # q2 * q0 above which M^-1's cross block is not formed


class BlockFactor:
    """Cholesky-type factor of M from the lead blocks, the cross and the trailing block."""

    def __init__(self, lay: ULayout, Dinv: np.ndarray, logdet: float, E=None, S=None) -> None:
        self.lay, self.Dinv, self.logdet_value, self.E, self.S = lay, Dinv, logdet, E, S

    @classmethod
    def factor(cls, stats: dict, lay: ULayout) -> BlockFactor | None:
        """The factor of I + A'WA from ``stats`` (``lead``, ``cross``, ``trail``); None when M
        is not positive definite."""
        k0 = lay.ks[0]
        D = stats["lead"] + np.eye(k0)[None]
        try:
            L = np.linalg.cholesky(D)
        except np.linalg.LinAlgError:
            return None
        logdet = 2.0 * float(np.sum(np.log(np.diagonal(L, axis1=1, axis2=2))))
        Dinv = 1.0 / D if k0 == 1 else np.linalg.inv(D)
        if lay.q2 == 0:
            return cls(lay, Dinv, logdet)
        C = stats["cross"]
        E = csr_matrix(C @ cls.block_diagonal(Dinv, lay))
        S = stats["trail"].toarray() + np.eye(lay.q2) - (E @ C.T).toarray()
        try:
            Sf = cho_factor(S, lower=True)
        except np.linalg.LinAlgError:
            return None
        logdet += 2.0 * float(np.sum(np.log(np.diag(Sf[0]))))
        return cls(lay, Dinv, logdet, E, Sf)

    @staticmethod
    def block_diagonal(Dinv: np.ndarray, lay: ULayout):
        """D^-1 as a sparse q0 x q0 matrix."""
        n0, k0 = lay.nlevels[0], lay.ks[0]
        if k0 == 1:
            return diags(Dinv[:, 0, 0])
        return bsr_matrix((Dinv, np.arange(n0), np.arange(n0 + 1)), shape=(n0 * k0, n0 * k0))

    def logdet(self) -> float:
        """log |M|."""
        return self.logdet_value

    def lead_solve(self, r0: np.ndarray) -> np.ndarray:
        """D^-1 r0."""
        k0 = self.lay.ks[0]
        if k0 == 1:
            return self.Dinv[:, 0, 0] * r0
        return np.einsum("lab,lb->la", self.Dinv, r0.reshape(-1, k0)).ravel()

    def solve(self, r: np.ndarray) -> np.ndarray:
        """M^-1 r."""
        q0 = self.lay.q0
        if self.E is None:
            return self.lead_solve(r)
        x2 = cho_solve(self.S, r[q0:] - self.E @ r[:q0])
        return np.concatenate([self.lead_solve(r[:q0]) - self.E.T @ x2, x2])

    def inverse_parts(self, pattern: np.ndarray | None) -> tuple:
        """M^-1's entries that rows can touch: the lead blocks (n0, k0, k0), the cross block at
        the flat keys ``pattern`` (row * q0 + column, sorted) as (keys, values), and the
        trailing block (dense)."""
        lay, k0 = self.lay, self.lay.ks[0]
        if self.E is None:
            return self.Dinv, (np.zeros(0, np.int64), np.zeros(0)), np.zeros((0, 0))
        if lay.q2 * lay.q0 > MAX_CROSS_DENSE:
            raise UnsupportedModelError(
                f"the exact Laplace gradient of crossed random effects with {lay.q0} x {lay.q2} "
                f"levels is too large for a distributed fit (limit {MAX_CROSS_DENSE} entries); "
                f"fit it in memory or with fewer levels in the smaller grouping factor")
        P22 = cho_solve(self.S, np.eye(lay.q2))
        SE = np.asarray((self.E.T @ P22).T)  # S^-1 E, q2 x q0
        Ec = self.E.tocoo()  # (E' S^-1 E)'s lead blocks, entry by entry
        n0 = lay.nlevels[0]
        P00 = np.array(self.Dinv, dtype=float, copy=True)
        for b in range(k0):
            jb = (Ec.col // k0) * k0 + b
            vals = Ec.data * SE[Ec.row, jb]
            flat = (Ec.col // k0) * k0 * k0 + (Ec.col % k0) * k0 + b
            P00 += np.bincount(flat, vals, minlength=n0 * k0 * k0).reshape(n0, k0, k0)
        rows, cols = pattern // lay.q0, pattern % lay.q0
        return P00, (pattern, -SE[rows, cols]), P22
