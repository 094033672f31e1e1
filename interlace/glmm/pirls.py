"""Penalised iteratively reweighted least squares: the conditional modes of u (and beta).

Maximises  sum_i log p(y_i | eta_i) - |u|^2 / 2  over u (and over beta when ``fit_beta``, which
is lme4's nAGQ = 0 criterion used in the first fitting stage) by Newton steps with step
halving: the observed information in eta (Fisher's for canonical links, where they agree),
patched with Fisher's on rows where it is not positive until the steps stall, then exact.
The factor of M returned for the Laplace log-determinant uses the expected information at the
mode, as lme4 does (so the deviance matches lme4's for non-canonical links too), or the
observed one (glmmTMB's) when asked.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from interlace.glmm.pirls_grouped import applies, grouped_pirls
from interlace.glmm.rowkernel import fixed_effects_for, kernel_for
from interlace.linalg.penalized import PenalizedFactor
from interlace.model.context import ModelContext


@dataclass
class PirlsResult:
    u: np.ndarray
    beta: np.ndarray
    eta: np.ndarray
    mu: np.ndarray
    cond_loglik: float  # sum_i log p(y_i | u)
    factor: PenalizedFactor | None
    weights: np.ndarray | None  # PIRLS weights at the mode
    converged: bool
    iterations: int
    schur: np.ndarray | None = None  # X'WX - C'M^-1C at the mode (fit_beta only)
    zl: list[np.ndarray] | None = None  # the Z Lambda blocks it used (the gradient reuses them)
    zi: np.ndarray | None = None  # the zero probability per row at the modes (ziformula with
    #                               random effects: interlace.glmm.zi_random)
    exact: bool = False  # the modes already had their extra Newton step (Objective.reconverge)

    @property
    def penalized_deviance(self) -> float:
        return -2.0 * self.cond_loglik + float(self.u @ self.u)

    @property
    def laplace_deviance(self) -> float:
        if self.factor is None:
            return np.inf
        return self.penalized_deviance + self.factor.logdet()


def _evaluate(system, kern, ZL, u, base, fp, const: float):
    """Penalised deviance, eta, mu and log-likelihood at u (``base`` = offset + X beta;
    ``const`` the family's data-only log-density term)."""
    eta = base + system.zl_u(ZL, u)
    out = kern.evaluate_checked(eta, fp)
    if out is None:
        return np.inf, eta, None, -np.inf
    mu, llk = out
    ll = llk + const
    if not math.isfinite(ll):
        return np.inf, eta, mu, ll
    return -2.0 * ll + float(u @ u), eta, mu, ll


def _fixed_part(fe, beta: np.ndarray) -> np.ndarray:
    """offset + X beta."""
    return fe.xbeta(beta)


def _final_weights(kern, fam, link, y, mu, eta, wts, fp, observed):
    """Weights of the log-determinant at the mode: expected, or observed information."""
    if not observed:
        return kern.weights(eta, mu, fp)
    # the exact observed information, unpatched: zero or negative entries are fine as long
    # as M = I + A'JA stays positive definite (the factorisation checks)
    me = link.mu_eta(eta)
    s_mu = fam.score_mu(y, mu, wts, fp)
    return fam.obs_info_mu(y, mu, wts, fp) * me * me - s_mu * link.d2mu_eta(eta)


def _newton_weights(system, ZL, J, W, exact_first: bool = True) -> tuple:
    """(weights, their factor or None, whether rows were patched): where the observed
    information is not positive, Newton's own step when M stays positive definite (quadratic
    convergence; not for the joint step in (u, beta), whose Schur complement may still be
    indefinite), Fisher's weights on those rows only when it does not."""
    bad = ~(J > 0) | ~np.isfinite(J)
    if not bad.any():
        return J, None, False
    F = system.factor(ZL, J) if exact_first and np.isfinite(J).all() else None
    if F is not None:
        return J, F, False
    return np.where(bad, W, J), None, True


def _joint_step(system, F, ZL: list[np.ndarray], X: np.ndarray, J: np.ndarray,
                score: np.ndarray, gu: np.ndarray) -> tuple:
    """Newton's step in (u, beta) together (lme4's nAGQ = 0 criterion), through the Schur
    complement X'JX - C'M^-1 C of the penalised system: (du, db, decrement, Schur complement)."""
    gb = X.T @ score
    WX = J[:, None] * X
    C = system.zlt_r(ZL, WX)
    MiC = F.solve(C)
    schur = X.T @ WX - C.T @ MiC
    Mig = F.solve(gu)
    try:
        db = np.linalg.solve(schur, gb - C.T @ Mig)
    except np.linalg.LinAlgError:
        db = np.linalg.lstsq(schur, gb - C.T @ Mig, rcond=None)[0]
    du = Mig - MiC @ db
    return du, db, float(gu @ du + gb @ db), schur


def _halving_search(system, kern, fe, ZL, point: tuple, du: np.ndarray, db, pdev: float,
                    fp: dict, const: float) -> tuple | None:
    """The first of the steps 1, 1/2, 1/4, ... along (du, db) from ``point`` = (u, beta, offset
    + X beta) that does not raise the penalised deviance: (u, beta, base, deviance, eta, mu,
    loglik), or None when none down to 1e-10 does."""
    u, b, base = point
    step = 1.0
    while step > 1e-10:
        un = u + du if step == 1.0 else u + step * du
        bn = b + step * db if db is not None else b
        basen = _fixed_part(fe, bn) if db is not None else base
        pn, etan, mun, lln = _evaluate(system, kern, ZL, un, basen, fp, const)
        if pn <= pdev + 1e-10 * max(1.0, abs(pdev)):
            return un, bn, basen, pn, etan, mun, lln
        step *= 0.5
    return None


def pirls(ctx: ModelContext, theta: np.ndarray, beta: np.ndarray, fp: dict, u0: np.ndarray,
          fit_beta: bool = False, tol: float = 1e-12, maxit: int = 60,
          observed: bool = False) -> PirlsResult:
    """Conditional modes at (theta, beta, family parameters), warm-started at ``u0``.

    The returned factor uses the expected information at the mode (lme4's Laplace), or the
    observed information when ``observed`` (glmmTMB's); they coincide for canonical links.
    """
    d, fam, link, system = ctx.design, ctx.family, ctx.link, ctx.system
    kern, fe = kernel_for(ctx), fixed_effects_for(ctx)
    ZL = ctx.zl(theta)
    if not fit_beta and applies(ctx, kern, ZL):  # one random intercept, Poisson-log: O(levels)
        g = grouped_pirls(ctx, kern, fe, ZL, beta, fp, u0, tol, maxit)
        if g is not None:
            return PirlsResult(g[0], beta.copy(), *g[1:6], g[6], g[7], None, ZL, exact=g[6])
    u, b = u0.copy(), beta.copy()
    base = _fixed_part(fe, b)
    const = ctx.loglik_constant(fp)
    pdev, eta, mu, ll = _evaluate(system, kern, ZL, u, base, fp, const)
    if not math.isfinite(pdev) and np.any(u != 0):
        u = np.zeros_like(u)
        pdev, eta, mu, ll = _evaluate(system, kern, ZL, u, base, fp, const)
    if not math.isfinite(pdev):
        return PirlsResult(u, b, eta, mu, -np.inf, None, None, False, 0, zl=ZL)
    X, y, wts = d.X, d.y, d.weights
    canonical = fam.canonical_link is not None and fam.canonical_link == link.name
    converged, schur, F, W = False, None, None, None
    final = False  # whether F is the factor with the PIRLS (expected) weights at the final u
    # Newton's weights are patched with Fisher's where the observed information is not
    # positive (far from the mode it may make M indefinite); patched steps converge only
    # linearly, so once they stall the last iterations polish with the exact Hessian, as long
    # as it is positive definite (the gradient of the Laplace deviance assumes an exact mode).
    polish = patched = False
    it = 0
    for it in range(1, maxit + 1):  # noqa: B007 - iteration count is reported
        score, W, s_mu, me = kern.score_weights(eta, mu, fp)
        J, F, patch = W, None, False
        if not canonical:  # Newton's weights: the observed information in eta
            J = fam.obs_info_mu(y, mu, wts, fp) * me * me - s_mu * link.d2mu_eta(eta)
            if not polish:
                J, F, patch = _newton_weights(system, ZL, J, W, exact_first=not fit_beta)
                patched = patched or (patch and not fit_beta)
        if F is None:  # fused kernels give finite weights by design
            F = system.factor(ZL, J) if kern.fused or np.isfinite(J).all() else None
        if F is None and not polish and canonical and bool((J < 0).any()):
            # rows of negative information (a density that is not log-concave: cauchit) can
            # make Newton's matrix indefinite: their weight is cut at 0 until the steps stall
            J = np.maximum(J, 0.0)
            F, patched = system.factor(ZL, J), patched or not fit_beta
        if F is None and polish:  # the exact Hessian is not positive definite: stop here
            converged = True
            break
        if F is None:
            return PirlsResult(u, b, eta, mu, -np.inf, None, None, False, it, zl=ZL)
        gu = system.zlt_r(ZL, score) - u
        if fit_beta:
            du, db, dec, schur = _joint_step(system, F, ZL, X, J, score, gu)
        else:
            du = F.solve(gu)
            db = None
            dec = float(gu @ du)
        if dec < tol:
            # Take the last (tiny) step and refactor there: the log-determinant is not
            # stationary at the mode, so an unfinished step would bias it to first order.
            converged = True
            u = u + du
            if db is not None:
                b = b + db
                base = _fixed_part(fe, b)
            pdev, eta, mu, ll = _evaluate(system, kern, ZL, u, base, fp, const)
            W = _final_weights(kern, fam, link, y, mu, eta, wts, fp, observed and not canonical)
            F = system.factor(ZL, W)
            final = True
            break
        found = _halving_search(system, kern, fe, ZL, (u, b, base), du, db, pdev, fp, const)
        if found is None:
            converged = True  # no further decrease possible at machine precision
            final = False
            break
        small = abs(pdev - found[3]) < 1e-13 * max(1.0, abs(pdev))
        u, b, base, pdev, eta, mu, ll = found
        if small:
            if patched and not polish:
                polish = True
                continue
            converged = True
            break
    if not final:  # give-up, no-decrease and iteration-limit paths: F may be stale or use J
        W = _final_weights(kern, fam, link, y, mu, eta, wts, fp, observed and not canonical)
        F = system.factor(ZL, W)
    return PirlsResult(u, b, eta, mu, ll, F, W, converged, it, schur, ZL)
