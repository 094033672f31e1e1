"""Per-row passes of penalised IRLS, fused: the mean, the log-density kernel, score and weights.

PIRLS needs, at every trial point, mu = g^-1(eta) and sum_i log p(y_i | mu_i); at every
iteration the score in eta and the Fisher weights. The generic kernel asks the family and link
for each piece. For the two canonical pairs most models use (Poisson with the log link, the
binomial with the logit link) the pieces share their work: log mu is eta, the score in eta is
w (y - mu) and the weight is w V(mu), so a trial point costs a few numpy passes instead of a
dozen. Values agree with the generic kernel to rounding; outside the range where the link's
clipping matters the fused kernels fall back to it.
"""

from __future__ import annotations

import math

import numpy as np

_TINY = np.finfo(float).tiny
_EPS = np.finfo(float).eps / 2
_ETA_SAFE = 700.0  # |eta| below this: exp neither overflows nor hits the log link's clip
_SUM_SAFE = 1e300  # a sum of exp(eta) below this has every eta below 690.8
_LOGIT_SAFE = 30.0  # |eta| below this: expit(eta) is inside the binomial's clip [tiny, 1 - eps]


class RowKernel:
    """Generic kernel: every quantity from the family's and the link's own methods."""

    fused = False  # canonical pair with closed forms (and weights_deta)

    def __init__(self, family, y: np.ndarray, weights: np.ndarray) -> None:
        self.fam, self.link, self.source = family, family.link, (y, weights)
        self.y = np.ascontiguousarray(y, dtype=float)
        self.w = np.ascontiguousarray(weights, dtype=float)
        self.unit = bool(np.all(self.w == 1.0))
        from interlace.links.base import Link

        self._finite_only = type(self.link).valid_eta is Link.valid_eta  # the base class's check

    def evaluate(self, eta: np.ndarray, fp: dict) -> tuple[np.ndarray, float]:
        """The mean and the sum of the family's mu-dependent log-density terms at ``eta``."""
        mu = self.link.inverse(eta)
        return mu, float(np.sum(self.fam.loglik_kernel(self.y, mu, self.w, fp)))

    def evaluate_checked(self, eta: np.ndarray, fp: dict) -> tuple[np.ndarray, float] | None:
        """``evaluate``, or None where the link cannot map ``eta`` to a mean."""
        ok = np.isfinite(eta).all() if self._finite_only else self.link.valid_eta(eta)
        if not ok:
            return None
        return self.evaluate(eta, fp)

    def score_weights(self, eta: np.ndarray, mu: np.ndarray, fp: dict
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Score in eta, Fisher weights in eta, and the score in mu and d mu / d eta."""
        me = self.link.mu_eta(eta)
        s_mu = self.fam.score_mu(self.y, mu, self.w, fp)
        return s_mu * me, self.fam.info_mu(self.y, mu, self.w, fp) * me * me, s_mu, me

    def weights(self, eta: np.ndarray, mu: np.ndarray, fp: dict) -> np.ndarray:
        """Fisher weights in eta alone."""
        me = self.link.mu_eta(eta)
        return self.fam.info_mu(self.y, mu, self.w, fp) * me * me


class PoissonLogKernel(RowKernel):
    """Poisson, log link: log mu = eta, score w (y - mu), weight w mu."""

    fused = True

    def __init__(self, family, y, weights) -> None:
        super().__init__(family, y, weights)
        self.wy = self.y if self.unit else self.w * self.y

    def evaluate(self, eta, fp):
        if not (eta.max() < _ETA_SAFE and eta.min() > -_ETA_SAFE):
            return super().evaluate(eta, fp)
        mu = np.exp(eta)
        return mu, float(self.wy @ eta) - float(mu.sum() if self.unit else self.w @ mu)

    def evaluate_checked(self, eta, fp):
        # exp, its sum and y'eta detect non-finite eta and eta above ~690 on their own, so
        # the link's finiteness check and the upper range check are skipped on the fast path
        with np.errstate(over="ignore", invalid="ignore"):
            mu = np.exp(eta)
            total = float(mu.sum())
            lin = float(self.wy @ eta)
        if total < _SUM_SAFE and math.isfinite(lin) and eta.min() > -_ETA_SAFE:
            return mu, lin - (total if self.unit else float(self.w @ mu))
        return super().evaluate_checked(eta, fp)

    def score_weights(self, eta, mu, fp):
        if self.unit:
            return self.y - mu, mu, None, None
        return self.wy - self.w * mu, self.w * mu, None, None

    def weights(self, eta, mu, fp):
        return mu if self.unit else self.w * mu

    def weights_deta(self, eta, mu, W):
        """dW/deta given W: w mu."""
        return W


class BinomialLogitKernel(RowKernel):
    """Binomial, logit link: score w (y - mu), weight w mu (1 - mu)."""

    fused = True

    def __init__(self, family, y, weights) -> None:
        super().__init__(family, y, weights)
        self.s = self.w * self.y  # successes
        self.f = self.w - self.s  # failures

    def evaluate(self, eta, fp):
        mu = self.link.inverse(eta)
        mc = np.minimum(np.maximum(mu, _TINY), 1.0 - _EPS)  # the family's own clip
        return mu, float(self.s @ np.log(mc)) + float(self.f @ np.log1p(-mc))

    def evaluate_checked(self, eta, fp):
        # |eta| < 30 (which also rules out NaN and inf): the family's clip of mu to
        # [tiny, 1 - eps] changes nothing, so the range check replaces both it and the
        # finiteness check
        if eta.max() < _LOGIT_SAFE and eta.min() > -_LOGIT_SAFE:
            mu = self.link.inverse(eta)
            return mu, float(self.s @ np.log(mu)) + float(self.f @ np.log1p(-mu))
        return super().evaluate_checked(eta, fp)

    def score_weights(self, eta, mu, fp):
        v = mu * (1.0 - mu)
        np.maximum(v, _TINY, out=v)
        if self.unit:
            return self.y - mu, v, None, None
        return self.s - self.w * mu, self.w * v, None, None

    def weights(self, eta, mu, fp):
        v = mu * (1.0 - mu)
        np.maximum(v, _TINY, out=v)
        return v if self.unit else self.w * v

    def weights_deta(self, eta, mu, W):
        """dW/deta given W: w mu (1 - mu) (1 - 2 mu)."""
        return W * (1.0 - 2.0 * mu)


class FixedEffects:
    """X stored by column (p x n, C order): X beta and X' v as p-term sums of contiguous rows,
    several times faster than a matrix-vector product on a tall row-major X."""

    def __init__(self, X: np.ndarray, offset: np.ndarray) -> None:
        self.source = (X, offset)
        self.p = X.shape[1]
        self.narrow = self.p <= 16 and X.shape[0] >= 5_000  # tall and narrow: sum of columns
        self.X = np.ascontiguousarray(X, dtype=float)
        self.XT = np.ascontiguousarray(X.T, dtype=float)
        self.offset = np.ascontiguousarray(offset, dtype=float)
        self.has_offset = bool(np.any(self.offset != 0.0))

    def xbeta(self, beta: np.ndarray) -> np.ndarray:
        """offset + X beta."""
        if not self.narrow or self.p == 0:
            out = self.X @ beta
            return out + self.offset if self.has_offset else out
        out = self.XT[0] * beta[0]
        for j in range(1, self.p):
            out += beta[j] * self.XT[j]
        if self.has_offset:
            out += self.offset
        return out

    def xt_dot(self, v: np.ndarray) -> np.ndarray:
        """X' v."""
        return self.XT @ v


def row_kernel(family, y: np.ndarray, weights: np.ndarray) -> RowKernel:
    """The fused kernel for the built-in canonical pairs, the generic one otherwise."""
    from interlace.families.binomial import BinomialFamily
    from interlace.families.poisson import PoissonFamily
    from interlace.links.log import LogLink
    from interlace.links.logit import LogitLink

    if type(family) is PoissonFamily and type(family.link) is LogLink:
        return PoissonLogKernel(family, y, weights)
    if type(family) is BinomialFamily and type(family.link) is LogitLink:
        return BinomialLogitKernel(family, y, weights)
    return RowKernel(family, y, weights)


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
