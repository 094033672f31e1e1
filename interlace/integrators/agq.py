"""Adaptive Gauss-Hermite quadrature (lme4's ``nAGQ > 1``) for one scalar random-effect term.

With a single scalar term (e.g. ``(1 | g)``) the spherical random effects u_j of the groups
are independent a priori and each observation depends on one u_j only, so

    log L = sum_j log  integral  exp(sum_{i in j} log p(y_i | u)) phi(u) du

is a sum of one-dimensional integrals. Each is centred at the conditional mode u^_j found by
PIRLS and scaled by s_j = 1 / sqrt(M_jj), where M_jj = 1 + sum_{i in j} W_i (Z Lambda)_i^2 is the
group's diagonal entry of the penalised system at the mode (expected-information weights, as
lme4 uses). With nodes z_k and weights w_k of the K-point Gauss-Hermite rule for the standard
normal density (``hermegauss`` weights divided by sqrt(2 pi)),

    log integral_j ~ log s_j + log sum_k w_k exp(h_j(u^_j + s_j z_k) + z_k^2 / 2),
    h_j(u) = sum_{i in j} log p(y_i | u) - u^2 / 2,

which is exact when exp(h_j) is a Gaussian (times a polynomial of degree < 2K) and, at K = 1,
is exactly the Laplace approximation  sum_i log p(y_i | u^) - |u^|^2/2 - log|M|/2.

Unlike lme4 (which drops the binomial coefficients when nAGQ > 1), the log-likelihood here
keeps every constant of the family's density, so it is comparable with the Laplace fit of the
same model and across nAGQ values.

All groups and nodes are evaluated at once: an (n, K) array of linear predictors, summed per
group with ``np.bincount``; there is no loop over groups.
"""

from __future__ import annotations

import numpy as np
from numpy.polynomial.hermite_e import hermegauss

from interlace.core.errors import UnsupportedModelError
from interlace.core.pirls import pirls
from interlace.integrators.base import IntegrationResult, Integrator

_LOG_SQRT_2PI = 0.5 * np.log(2.0 * np.pi)


