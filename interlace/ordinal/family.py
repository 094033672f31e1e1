"""Cumulative link (ordinal) family: the conditional distribution of :func:`interlace.clmm`.

The response is a category index y in 0..K-1 of an ordered factor with K levels. With the
linear predictor eta (no intercept: the thresholds take its place) and a latent distribution
F (the *cumulative link*: logistic, normal, ...; :mod:`interlace.ordinal.links`), as R's
ordinal package writes it,

    P(y <= j | eta) = F(tau_j - eta),    tau_0 = -inf < tau_1 < ... < tau_{K-1} < tau_K = +inf,
    log p(y | eta)  = log(F(tau_{y+1} - eta) - F(tau_y - eta))     (y 0-based: categories 1..K),

so a positive coefficient moves probability to higher categories. To the fitting core the
family's link is the identity (mu = eta); F is the family's own, chosen by ``link``.

The thresholds are family parameters, estimated jointly with beta and theta, in one of
ordinal's structures (``threshold=``: flexible, symmetric, equidistant;
:mod:`interlace.ordinal.thresholds`), parametrised so that they stay ordered without
constraints. For the flexible structure ``threshold_1`` = tau_1 (real line) and ``spacing_j``
= tau_j - tau_{j-1} > 0 (j >= 2, log scale).

Score and information in eta are analytic (:mod:`interlace.ordinal.rows`): with
P = F(a) - F(b), a = tau_{y+1} - eta, b = tau_y - eta, r_a = f(a)/P, r_b = f(b)/P, g = f'/f,

    d log p / d eta   = r_b - r_a,
    -d2 log p / d eta2 = (r_a - r_b)^2 - (g(a) r_a - g(b) r_b),

the observed information, positive for a log-concave F (all links but cauchit). The family
uses it as its PIRLS weight (``info_mu``), so the Laplace log-determinant and the adaptive
quadrature scale use the observed Hessian of the conditional log-likelihood at the mode, as
ordinal::clmm does. Its row kernel (:class:`interlace.ordinal.kernel.OrdinalKernel`) computes
them together, with their derivatives for the exact gradient.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from interlace.errors import DataError, InterlaceError, PluginError
from interlace.families.base import Family, FamilyParameter, RowKernel
from interlace.ordinal.clm import clm_fit
from interlace.ordinal.kernel import OrdinalKernel
from interlace.ordinal.links import CUMULATIVE_LINKS, CumulativeLink, cumulative_link
from interlace.ordinal.rows import cuts_for, information, row_state
from interlace.ordinal.thresholds import THRESHOLDS, ThresholdStructure, threshold_structure

__all__ = ["OrdinalFamily", "CUMULATIVE_LINKS", "CumulativeLink", "cumulative_link",
           "check_threshold"]


def check_threshold(threshold: Any) -> str:
    """The threshold structure's name, or an error naming the allowed ones."""
    if not isinstance(threshold, str) or threshold not in THRESHOLDS:
        raise InterlaceError(f"threshold must be one of {', '.join(map(repr, THRESHOLDS))}, "
                             f"got {threshold!r}")
    return threshold


