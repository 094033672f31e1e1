"""The joint Hessian of random effects in ``ziformula`` as 2 x 2 blocks per level.

When the conditional model and the zero part each have one scalar random term on the same
grouping (``count ~ x + (1 | site)`` with ``ziformula = ~ z + (1 | site)``, the common case),
level j's effects (u_c,j, u_z,j) meet no other level's: H = I + A'JA is block diagonal with a
2 x 2 block per level. :class:`PairFactor` factors it in closed form (a few vector operations
instead of the general blocked Cholesky of :mod:`interlace.linalg.penalized`), with the three
operations the joint Laplace approximation asks of a factor: ``logdet``, ``solve`` and
``minv_rows``, in the general system's order and layout, so that either serves.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from interlace.linalg.penalized import PenalizedSystem


@dataclass
class PairLayout:
    """Where the two terms sit in the general system: positions (solver order) and slices."""

    pos: tuple[int, int]  # (first, second) term in the system's solver order
    codes: np.ndarray  # the stacked rows' levels (2n)
    nlevels: int
    q: int

    @classmethod
    def of(cls, system: PenalizedSystem) -> PairLayout | None:
        """The layout when the system is two scalar terms on one grouping, else None."""
        t = system.terms
        if len(t) != 2 or t[0].k != 1 or t[1].k != 1 or t[0].nlevels != t[1].nlevels:
            return None
        if not np.array_equal(t[0].codes, t[1].codes):
            return None
        if system.slices[0] != slice(0, t[0].q):
            return None
        return cls((0, 1), np.asarray(t[0].codes), t[0].nlevels, system.q)

    def factor(self, ZL: list[np.ndarray], w: np.ndarray) -> PairFactor | None:
        """The blocks' Cholesky factors for pseudo-row weights ``w`` (None if one is not
        positive definite)."""
        a, b = ZL[0][:, 0], ZL[1][:, 0]
        L = self.nlevels
        h11 = 1.0 + np.bincount(self.codes, w * a * a, minlength=L)
        h12 = np.bincount(self.codes, w * a * b, minlength=L)
        h22 = 1.0 + np.bincount(self.codes, w * b * b, minlength=L)
        with np.errstate(invalid="ignore", divide="ignore"):
            l11 = np.sqrt(h11)
            l21 = h12 / l11
            s22 = h22 - l21 * l21
        if not (np.all(h11 > 0) and np.all(s22 > 0) and np.all(np.isfinite(s22))):
            return None
        return PairFactor(self, h11, h12, h22, l11, np.sqrt(s22))


class PairFactor:
    """The factored 2 x 2 blocks: log-determinant, solves and each row's H^-1 a_i."""

    def __init__(self, layout: PairLayout, h11, h12, h22, l11, l22) -> None:
        self.layout = layout
        det = h11 * h22 - h12 * h12
        self.i11, self.i12, self.i22 = h22 / det, -h12 / det, h11 / det  # H^-1 per level
        self._logdet = 2.0 * float(np.sum(np.log(l11)) + np.sum(np.log(l22)))

    def logdet(self) -> float:
        """log |H|."""
        return self._logdet

    def solve(self, r: np.ndarray) -> np.ndarray:
        """H^-1 r for r of shape (q,) or (q, m), in the system's order."""
        L = self.layout.nlevels
        r1, r2 = r[:L], r[L:]
        i11, i12, i22 = ((v if r.ndim == 1 else v[:, None]) for v in (self.i11, self.i12,
                                                                      self.i22))
        return np.concatenate([i11 * r1 + i12 * r2, i12 * r1 + i22 * r2])

    def minv_rows(self, ZL: list[np.ndarray]) -> np.ndarray:
        """Per row, H^-1 a_i on the row's own level of each term: (rows, 2)."""
        c = self.layout.codes
        a, b = ZL[0][:, 0], ZL[1][:, 0]
        i11, i12, i22 = self.i11[c], self.i12[c], self.i22[c]
        return np.column_stack([i11 * a + i12 * b, i12 * a + i22 * b])
