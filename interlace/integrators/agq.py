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

:class:`ProductAGQIntegrator` (``integrator="agq_product"``, beyond lme4) extends this to one
grouping factor with a vector random effect, with a tensor-product rule of nAGQ^d nodes per
group.

Gradient. With pi_jk the normalised node weights (softmax over k of the summands above),
G_jk = h_j'(u_jk) and the mode and scale depending on the parameters p,

    d log L_j / dp = sum_k pi_jk dh_j(u_jk)/dp |_(u^, s fixed)
                     + (sum_k pi_jk G_jk) du^_j/dp + (1/s_j + sum_k pi_jk G_jk z_k) ds_j/dp,

where du^_j/dp follows from the mode equation h_j'(u^_j) = 0 (implicit differentiation with the
observed information J), and ds_j/dp = -s_j^3 / 2 dM_jj/dp with M_jj = 1 + sum W_i a_i^2
(a = Z Lambda; dW/deta by central differences). At nAGQ = 1 this is the Laplace gradient. It
costs about one more pass over the (n, K) nodes, instead of 2m deviance evaluations.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.polynomial.hermite_e import hermegauss

from interlace.caches import bounded_cache
from interlace.errors import UnsupportedModelError
from interlace.glmm.pirls import pirls
from interlace.glmm.zi_random import has_zi_random
from interlace.integrators.base import IntegrationResult, Integrator


def check_no_zi_random(ctx, nagq: int) -> None:
    """Adaptive quadrature integrates the conditional model's random effects only."""
    if has_zi_random(ctx):
        raise UnsupportedModelError(
            f"nAGQ = {nagq}: the ziformula has random effects, which adaptive quadrature does "
            f"not integrate (glmmTMB has only the Laplace approximation for them); use nAGQ=1")

_LOG_SQRT_2PI = 0.5 * np.log(2.0 * np.pi)


