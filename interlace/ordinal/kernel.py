"""The cumulative-link row kernel: the per-row passes of penalised IRLS for :func:`clmm`.

The family's link is the identity (mu = eta) and its PIRLS weight is the observed information,
so the kernel is a ``fused`` one (:mod:`interlace.families.kernel`): W is the Hessian of -log p
in eta, and dW/deta has a closed form (:mod:`interlace.ordinal.rows`). One evaluation at eta
gives log P and the ratios; the score, the weights, dW/deta and the derivatives in the cut
points (for the thresholds' gradient) are read from it. The state of the last eta is kept:
penalised IRLS evaluates a point, then asks for its score and weights (the same array).
"""

from __future__ import annotations

import numpy as np

from interlace.families.base import RowKernel
from interlace.ordinal.rows import (
    category_ends,
    cut_derivatives,
    cuts_for,
    information,
    row_state,
)


class OrdinalKernel(RowKernel):
    """Row kernel of an :class:`~interlace.ordinal.family.OrdinalFamily` (``fused``)."""

    fused = True

    def __init__(self, family, y: np.ndarray, weights: np.ndarray) -> None:
        super().__init__(family, y, weights)
        self.yi = self.y.astype(np.intp)
        self._ends = category_ends(self.yi, family.ncat - 1)  # the cut points' index arrays
        self._cuts: tuple | None = None  # (threshold key, Cuts)
        self._last: tuple | None = None  # (eta, threshold key, fp, state)

    @staticmethod
    def _key(fp: dict) -> tuple:
        """The thresholds' parameter values, with their names (the order may differ)."""
        return tuple(fp.items())

    def state(self, eta: np.ndarray, fp: dict) -> dict:
        """log P and the ratios at eta (the last state when eta is the same array)."""
        key = self._key(fp)
        last = self._last
        if last is not None and last[0] is eta and last[1] == key:
            return last[3]
        c = self._cuts
        if c is None or c[0] != key:
            c = self._cuts = (key, cuts_for(self.fam.thresholds(fp), self.yi, self._ends))
        st = row_state(self.fam.cumulative, c[1], eta, True)
        self._last = (eta, key, fp, st)
        return st

    def _weighted(self, v: np.ndarray) -> np.ndarray:
        return v if self.unit else self.w * v

    def evaluate(self, eta: np.ndarray, fp: dict) -> tuple[np.ndarray, float]:
        lp = self.state(eta, fp)["lp"]
        return eta, float(lp.sum() if self.unit else self.w @ lp)

    def score_weights(self, eta, mu, fp):
        st = self.state(eta, fp)
        W = st.get("W")
        if W is None:
            W = st["W"] = self._weighted(information(st, self.fam.cumulative.log_concave))
        return self._weighted(st["rb"] - st["ra"]), W, None, None

    def weights(self, eta, mu, fp):
        return self.score_weights(eta, mu, fp)[1]

    def derivatives(self, eta: np.ndarray, fp: dict) -> dict:
        """l, s and W differentiated in the cut points a and b per row, weighted
        (:func:`~interlace.ordinal.rows.cut_derivatives`: ``la``, ``lb``, ``sa``, ``sb``,
        ``Wa``, ``Wb``)."""
        st = self.state(eta, fp)
        d = st.get("deriv")
        if d is None:
            c = self._cuts[1]
            d = st["deriv"] = {k: self._weighted(v) for k, v in
                               cut_derivatives(self.fam.cumulative, c, st).items()}
        return d

    def weights_deta(self, eta, mu, W):
        """dW/deta = -(W_a + W_b), at the thresholds eta was last evaluated with."""
        last = self._last
        if last is None or last[0] is not eta:
            raise RuntimeError("OrdinalKernel.weights_deta needs the state of this eta: call "
                               "score_weights(eta, mu, fp) first")
        d = self.derivatives(eta, last[2])
        return -(d["Wa"] + d["Wb"])
