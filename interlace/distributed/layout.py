"""The layout of u over the random terms, shared by the driver and the workers: terms in the
blocked solver's order (largest first, :func:`interlace.linalg.penalized.solver_order`), each
term's block level-major, as the in-memory fit lays u out."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from interlace.linalg.penalized import solver_order


@dataclass(frozen=True)
class ULayout:
    """Per solver position: the design term, its columns k, levels and slice of u; the lead
    term's block is diagonal by level, the trailing terms' rows are numbered after it."""

    order: tuple  # design term index per solver position
    ks: tuple  # columns per solver position
    nlevels: tuple  # levels per solver position

    @classmethod
    def of(cls, ks: list[int], nlevels: list[int]) -> ULayout:
        """The layout of terms with ``ks`` columns and ``nlevels`` levels (design order)."""
        order = tuple(solver_order([k * n for k, n in zip(ks, nlevels)]))
        return cls(order, tuple(ks[i] for i in order), tuple(nlevels[i] for i in order))

    @property
    def qs(self) -> list[int]:
        return [k * n for k, n in zip(self.ks, self.nlevels)]

    @property
    def q(self) -> int:
        return int(sum(self.qs))

    @property
    def q0(self) -> int:
        return self.qs[0]

    @property
    def q2(self) -> int:
        return self.q - self.q0

    @property
    def slices(self) -> list[slice]:
        offs = np.cumsum([0] + self.qs)
        return [slice(int(a), int(b)) for a, b in zip(offs[:-1], offs[1:])]

    @property
    def rest_offsets(self) -> list[int]:
        """Each trailing position's first row in the trailing block (lead: 0, unused)."""
        offs = np.cumsum([0] + self.qs[1:])
        return [0] + [int(o) for o in offs[:-1]]

    @property
    def col0(self) -> list[int]:
        """First column of each position in a row's (sum k) entries."""
        return [int(c) for c in np.cumsum([0] + list(self.ks))[:-1]]

    @property
    def pos_of(self) -> dict[int, int]:
        return {ti: pos for pos, ti in enumerate(self.order)}
