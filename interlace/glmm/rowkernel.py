"""The model's per-row kernel and its column-major fixed-effects matrix, built once per model.

The kernel (the per-row passes of penalised IRLS: the mean, the log-density kernel, score and
weights) is part of the family contract, :class:`interlace.families.base.RowKernel`: a family
offers a faster one from its ``row_kernel`` hook (the built-in Poisson and binomial do for their
canonical links), otherwise the generic kernel is used.
"""

from __future__ import annotations

import numpy as np

from interlace.families.base import RowKernel


class FixedEffects:
    """X stored by column (p x n, C order): X beta and X' v as products with contiguous rows,
    several times faster than a matrix-vector product on a tall row-major X."""

    def __init__(self, X: np.ndarray, offset: np.ndarray) -> None:
        self.source = (X, offset)
        self.p = X.shape[1]
        self.narrow = self.p <= 16 and X.shape[0] >= 5_000  # tall and narrow: beta @ XT
        self.X = np.ascontiguousarray(X, dtype=float)
        self.XT = np.ascontiguousarray(X.T, dtype=float)
        self.offset = np.ascontiguousarray(offset, dtype=float)
        self.has_offset = bool(np.any(self.offset != 0.0))

    def xbeta(self, beta: np.ndarray) -> np.ndarray:
        """offset + X beta."""
        if not self.narrow or self.p == 0:
            out = self.X @ beta
            return out + self.offset if self.has_offset else out
        out = beta @ self.XT  # one BLAS pass over the contiguous columns
        if self.has_offset:
            out += self.offset
        return out

    def xt_dot(self, v: np.ndarray) -> np.ndarray:
        """X' v."""
        return self.XT @ v


def row_kernel(family, y: np.ndarray, weights: np.ndarray) -> RowKernel:
    """The family's own kernel (its ``row_kernel`` hook), the generic one otherwise."""
    return family.row_kernel(y, weights) or RowKernel(family, y, weights)


def kernel_for(ctx) -> RowKernel:
    """The model's kernel, built once and kept on the context."""
    k = ctx.__dict__.get("_row_kernel")
    d = ctx.design
    if k is None or k.fam is not ctx.family or k.source[0] is not d.y or k.source[1] is not d.weights:
        k = row_kernel(ctx.family, d.y, d.weights)
        ctx.__dict__["_row_kernel"] = k
    return k


def fixed_effects_for(ctx) -> FixedEffects:
    """The model's column-major X, built once and kept on the context."""
    fe = ctx.__dict__.get("_fixed_effects")
    d = ctx.design
    if fe is None or fe.source[0] is not d.X or fe.source[1] is not d.offset:
        fe = FixedEffects(d.X, d.offset)
        ctx.__dict__["_fixed_effects"] = fe
    return fe