def gauss_hermite_normal(k: int) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and log-weights of the k-point Gauss-Hermite rule for the N(0, 1) density."""
    z, w = hermegauss(k)
    return z, np.log(w) - _LOG_SQRT_2PI


class AGQIntegrator(Integrator):
    """Adaptive Gauss-Hermite quadrature with ``nAGQ`` nodes per group (one scalar term only)."""

    name = "agq"
    aliases = ("adaptive_gauss_hermite",)

    def __init__(self, nAGQ: int = 1, **options) -> None:
        super().__init__(nAGQ, **options)
        if self.nAGQ < 1:
            raise ValueError(f"nAGQ must be >= 1 for adaptive quadrature, got {self.nAGQ}")
        self.nodes, self.log_weights = gauss_hermite_normal(self.nAGQ)
        # z_k^2 / 2 + log w_k: the node's weight relative to the standard normal density
        self._node_shift = 0.5 * self.nodes**2 + self.log_weights
        self._cache: tuple | None = None

    def check(self, ctx) -> None:
        terms = ctx.design.terms
        if len(terms) == 1 and terms[0].k == 1:
            return
        if len(terms) != 1:
            labels = ", ".join(t.label for t in terms)
            why = (f"the model has {len(terms)} random-effect terms ({labels}); with more than "
                   f"one grouping factor (crossed or nested) the random effects do not factor "
                   f"into independent one-dimensional integrals per group")
        else:
            t = terms[0]
            why = (f"the random-effect term {t.label} has {t.k} columns; a vector random effect "
                   f"of dimension d needs nAGQ^d evaluations per group "
                   f"({self.nAGQ}^{t.k} = {self.nAGQ ** t.k} here)")
        raise UnsupportedModelError(
            f"nAGQ = {self.nAGQ} (adaptive Gauss-Hermite quadrature, integrator 'agq') needs "
            f"exactly one grouping factor with a single random effect such as (1 | group), as "
            f"in lme4: {why}. Use nAGQ=1 (the Laplace approximation) for this model."
        )

    def _structure(self, ctx):
        """Per-model arrays repeated over the nodes (cached for the last model seen)."""
        c = self._cache
        if c is not None and c[0] is ctx:
            return c[1:]
        d = ctx.design
        K = self.nAGQ
        codes = np.asarray(ctx.system.terms[0].codes, dtype=np.intp)
        nlev = ctx.system.n0
        y_rep = np.repeat(d.y, K)
        w_rep = np.repeat(d.weights, K)
        idx = (codes[:, None] * K + np.arange(K)[None, :]).ravel()
        self._cache = (ctx, codes, nlev, y_rep, w_rep, idx)
        return self._cache[1:]

    def integrate(self, ctx, theta, beta, fparams, u0):
        res = pirls(ctx, theta, beta, fparams, u0)
        if res.factor is None or not np.isfinite(res.cond_loglik):
            return IntegrationResult(-np.inf, res)
        ll, const = self._group_terms(ctx, theta, beta, fparams, res.u, res.factor.L0, full=False)
        return IntegrationResult(float(np.sum(ll)) + const, res)

    def group_logliks(self, ctx, theta, beta, fparams, u_hat, sqrt_m) -> np.ndarray:
        """Per-group log integrals, with all constants, at modes ``u_hat`` and scales
        1 / ``sqrt_m`` (``sqrt_m`` = sqrt(M_jj); PIRLS's ``factor.L0``)."""
        return self._group_terms(ctx, theta, beta, fparams, u_hat, sqrt_m, full=True)[0]

    def _group_terms(self, ctx, theta, beta, fparams, u_hat, sqrt_m, full):
        """Per-group log integrals and a data-only constant to add to their sum.

        With ``full=False`` the family's mu-dependent kernel is integrated and its data-only
        term (binomial coefficients, log y!) is returned separately, computed once per fit;
        with ``full=True`` every group's value carries its own constants.
        """
        d, fam, link = ctx.design, ctx.family, ctx.link
        K = self.nAGQ
        codes, nlev, y_rep, w_rep, idx = self._structure(ctx)
        density, const = fam.loglik, 0.0
        kernel = getattr(fam, "loglik_kernel", None)
        ctx_const = getattr(ctx, "loglik_constant", None)
        if not full and kernel is not None and ctx_const is not None:
            density, const = kernel, float(ctx_const(fparams))
        zl = ctx.zl(theta)[0][:, 0]
        s = 1.0 / np.asarray(sqrt_m, dtype=float)
        uk = u_hat[:, None] + s[:, None] * self.nodes[None, :]  # (groups, K)
        eta = (d.offset + d.X @ beta)[:, None] + zl[:, None] * uk[codes]  # (n, K)
        eta = eta.ravel()
        with np.errstate(all="ignore"):
            if link.valid_eta(eta):
                lp = density(y_rep, link.inverse(eta), w_rep, fparams)
            else:  # nodes outside the link's domain (e.g. eta <= 0 for sqrt) contribute nothing
                ok = np.fromiter((link.valid_eta(eta[i:i + 1]) for i in range(eta.size)),
                                 dtype=bool, count=eta.size)
                lp = np.full(eta.shape, -np.inf)
                lp[ok] = density(y_rep[ok], link.inverse(eta[ok]), w_rep[ok], fparams)
        lp = np.where(np.isnan(lp), -np.inf, lp)
        S = np.bincount(idx, weights=lp, minlength=nlev * K).reshape(nlev, K)
        terms = S - 0.5 * uk * uk + self._node_shift[None, :]
        # log-sum-exp over the nodes (by hand: scipy's version costs more than the rest here)
        m = np.max(terms, axis=1)
        m = np.where(np.isfinite(m), m, 0.0)
        with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
            lse = m + np.log(np.sum(np.exp(terms - m[:, None]), axis=1))
        return np.log(s) + lse, const