@bounded_cache("agq.gauss_hermite", 32)
def gauss_hermite_normal(k: int) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and log-weights of the k-point Gauss-Hermite rule for the N(0, 1) density."""
    z, w = hermegauss(k)
    z.flags.writeable = False
    lw = np.log(w) - _LOG_SQRT_2PI
    lw.flags.writeable = False
    return z, lw


@dataclass
class _Nodes:
    """The quadrature at one parameter point: what the gradient reuses."""

    eta: np.ndarray  # (n * K,) linear predictor at every (row, node), row-major
    mu: np.ndarray  # (n * K,) mean at every (row, node)
    uk: np.ndarray  # (groups, K) node positions u^_j + s_j z_k
    s: np.ndarray  # (groups,) scales 1 / sqrt(M_jj)
    terms: np.ndarray  # (groups, K) log summands
    lse: np.ndarray  # (groups,) log-sum-exp of terms over the nodes


@dataclass
class AGQResult(IntegrationResult):
    """IntegrationResult with the node values kept for the gradient."""

    nodes: _Nodes | None = None


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
        check_no_zi_random(ctx, self.nAGQ)
        terms = ctx.design.terms
        if len(terms) == 1 and terms[0].k == 1:
            return
        alt = ""
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
            alt = (", or integrator='agq_product' (a product rule with nAGQ^d nodes per group) "
                   "if that cost is acceptable")
        raise UnsupportedModelError(
            f"nAGQ = {self.nAGQ} (adaptive Gauss-Hermite quadrature, integrator 'agq') needs "
            f"exactly one grouping factor with a single random effect such as (1 | group), as "
            f"in lme4: {why}. Use nAGQ=1 (the Laplace approximation, integrator 'laplace') for "
            f"this model{alt}."
        )

    # -- structure -----------------------------------------------------------------------
    def _nodes_per_group(self, ctx) -> int:
        return self.nAGQ

    def _structure(self, ctx):
        """Per-model arrays repeated over the nodes (cached for the last model seen)."""
        c = self._cache
        if c is not None and c[0] is ctx:
            return c[1:]
        d = ctx.design
        K = self._nodes_per_group(ctx)
        codes = np.asarray(ctx.system.terms[0].codes, dtype=np.intp)
        nlev = ctx.system.n0
        y_rep = np.repeat(d.y, K)
        w_rep = np.repeat(d.weights, K)
        idx = (codes[:, None] * K + np.arange(K)[None, :]).ravel()
        self._cache = (ctx, codes, nlev, y_rep, w_rep, idx)
        return self._cache[1:]

    # -- value ---------------------------------------------------------------------------
    def integrate(self, ctx, theta, beta, fparams, u0):
        res = pirls(ctx, theta, beta, fparams, u0)
        if res.factor is None or not np.isfinite(res.cond_loglik):
            return AGQResult(-np.inf, res)
        nd, const = self._evaluate(ctx, theta, beta, fparams, res.u, res.factor.L0, full=False)
        ll = float(np.sum(np.log(nd.s) + nd.lse)) + const
        return AGQResult(ll, res, nd)

    def group_logliks(self, ctx, theta, beta, fparams, u_hat, sqrt_m) -> np.ndarray:
        """Per-group log integrals, with all constants, at modes ``u_hat`` and scales
        1 / ``sqrt_m`` (``sqrt_m`` = sqrt(M_jj); PIRLS's ``factor.L0``)."""
        nd, _ = self._evaluate(ctx, theta, beta, fparams, u_hat, sqrt_m, full=True)
        return np.log(nd.s) + nd.lse

    def _density(self, ctx, fparams, full):
        """The log-density to integrate and a data-only constant to add to the total.

        With ``full=False`` the family's mu-dependent kernel is integrated and its data-only
        term (binomial coefficients, log y!) is added once, as computed once per fit by the
        context; with ``full=True`` every value carries its own constants.
        """
        fam = ctx.family
        ctx_const = getattr(ctx, "loglik_constant", None)
        if not full and ctx_const is not None:
            return fam.loglik_kernel, float(ctx_const(fparams))
        return fam.loglik, 0.0

    def _rep_params(self, ctx, fparams: dict) -> dict:
        """Family parameters for the (row, node) arrays: per-row values (a parameter with a
        formula) repeated over each row's nodes, scalars as they are."""
        _, _, y_rep, _, _ = self._structure(ctx)
        n = ctx.design.n
        return {k: (np.repeat(v, y_rep.size // n) if np.ndim(v) else v)
                for k, v in fparams.items()}

    def _node_logdens(self, ctx, density, eta, fparams, mu=None):
        """log p(y_i | eta_ik) and mu at every (row, node); -inf outside the link's domain."""
        link = ctx.link
        _, _, y_rep, w_rep, _ = self._structure(ctx)
        fparams = self._rep_params(ctx, fparams)
        with np.errstate(all="ignore"):
            if mu is None:
                mu = link.inverse(eta)
            if link.valid_eta(eta):
                lp = density(y_rep, mu, w_rep, fparams)
            else:  # nodes outside the link's domain (e.g. eta <= 0 for sqrt) contribute nothing
                ok = np.fromiter((link.valid_eta(eta[i:i + 1]) for i in range(eta.size)),
                                 dtype=bool, count=eta.size)
                lp = np.full(eta.shape, -np.inf)
                fok = {k: (v[ok] if np.ndim(v) else v) for k, v in fparams.items()}
                lp[ok] = density(y_rep[ok], mu[ok], w_rep[ok], fok)
        return np.where(np.isnan(lp), -np.inf, lp), mu

    def _evaluate(self, ctx, theta, beta, fparams, u_hat, sqrt_m, full) -> tuple[_Nodes, float]:
        d = ctx.design
        K = self.nAGQ
        codes, nlev, _, _, idx = self._structure(ctx)
        density, const = self._density(ctx, fparams, full)
        zl = ctx.zl(theta)[0][:, 0]
        s = 1.0 / np.asarray(sqrt_m, dtype=float)
        uk = u_hat[:, None] + s[:, None] * self.nodes[None, :]  # (groups, K)
        eta = ((d.offset + d.X @ beta)[:, None] + zl[:, None] * uk[codes]).ravel()  # (n * K,)
        lp, mu = self._node_logdens(ctx, density, eta, fparams)
        S = np.bincount(idx, weights=lp, minlength=nlev * K).reshape(nlev, K)
        terms = S - 0.5 * uk * uk + self._node_shift[None, :]
        # log-sum-exp over the nodes (by hand: scipy's version costs more than the rest here)
        m = np.max(terms, axis=1)
        m = np.where(np.isfinite(m), m, 0.0)
        with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
            lse = m + np.log(np.sum(np.exp(terms - m[:, None]), axis=1))
        return _Nodes(eta, mu, uk, s, terms, lse), const

    # -- gradient ------------------------------------------------------------------------
    def gradient(self, ctx, theta, beta, fparams, result, fam_names):
        """Exact gradient of -2 log L over [theta, beta, family parameters (unconstrained)]."""
        res = result.modes
        if res.factor is None or res.mu is None or not np.isfinite(result.loglik):
            return None
        nd = getattr(result, "nodes", None)
        if nd is None:
            nd, _ = self._evaluate(ctx, theta, beta, fparams, res.u, res.factor.L0, full=False)
        d, fam, link = ctx.design, ctx.family, ctx.link
        K = self.nAGQ
        codes, nlev, y_rep, w_rep, idx = self._structure(ctx)
        X, y, w = d.X, d.y, d.weights
        z_raw = ctx.system.terms[0].Z[:, 0]
        a = ctx.zl(theta)[0][:, 0]
        u, s, uk = res.u, nd.s, nd.uk

        # normalised node weights pi_jk, and the score in eta at every (row, node)
        with np.errstate(all="ignore"):
            pi = np.exp(nd.terms - nd.lse[:, None])
            pi = np.where(np.isfinite(pi), pi, 0.0)
            score = (fam.score_mu(y_rep, nd.mu, w_rep, self._rep_params(ctx, fparams))
                     * link.mu_eta(nd.eta))
        score = np.where(np.isfinite(score), score, 0.0).reshape(-1, K)  # (n, K)
        pi_rows = pi[codes]  # (n, K) weight of each (row, node)
        ps = pi_rows * score
        q = ps.sum(axis=1)  # sum_k pi_k l'_ik, per row
        r = np.einsum("ik,ik->i", ps, uk[codes])  # sum_k pi_k l'_ik u_k, per row
        G = np.bincount(idx, weights=(score * a[:, None]).ravel(),
                        minlength=nlev * K).reshape(nlev, K) - uk  # h_j'(u_jk)
        piG = pi * G
        A_u = piG.sum(axis=1)
        A_s = 1.0 / s + piG @ self.nodes

        # at the mode: score, observed information J, PIRLS weights W and dW/deta
        eta, mu = res.eta, res.mu
        me = link.mu_eta(eta)
        s_mu = fam.score_mu(y, mu, w, fparams)
        l1 = s_mu * me
        W = fam.info_mu(y, mu, w, fparams) * me * me
        canonical = fam.canonical_link is not None and fam.canonical_link == link.name
        J = W if canonical else (fam.obs_info_mu(y, mu, w, fparams) * me * me
                                 - s_mu * link.d2mu_eta(eta))
        he = 1e-6 * np.maximum(1.0, np.abs(eta))
        Wp = (self._weights(ctx, eta + he, fparams) - self._weights(ctx, eta - he, fparams)) / (2 * he)
        H = 1.0 + np.bincount(codes, J * a * a, minlength=nlev)
        B = np.bincount(codes, Wp * a**3, minlength=nlev)
        c1 = A_u / H
        c2 = -0.5 * A_s * s**3  # d log L / d M_jj through s_j

        # beta
        g_beta = X.T @ (q - ((c1 + c2 * B / H)[codes]) * J * a + c2[codes] * Wp * a * a)
        # theta (a = z * theta)
        u_r = u[codes]
        D = np.bincount(codes, z_raw * (l1 - J * a * u_r), minlength=nlev) / H  # du^/dtheta
        dM = (np.bincount(codes, Wp * a * a * z_raw * u_r + 2.0 * W * a * z_raw, minlength=nlev)
              + B * D)
        g_theta = float(z_raw @ r + np.sum(A_u * D + c2 * dM))
        grads = [g_theta, *g_beta]

        # family parameters, on the optimizer's unconstrained scale: the densities' parameter
        # derivatives by central differences at fixed eta, chained through the mode and scale
        # (a parameter with a formula: one derivative per coefficient, along its column)
        params, pdes = fam.parameters, d.param_designs
        for name in fam_names:
            z0 = params[name].to_unconstrained(fparams[name])
            dirs = [1.0] if name not in pdes else list(pdes[name].X.T)
            for dz in dirs:
                hz = 1e-5 * max(1.0, float(np.max(np.abs(z0))))
                vals = []
                for zz in (z0 + hz * dz, z0 - hz * dz):
                    fz = dict(fparams)
                    fz[name] = params[name].from_unconstrained(zz)
                    lpk, _ = self._node_logdens(ctx, fam.loglik, nd.eta, fz, nd.mu)
                    sz = fam.score_mu(y, mu, w, fz) * me
                    Wz = fam.info_mu(y, mu, w, fz) * me * me
                    vals.append((lpk, sz, Wz))
                (lp1, s1, W1), (lp2, s2, W2) = vals
                with np.errstate(invalid="ignore"):
                    dlp = np.where(pi_rows.ravel() > 0, (lp1 - lp2) / (2 * hz), 0.0)
                direct = float(pi_rows.ravel() @ dlp)
                du = np.bincount(codes, a * (s1 - s2) / (2 * hz), minlength=nlev) / H
                dMz = np.bincount(codes, (W1 - W2) / (2 * hz) * a * a, minlength=nlev) + B * du
                grads.append(float(direct + np.sum(A_u * du + c2 * dMz)))
        return -2.0 * np.asarray(grads, float)

    @staticmethod
    def _weights(ctx, eta, fparams):
        d, fam, link = ctx.design, ctx.family, ctx.link
        me = link.mu_eta(eta)
        return fam.info_mu(d.y, link.inverse(eta), d.weights, fparams) * me * me


class ProductAGQIntegrator(AGQIntegrator):
    """Adaptive product Gauss-Hermite quadrature for one grouping factor with a vector random
    effect, e.g. ``(1 + time | id)``: nAGQ points per dimension, nAGQ^d per group.

    Each group's d-dimensional integral is centred at the conditional mode u^_j and rotated and
    scaled by the Cholesky factor L_j of the group's block of M = (Z Lambda)'W(Z Lambda) + I at
    the mode (M_j = L_j L_j'), u = u^_j + L_j^-T z:

        log integral_j ~ -log|L_j| + log sum_k w_k exp(h_j(u^_j + L_j^-T z_k) + |z_k|^2 / 2)

    over the tensor grid of nodes z_k (weights w_k the products of the one-dimensional ones).
    With d = 1 this is :class:`AGQIntegrator` exactly, and nAGQ = 1 is the Laplace approximation.
    The cost per deviance evaluation is n * nAGQ^d evaluations of the density; the gradient is
    taken by finite differences when d > 1.
    """

    name = "agq_product"
    aliases = ("product_agq", "agq_vector")
    max_nodes_per_group = 10_000
    max_node_evaluations = 20_000_000  # n * nAGQ^d, the size of the (rows x nodes) arrays

    def check(self, ctx) -> None:
        check_no_zi_random(ctx, self.nAGQ)
        terms = ctx.design.terms
        if len(terms) != 1:
            labels = ", ".join(t.label for t in terms)
            raise UnsupportedModelError(
                f"nAGQ = {self.nAGQ} with integrator 'agq_product' needs exactly one grouping "
                f"factor; the model has {len(terms)} random-effect terms ({labels}), whose random "
                f"effects do not factor into independent integrals per group. Use nAGQ=1 (the "
                f"Laplace approximation) for this model."
            )
        k = terms[0].k
        per_group = self.nAGQ ** k
        total = per_group * ctx.design.n
        if per_group > self.max_nodes_per_group or total > self.max_node_evaluations:
            raise UnsupportedModelError(
                f"nAGQ = {self.nAGQ} with the {k}-dimensional random effect {terms[0].label} "
                f"means nAGQ^{k} = {per_group} quadrature nodes per group and {total} density "
                f"evaluations per deviance evaluation (limits: {self.max_nodes_per_group} per "
                f"group, {self.max_node_evaluations} in all). Use a smaller nAGQ (cost grows as "
                f"nAGQ^{k}) or nAGQ=1 (the Laplace approximation)."
            )

    def _nodes_per_group(self, ctx) -> int:
        return self.nAGQ ** ctx.design.terms[0].k

    def _grid(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Tensor-product nodes (nAGQ^k, k) and their summand shifts log w + |z|^2 / 2."""
        cache = self.__dict__.setdefault("_grids", {})
        if k not in cache:
            axes = np.meshgrid(*([self.nodes] * k), indexing="ij")
            Z = np.stack([a.ravel() for a in axes], axis=1)
            lw = np.meshgrid(*([self.log_weights] * k), indexing="ij")
            shift = sum(a.ravel() for a in lw) + 0.5 * np.sum(Z * Z, axis=1)
            cache[k] = (Z, shift)
        return cache[k]

    def integrate(self, ctx, theta, beta, fparams, u0):
        res = pirls(ctx, theta, beta, fparams, u0)
        if res.factor is None or not np.isfinite(res.cond_loglik):
            return AGQResult(-np.inf, res)
        nd, const, logdet = self._evaluate_vec(ctx, theta, beta, fparams, res.u, res.factor,
                                               full=False)
        ll = float(np.sum(nd.lse) - logdet) + const
        return AGQResult(ll, res, nd if ctx.design.terms[0].k == 1 else None)

    def group_logliks(self, ctx, theta, beta, fparams, u_hat, sqrt_m) -> np.ndarray:
        if ctx.design.terms[0].k != 1:
            raise TypeError("for a vector random effect use group_logliks_at(ctx, theta, beta, "
                            "fparams, pirls_result)")
        return super().group_logliks(ctx, theta, beta, fparams, u_hat, sqrt_m)

    def group_logliks_at(self, ctx, theta, beta, fparams, res) -> np.ndarray:
        """Per-group log integrals, with all constants, around the PIRLS result ``res``."""
        nd, _, _ = self._evaluate_vec(ctx, theta, beta, fparams, res.u, res.factor, full=True,
                                      per_group=True)
        return nd.lse

    def _evaluate_vec(self, ctx, theta, beta, fparams, u_hat, factor, full, per_group=False):
        d = ctx.design
        k = d.terms[0].k
        Kd = self.nAGQ ** k
        codes, nlev, _, _, idx = self._structure(ctx)
        density, const = self._density(ctx, fparams, full)
        Z, shift = self._grid(k)
        zl = ctx.zl(theta)[0]  # (n, k)
        U = u_hat.reshape(nlev, k)
        if k == 1:
            s = 1.0 / np.asarray(factor.L0, dtype=float)
            uk = U + s[:, None] * Z[None, :, 0]  # (groups, Kd)
            eta = ((d.offset + d.X @ beta)[:, None] + zl[:, :1] * uk[codes]).ravel()
            logdet_g = -np.log(s)
            unorm2 = uk * uk
        else:
            # u_jk = u^_j + L_j^-T z_k, (groups, Kd, k)
            Uk = U[:, None, :] + np.einsum("jba,kb->jka", factor.L0inv, Z)
            eta = ((d.offset + d.X @ beta)[:, None]
                   + np.einsum("ia,ika->ik", zl, Uk[codes])).ravel()
            logdet_g = np.sum(np.log(np.diagonal(factor.L0, axis1=1, axis2=2)), axis=1)
            unorm2 = np.sum(Uk * Uk, axis=2)
            uk, s = None, None
        lp, mu = self._node_logdens(ctx, density, eta, fparams)
        S = np.bincount(idx, weights=lp, minlength=nlev * Kd).reshape(nlev, Kd)
        terms = S - 0.5 * unorm2 + shift[None, :]
        m = np.max(terms, axis=1)
        m = np.where(np.isfinite(m), m, 0.0)
        with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
            lse = m + np.log(np.sum(np.exp(terms - m[:, None]), axis=1))
        if per_group:
            lse = lse - logdet_g
        return _Nodes(eta, mu, uk, s, terms, lse), const, float(np.sum(logdet_g))

    def gradient(self, ctx, theta, beta, fparams, result, fam_names):
        """Exact for a scalar random effect (as ``agq``); None (finite differences) otherwise."""
        if ctx.design.terms[0].k != 1 or getattr(result, "nodes", None) is None:
            return None
        return super().gradient(ctx, theta, beta, fparams, result, fam_names)