class OrdinalFamily(Family):
    """Cumulative link model for an ordered response coded 0..ncat-1 (R's ordinal::clm/clmm).

    ``link`` is the cumulative link (logit, probit, cloglog, loglog or cauchit); ``ncat`` the
    number of categories; ``threshold`` the thresholds' structure ("flexible", "symmetric" or
    "equidistant", as ordinal's). Thresholds may be fixed by passing their parameters' values
    (``threshold_1=``, ``spacing_j=``...). Fit with :func:`interlace.clmm`, which codes the
    response, drops the intercept (the thresholds absorb it) and sets ``ncat``.
    """

    name = "ordinal"
    aliases = ("cumulative", "clm")
    links = ("identity",)
    canonical_link = "identity"  # info_mu is the observed information: the two agree

    def __init__(self, link: Any = "logit", ncat: int | None = None,
                 threshold: str = "flexible", **thresholds: float | None) -> None:
        self.cumulative = cumulative_link("logit" if link is None else link)
        if ncat is not None:
            if isinstance(ncat, bool) or not isinstance(ncat, (int, np.integer)) or ncat < 2:
                raise PluginError(f"ordinal family: ncat must be an integer >= 2, got {ncat!r}")
            ncat = int(ncat)
        self.ncat = ncat
        self.threshold = check_threshold(threshold)
        self.structure: ThresholdStructure | None = (
            None if ncat is None else threshold_structure(self.threshold, ncat))
        self._cache: tuple | None = None
        self._bcache: tuple | None = None
        super().__init__(link="identity", **thresholds)

    # -- parameters ----------------------------------------------------------------------
    def default_parameters(self) -> list[FamilyParameter]:
        s = self.structure
        if s is None:
            return []
        return [FamilyParameter(n, None, start=0.0 if t == "identity" else 1.0, transform=t,
                                description=f"{s.kind} thresholds: {n}")
                for n, t in zip(s.names, s.transforms)]

    def thresholds(self, params: dict[str, float]) -> np.ndarray:
        """tau_1 < ... < tau_{K-1} from the parameter values."""
        return self._need_structure().thresholds(params)

    def threshold_coefficients(self, params: dict[str, float]) -> np.ndarray:
        """ordinal's threshold coefficients (alpha, with tau = tJac alpha)."""
        return self._need_structure().alpha(params)

    def threshold_params(self, tau: np.ndarray) -> dict[str, float]:
        """Parameter values giving thresholds ``tau`` (strictly increasing): exactly for the
        flexible structure, the closest such thresholds for the others."""
        return self._need_structure().from_thresholds(tau)

    def threshold_jacobian(self, params: dict[str, float]) -> np.ndarray:
        """d tau / d z, with z the parameters on their unconstrained (optimizer) scale."""
        s = self._need_structure()
        return s.L * s.dpsi_dz(params)[None, :]

    def coefficient_jacobian(self, params: dict[str, float]) -> np.ndarray:
        """d alpha / d z (ordinal's threshold coefficients over the optimizer's scale)."""
        s = self._need_structure()
        return s.C * s.dpsi_dz(params)[None, :]

    def _need_ncat(self) -> int:
        if self.ncat is None:
            raise PluginError(
                "the ordinal family needs the number of categories: use interlace.clmm(), or "
                "OrdinalFamily(link=..., ncat=K) with the response coded 0..K-1"
            )
        return self.ncat

    def _need_structure(self) -> ThresholdStructure:
        self._need_ncat()
        assert self.structure is not None
        return self.structure

    # -- the distribution ----------------------------------------------------------------
    def cuts(self, y: np.ndarray, params: dict[str, float]):
        """Per-row cut points for the thresholds of ``params`` (kept while they and y are)."""
        pkey = tuple([float(params[n]) for n in self.parameters])
        c = self._bcache
        if c is not None and c[0] == pkey and c[1].shape == y.shape and np.array_equal(c[1], y):
            return c[2]
        cuts = cuts_for(self.thresholds(params), np.asarray(y).astype(np.intp))
        self._bcache = (pkey, np.array(y, copy=True), cuts)
        return cuts

    def _state(self, y, mu, params, ratios: bool) -> dict:
        """log P and (with ``ratios``) r_a, r_b, g(a) r_a, g(b) r_b per row, unweighted.

        The last evaluation is kept: callers ask for the log-density, score and information
        at the same (y, eta, thresholds) in turn, and this computes them once.
        """
        mu = np.asarray(mu, dtype=float)
        y = np.asarray(y)
        pkey = tuple([float(params[n]) for n in self.parameters])
        c = self._cache
        if (c is not None and c[0] == pkey and c[1].shape == mu.shape
                and c[2].shape == y.shape and np.array_equal(c[1], mu)
                and np.array_equal(c[2], y)):
            st = c[3]
            if not ratios or "ra" in st:
                return st
        st = row_state(self.cumulative, self.cuts(y, params), mu, ratios)
        self._cache = (pkey, mu.copy(), y.copy(), st)  # copies: callers may reuse arrays
        return st

    def loglik(self, y, mu, weights, params):
        # with the ratios: the score at the same point is usually asked for next
        return weights * self._state(y, mu, params, True)["lp"]

    def score_mu(self, y, mu, weights, params):
        st = self._state(y, mu, params, True)
        return weights * (st["rb"] - st["ra"])

    def obs_info_mu(self, y, mu, weights, params):
        st = self._state(y, mu, params, True)
        return weights * information(st, self.cumulative.log_concave)

    def info_mu(self, y, mu, weights, params):
        """The observed information (see the module docstring)."""
        return self.obs_info_mu(y, mu, weights, params)

    def row_kernel(self, y: np.ndarray, weights: np.ndarray) -> RowKernel | None:
        """The cumulative-link kernel: log P, score, information and dW/deta in one pass."""
        return OrdinalKernel(self, y, weights)

    def variance(self, mu, params):
        """Var(y | eta) of the category index."""
        P = self.probabilities(mu, params)
        k = np.arange(P.shape[1])
        m = P @ k
        return P @ (k * k) - m * m

    def validate(self, y, weights, label):
        K = self._need_ncat()
        y = np.asarray(y, dtype=float)
        bad = ~np.isfinite(y) | (y != np.round(y)) | (y < 0) | (y > K - 1)
        if np.any(bad):
            i = int(np.flatnonzero(bad)[0])
            raise DataError(
                f"response {label!r} must hold category indices 0..{K - 1} for the ordinal "
                f"family (use interlace.clmm() with an ordered response); row {i} has {y[i]!r}"
            )

    def initialize(self, y, weights):
        return np.zeros(np.shape(y), dtype=float)

    def marginal_thresholds(self, y, weights) -> np.ndarray:
        """Thresholds matching the marginal cumulative proportions of y (with eta = 0)."""
        K = self._need_ncat()
        counts = np.bincount(np.asarray(y).astype(np.intp), weights=weights, minlength=K)
        cum = np.clip(np.cumsum(counts)[:-1] / counts.sum(), 1e-6, 1 - 1e-6)
        tau = np.maximum.accumulate(self.cumulative.ppf(cum))
        return tau + np.arange(K - 1) * 1e-3  # strictly increasing even for tiny categories

    def fit_fixed(self, y, weights, X, offset, tau0=None, maxiter: int = 100):
        """Maximum likelihood (thresholds, beta) of the model without random effects (R's
        ``clm``), by Newton's method with the analytic Hessian (:mod:`interlace.ordinal.clm`).
        Returns (tau, beta); used for starting values."""
        y = np.asarray(y, float)
        tau = self.marginal_thresholds(y, weights) if tau0 is None else np.asarray(tau0, float)
        tau, beta, _ = clm_fit(self, y, weights, X, offset, tau, maxiter=maxiter)
        return tau, beta

    def start_parameters(self, design, beta0) -> dict[str, float]:
        """Thresholds given the starting coefficients (the framework's hook, called after the
        GLM start): the maximum likelihood thresholds with eta = X beta0 held fixed."""
        eta0 = design.offset + design.X @ beta0
        w = design.weights
        tau0 = self.marginal_thresholds(design.y, w) + float(np.average(eta0, weights=w))
        tau, _, _ = clm_fit(self, design.y, w, np.zeros((design.n, 0)), eta0, tau0, tol=1e-8)
        return {k: v for k, v in self.threshold_params(tau).items()
                if not self.parameters[k].fixed}

    # -- predictions ---------------------------------------------------------------------
    def cumulative_probabilities(self, eta, params) -> np.ndarray:
        """P(y <= j | eta) for j = 1..K-1, shape (n, K-1)."""
        tau = self.thresholds(params)
        return self.cumulative.cdf(tau[None, :] - np.asarray(eta, float)[:, None])

    def probabilities(self, eta, params) -> np.ndarray:
        """P(y = k | eta) for every category, shape (n, K); rows sum to 1."""
        eta = np.asarray(eta, float)
        n, K = eta.shape[0], self._need_ncat()
        P = np.empty((n, K))
        params_tau = self.thresholds(params)
        ext = np.concatenate([[-np.inf], params_tau, [np.inf]])
        for k in range(K):
            P[:, k] = np.exp(self.cumulative.log_interval(ext[k + 1] - eta, ext[k] - eta))
        return P

    def simulate(self, mu, weights, params, rng):
        """Category indices drawn by inverting the cumulative probabilities."""
        cum = self.cumulative_probabilities(mu, params)
        u = rng.random(len(mu))
        return np.sum(u[:, None] > cum, axis=1).astype(float)

    def __repr__(self) -> str:
        extra = "" if self.threshold == "flexible" else f", threshold={self.threshold!r}"
        return f"OrdinalFamily(link={self.cumulative.name!r}, ncat={self.ncat!r}{extra})"
