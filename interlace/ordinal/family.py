"""Cumulative link (ordinal) family: the conditional distribution of :func:`interlace.clmm`.

The response is a category index y in 0..K-1 of an ordered factor with K levels. With the
linear predictor eta (no intercept: the thresholds take its place) and a latent distribution
F (the *cumulative link*: logistic, normal, ...), as R's ordinal package writes it,

    P(y <= j | eta) = F(tau_j - eta),    tau_0 = -inf < tau_1 < ... < tau_{K-1} < tau_K = +inf,
    log p(y | eta)  = log(F(tau_{y+1} - eta) - F(tau_y - eta))     (y 0-based: categories 1..K),

so a positive coefficient moves probability to higher categories. To the fitting core the
family's link is the identity (mu = eta); F is the family's own, chosen by ``link``.

The K-1 thresholds are family parameters, estimated jointly with beta and theta:
``threshold_1`` = tau_1 on the real line and ``spacing_j`` = tau_j - tau_{j-1} > 0 (j >= 2) on
the log scale, which keeps them ordered without constraints.

Score and information in eta are analytic. With P = F(a) - F(b), a = tau_{y+1} - eta,
b = tau_y - eta, r_a = f(a)/P, r_b = f(b)/P and g = f'/f,

    d log p / d eta   = r_b - r_a,
    -d2 log p / d eta2 = (r_a - r_b)^2 - (g(a) r_a - g(b) r_b),

the observed information, which is positive for the log-concave F offered here. The family
uses it as its PIRLS weight (``info_mu``), so the Laplace log-determinant and the adaptive
quadrature scale use the observed Hessian of the conditional log-likelihood at the mode, as
ordinal::clmm does.

Cumulative links: ``logit`` (logistic F), ``probit`` (normal), ``cloglog``
(F(x) = 1 - exp(-exp(x))) and ``loglog`` (F(x) = exp(-exp(-x))), as documented by ordinal
(and used by its ``clm()``; note that ordinal 2022.11-16's ``clmm()`` fits each of the last two
under the other's name).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import special

from interlace.errors import DataError, PluginError
from interlace.families.base import Family, FamilyParameter

_LOG_SQRT_2PI = 0.5 * np.log(2.0 * np.pi)


def _log1mexp(d: np.ndarray) -> np.ndarray:
    """log(1 - exp(d)) for d <= 0, accurate over the whole range (call under np.errstate)."""
    d = np.minimum(d, 0.0)
    return np.where(d > -_LOG2, np.log(-np.expm1(d)), np.log1p(-np.exp(d)))


_LOG2 = np.log(2.0)


class CumulativeLink:
    """A latent distribution F of a cumulative link model.

    ``evaluate(a, b, top, bottom, ratios)`` gives, per row, log P = log(F(a) - F(b)) for cut
    points a > b (``top`` marks a = +inf, ``bottom`` b = -inf) and, with ``ratios``, the
    ratios r_a = f(a)/P, r_b = f(b)/P and g(a) r_a, g(b) r_b with g = f'/f; each link computes
    them in a form that is stable in both tails and costs few array operations. Call it
    under ``np.errstate(all="ignore")``.
    """

    name = ""

    def evaluate(self, a, b, top, bottom, ratios):
        raise NotImplementedError

    def cdf(self, x):
        raise NotImplementedError

    def ppf(self, p):
        raise NotImplementedError

    def log_interval(self, a, b) -> np.ndarray:
        """log(F(a) - F(b)) for a > b (a may be +inf, b -inf)."""
        a, b = np.asarray(a, float), np.asarray(b, float)
        with np.errstate(all="ignore"):
            return self.evaluate(a, b, np.isposinf(a), np.isneginf(b), False)[0]


class _Logistic(CumulativeLink):
    """F(x) = 1 / (1 + exp(-x)). Closed forms: F(a) - F(b) = F(a) S(b) (1 - exp(b - a)) and
    f = F S, with S = 1 - F; exact at infinite cut points without special cases."""

    name = "logit"

    def evaluate(self, a, b, top, bottom, ratios):
        spa = np.logaddexp(0.0, -a)  # -log F(a)
        spb = np.logaddexp(0.0, b)  # -log S(b)
        lp = _log1mexp(b - a) - spa - spb
        if not ratios:
            return lp, None, None, None, None
        ra = np.exp(-2.0 * spa - a - lp)  # log f(a) = log F(a) + log S(a) = -2 spa - a
        rb = np.exp(b - 2.0 * spb - lp)
        return lp, ra, rb, -np.tanh(0.5 * a) * ra, -np.tanh(0.5 * b) * rb

    def cdf(self, x):
        return special.expit(x)

    def ppf(self, p):
        return special.logit(p)


class _Normal(CumulativeLink):
    """Standard normal F. Rows with a + b > 0 are reflected (F(a) - F(b) = F(-b) - F(-a)) so
    that the difference is always taken in the lower tail, where log_ndtr is accurate."""

    name = "probit"

    def evaluate(self, a, b, top, bottom, ratios):
        flip = a + b > 0
        a2, b2 = np.where(flip, -b, a), np.where(flip, -a, b)
        la = special.log_ndtr(a2)
        lp = la + _log1mexp(special.log_ndtr(b2) - la)
        if not ratios:
            return lp, None, None, None, None
        ra = np.exp(-0.5 * a * a - _LOG_SQRT_2PI - lp)
        rb = np.exp(-0.5 * b * b - _LOG_SQRT_2PI - lp)
        return lp, ra, rb, np.where(top, 0.0, -a * ra), np.where(bottom, 0.0, -b * rb)

    def cdf(self, x):
        return special.ndtr(x)

    def ppf(self, p):
        return special.ndtri(p)


class _CLogLog(CumulativeLink):
    """F(x) = 1 - exp(-exp(x)) (Gumbel minimum): S(x) = exp(-exp(x)), so
    log P = -exp(b) + log(1 - exp(exp(b) - exp(a))), and log f(x) = x - exp(x)."""

    name = "cloglog"

    def evaluate(self, a, b, top, bottom, ratios):
        ea, eb = np.exp(a), np.exp(b)
        lp = _log1mexp(eb - ea) - eb
        lp = np.where(eb == np.inf, -np.inf, lp)  # S(b) = S(a) = 0 to double precision
        if not ratios:
            return lp, None, None, None, None
        ra = np.where(top, 0.0, np.exp(a - ea - lp))
        rb = np.exp(b - eb - lp)
        gra = np.where(ra > 0, (1.0 - ea) * ra, 0.0)
        grb = np.where(rb > 0, (1.0 - eb) * rb, 0.0)
        return lp, ra, rb, gra, grb

    def cdf(self, x):
        with np.errstate(over="ignore"):
            return -np.expm1(-np.exp(x))

    def ppf(self, p):
        return np.log(-np.log1p(-p))


class _LogLog(CumulativeLink):
    """F(x) = exp(-exp(-x)) (Gumbel maximum) = 1 - F_cloglog(-x): evaluated by reflection,
    F(a) - F(b) = F_cloglog(-b) - F_cloglog(-a)."""

    name = "loglog"

    def evaluate(self, a, b, top, bottom, ratios):
        lp, ra, rb, gra, grb = _CLogLog.evaluate(self, -b, -a, bottom, top, ratios)
        if not ratios:
            return lp, None, None, None, None
        return lp, rb, ra, -grb, -gra

    def cdf(self, x):
        with np.errstate(over="ignore"):
            return np.exp(-np.exp(-x))

    def ppf(self, p):
        return -np.log(-np.log(p))


CUMULATIVE_LINKS: dict[str, CumulativeLink] = {
    c.name: c() for c in (_Logistic, _Normal, _CLogLog, _LogLog)
}
_ALIASES = {"logistic": "logit", "normal": "probit", "gumbel": "loglog",
            "complementary_log_log": "cloglog"}


def cumulative_link(link: Any) -> CumulativeLink:
    """The latent distribution for a link name (or a link plugin instance with that name)."""
    if isinstance(link, CumulativeLink):
        return link
    name = link if isinstance(link, str) else getattr(link, "name", None)
    key = _ALIASES.get(str(name).lower(), str(name).lower()) if name is not None else None
    if key not in CUMULATIVE_LINKS:
        raise PluginError(
            f"unknown cumulative link {link!r} for the ordinal family (clmm); available links: "
            f"{', '.join(CUMULATIVE_LINKS)}"
        )
    return CUMULATIVE_LINKS[key]


class OrdinalFamily(Family):
    """Cumulative link model for an ordered response coded 0..ncat-1 (R's ordinal::clm/clmm).

    ``link`` is the cumulative link (logit, probit, cloglog or loglog); ``ncat`` the number of
    categories. Thresholds may be fixed by passing ``threshold_1=`` / ``spacing_j=`` values.
    Fit with :func:`interlace.clmm`, which codes the response, drops the intercept (the
    thresholds absorb it) and sets ``ncat``.
    """

    name = "ordinal"
    aliases = ("cumulative", "clm")
    links = ("identity",)
    canonical_link = "identity"  # info_mu is the observed information: the two agree

    def __init__(self, link: Any = "logit", ncat: int | None = None, **thresholds: float | None
                 ) -> None:
        self.cumulative = cumulative_link("logit" if link is None else link)
        if ncat is not None:
            if isinstance(ncat, bool) or not isinstance(ncat, (int, np.integer)) or ncat < 2:
                raise PluginError(f"ordinal family: ncat must be an integer >= 2, got {ncat!r}")
            ncat = int(ncat)
        self.ncat = ncat
        super().__init__(link="identity", **thresholds)

    # -- parameters ----------------------------------------------------------------------
    def default_parameters(self) -> list[FamilyParameter]:
        if self.ncat is None:
            return []
        ps = [FamilyParameter("threshold_1", None, start=0.0, transform="identity",
                              description="first threshold tau_1")]
        ps += [FamilyParameter(f"spacing_{j}", None, start=1.0, transform="log",
                               description=f"tau_{j} - tau_{j - 1}")
               for j in range(2, self.ncat)]
        return ps

    def thresholds(self, params: dict[str, float]) -> np.ndarray:
        """tau_1 < ... < tau_{K-1} from the parameter values."""
        K = self._need_ncat()
        tau = np.empty(K - 1)
        tau[0] = params["threshold_1"]
        for j in range(2, K):
            tau[j - 1] = tau[j - 2] + params[f"spacing_{j}"]
        return tau

    def threshold_params(self, tau: np.ndarray) -> dict[str, float]:
        """Parameter values giving thresholds ``tau`` (strictly increasing)."""
        tau = np.asarray(tau, float)
        out = {"threshold_1": float(tau[0])}
        for j in range(2, tau.size + 1):
            out[f"spacing_{j}"] = float(tau[j - 1] - tau[j - 2])
        return out

    def threshold_jacobian(self, params: dict[str, float]) -> np.ndarray:
        """d tau / d z, with z the parameters on their unconstrained (optimizer) scale."""
        K = self._need_ncat()
        J = np.zeros((K - 1, K - 1))
        J[:, 0] = 1.0
        for j in range(2, K):
            J[j - 1 :, j - 1] = params[f"spacing_{j}"]  # d exp(z_j) / d z_j
        return J

    def _need_ncat(self) -> int:
        if self.ncat is None:
            raise PluginError(
                "the ordinal family needs the number of categories: use interlace.clmm(), or "
                "OrdinalFamily(link=..., ncat=K) with the response coded 0..K-1"
            )
        return self.ncat

    # -- the distribution ----------------------------------------------------------------
    def _bounds_for(self, y, pkey, params) -> dict:
        """Per-row cut points for the current thresholds (kept while they and y are)."""
        c = self._bcache
        if c is not None and c[0] == pkey and c[1].shape == y.shape and np.array_equal(c[1], y):
            return c[2]
        tau = self.thresholds(params)
        ext = np.concatenate([[-np.inf], tau, [np.inf]])
        yi = y.astype(np.intp)
        bd = {"up": ext[yi + 1], "lo": ext[yi], "top": yi == self.ncat - 1, "bottom": yi == 0}
        self._bcache = (pkey, y.copy(), bd)
        return bd

    def _state(self, y, mu, params, ratios: bool) -> dict:
        """log P and (with ``ratios``) r_a, r_b, g(a) r_a, g(b) r_b per row, unweighted.

        The last evaluation is kept: the fitting core asks for the log-density, score and
        information at the same (y, eta, thresholds) in turn (PIRLS steps, the gradient's
        differences in the thresholds), and this computes them once.
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
        else:
            st = None
        bd = self._bounds_for(y, pkey, params)
        a, b = bd["up"] - mu, bd["lo"] - mu
        with np.errstate(all="ignore"):
            lp, ra, rb, gra, grb = self.cumulative.evaluate(a, b, bd["top"], bd["bottom"],
                                                            ratios)
        st = {"lp": lp}
        if ratios:
            st.update(ra=ra, rb=rb, gra=gra, grb=grb)
        self._cache = (pkey, mu.copy(), y.copy(), st)  # copies: callers may reuse arrays
        return st

    _cache: tuple | None = None
    _bcache: tuple | None = None

    def loglik(self, y, mu, weights, params):
        # with the ratios: the core asks for the score at the same point next (PIRLS, and the
        # gradient's differences in the thresholds), and they cost little more here
        return weights * self._state(y, mu, params, True)["lp"]

    def score_mu(self, y, mu, weights, params):
        st = self._state(y, mu, params, True)
        return weights * (st["rb"] - st["ra"])

    def obs_info_mu(self, y, mu, weights, params):
        st = self._state(y, mu, params, True)
        d = st["ra"] - st["rb"]
        return weights * np.maximum(d * d - (st["gra"] - st["grb"]), 0.0)

    def info_mu(self, y, mu, weights, params):
        """The observed information (positive: F is log-concave); see the module docstring."""
        return self.obs_info_mu(y, mu, weights, params)

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

    def fit_fixed(self, y, weights, X, offset, tau0=None, maxiter: int = 200):
        """Maximum likelihood (thresholds, beta) of the model without random effects (R's
        ``clm``), by L-BFGS on the unconstrained thresholds with the analytic gradient.
        Returns (tau, beta); used for starting values."""
        from scipy.optimize import minimize

        y = np.asarray(y, float)
        yi = y.astype(np.intp)
        w = np.asarray(weights, float)
        X = np.asarray(X, float).reshape(len(y), -1)
        K1, p = self._need_ncat() - 1, X.shape[1]
        tau = self.marginal_thresholds(y, w) if tau0 is None else np.asarray(tau0, float)
        names = list(self.parameters)
        spec = self.parameters
        z0 = np.array([spec[n].to_unconstrained(v)
                       for n, v in self.threshold_params(tau).items()])

        def unpack(v):
            return {n: spec[n].from_unconstrained(float(np.clip(zz, -30, 30)))
                    for n, zz in zip(names, v[:K1])}, v[K1:]

        def f(v):
            fp, beta = unpack(v)
            eta = offset + X @ beta
            st = self._state(y, eta, fp, True)
            ll = float(w @ st["lp"])
            if not np.isfinite(ll):
                return 1e100, np.zeros_like(v)
            g_tau = (np.bincount(yi, weights=w * st["ra"], minlength=K1 + 1)[:K1]
                     - np.bincount(yi, weights=w * st["rb"], minlength=K1 + 1)[1:])
            g_beta = X.T @ (w * (st["rb"] - st["ra"]))
            g_z = self.threshold_jacobian(fp).T @ g_tau
            return -ll, -np.concatenate([g_z, g_beta])

        v0 = np.concatenate([z0, np.zeros(p)])
        res = minimize(f, v0, jac=True, method="L-BFGS-B",
                       bounds=[(-30.0, 30.0)] * K1 + [(None, None)] * p,
                       options={"maxiter": maxiter, "gtol": 1e-8, "ftol": 1e-12})
        fp, beta = unpack(res.x)
        self._cache = None
        return self.thresholds(fp), np.asarray(beta, float)

    def start_parameters(self, design, beta0) -> dict[str, float]:
        """Thresholds given the starting coefficients (the framework's hook, called after the
        GLM start): the maximum likelihood thresholds with eta = X beta0 held fixed."""
        eta0 = design.offset + design.X @ beta0
        w = design.weights
        tau0 = self.marginal_thresholds(design.y, w) + float(np.average(eta0, weights=w))
        tau, _ = self.fit_fixed(design.y, w, np.zeros((design.n, 0)), eta0, tau0=tau0)
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
        return f"OrdinalFamily(link={self.cumulative.name!r}, ncat={self.ncat!r})"
