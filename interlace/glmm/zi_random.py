"""Random effects in ``ziformula``: the Laplace approximation over two linear predictors.

With ``ziformula = ~ x + (1 | site)`` (glmmTMB's) each row's log-density depends on the
conditional model's eta = X beta + Z_c Lambda_c u_c and on the zero part's
zeta = X_z gamma + Z_z Lambda_z u_z (zi = logistic(zeta)), with u = (u_c, u_z) ~ N(0, I). The
Laplace approximation then needs the joint mode of u and the log-determinant of

    H = I + A' J A,    A = [Z_c Lambda_c, 0; 0, Z_z Lambda_z] row by row,

with J each row's 2 x 2 observed information in (eta, zeta). :class:`ZiSystem` writes A'JA as
a sum over 2n pseudo-rows with scalar weights (each row's J = L D L' with a 1 x 1 pivot on
the larger diagonal entry), so the blocked penalised system of :mod:`interlace.linalg.penalized`
factors H unchanged, over the conditional and zero-part terms together. :func:`pirls_zi`
finds the joint mode by Newton's method with step halving (rows whose J is not positive
definite are replaced by a positive definite one until the exact Hessian factors) and returns
the factor at the mode with the exact observed information, glmmTMB's Laplace approximation.

The family gives the derivatives (``loglik_derivatives`` in mu and zi, and
``param_second_derivative`` in zi); the exact gradient of this deviance, by the implicit
function theorem over the joint mode, is :mod:`interlace.glmm.zi_gradient`'s.

In the parameter vector the zero part's theta follows the coefficients of its fixed part (one
block, :func:`zi_block`); :class:`~interlace.glmm.objective.Objective` hands the integrator
theta with the zero part's entries appended and the fixed part's linear predictor in
``fparams[zi + "~eta"]``.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np
from scipy.special import expit

from interlace.glmm.pirls import PirlsResult
from interlace.glmm.rowkernel import fixed_effects_for
from interlace.glmm.zi_pair import PairLayout
from interlace.linalg.penalized import PenalizedSystem
from interlace.model.context import ModelContext
from interlace.model.terms import RandomTerm
from interlace.results.random_effects import RandomEffectTables, random_effect_tables

_TINY = 1e-300


def zi_terms(ctx: ModelContext) -> list[RandomTerm]:
    """The random terms of the family's zero-part formula (empty when it has none)."""
    name = getattr(ctx.family, "zi_parameter", None)
    pd_ = ctx.design.param_designs.get(name) if name else None
    return list(pd_.terms) if pd_ is not None else []


def has_zi_random(ctx: ModelContext) -> bool:
    """Whether the zero part's formula has random effects."""
    return bool(zi_terms(ctx))


def eta_key(name: str) -> str:
    """The key of ``fparams`` holding a parameter's fixed-part linear predictor."""
    return f"{name}~eta"


def zi_block(pdesign) -> tuple[int, int]:
    """(coefficients of the fixed part, entries of theta) of a parameter's block."""
    return pdesign.k, pdesign.ntheta


@dataclass
class ZiSystem:
    """The joint penalised system of the conditional and zero-part terms on 2n pseudo-rows."""

    system: PenalizedSystem
    nc: int  # conditional terms (the first ones of the stacked list)
    perm_c: np.ndarray  # u_c in the conditional system's order, as indices into u (stacked order)
    perm_z: np.ndarray  # u_z term after term, as indices into u
    zslices: list[slice]  # theta slices of the zero-part terms (within their block)
    cond_pos: dict[int, int]  # conditional term -> its position in the conditional system
    pair: PairLayout | None = None  # one scalar term in each part on one grouping

    def factor(self, ZL: list[np.ndarray], w: np.ndarray):
        """The factor of H (None if it is not positive definite): 2 x 2 blocks per level for
        a pair of scalar terms on one grouping (:mod:`interlace.glmm.zi_pair`), else the
        blocked Cholesky."""
        if self.pair is not None:
            return self.pair.factor(ZL, w)
        return self.system.factor(ZL, w)

    @classmethod
    def build(cls, ctx: ModelContext) -> ZiSystem:
        cond, zt = list(ctx.design.terms), zi_terms(ctx)
        stacked = [dataclasses.replace(t, codes=np.concatenate([t.codes, t.codes]),
                                       Z=np.vstack([t.Z, t.Z])) for t in cond + zt]
        big = PenalizedSystem(stacked)
        sl_big = {ti: big.slices[big.pos_of[ti]] for ti in range(len(stacked))}
        csys = ctx.system
        perm_c = np.concatenate([np.arange(sl_big[ti].start, sl_big[ti].stop)
                                 for ti in csys.order])
        perm_z = np.concatenate([np.arange(sl_big[len(cond) + j].start,
                                           sl_big[len(cond) + j].stop)
                                 for j in range(len(zt))])
        zslices, i = [], 0
        for t in zt:
            zslices.append(slice(i, i + t.ntheta))
            i += t.ntheta
        return cls(big, len(cond), perm_c, perm_z, zslices,
                   {ti: pos for pos, ti in enumerate(csys.order)}, PairLayout.of(big))

    def blocks(self, ZLc: list[np.ndarray], ZLz: list[np.ndarray], c: tuple, e: tuple
               ) -> list[np.ndarray]:
        """Z Lambda of the stacked terms in the big system's order: a conditional term's rows
        scaled by (c1; c2), a zero-part term's by (e1; e2), per pseudo-row pair."""
        out = []
        for ti in self.system.order:
            if ti < self.nc:
                zl = ZLc[self.cond_pos[ti]]
                out.append(np.vstack([c[0][:, None] * zl, c[1][:, None] * zl]))
            else:
                zl = ZLz[ti - self.nc]
                out.append(np.vstack([e[0][:, None] * zl, e[1][:, None] * zl]))
        return out


def zi_system(ctx: ModelContext) -> ZiSystem:
    """The model's joint system, built once and kept on the context."""
    zs = ctx.__dict__.get("_zi_system")
    if zs is None:
        zs = ZiSystem.build(ctx)
        ctx.__dict__["_zi_system"] = zs
    return zs


class _ZeroPartView:
    """The zero part's random terms seen as a model context (``design.terms``,
    ``theta_slices``, ``u_blocks``), for the conditional model's table builders."""

    def __init__(self, terms: list[RandomTerm]) -> None:
        self.terms = terms
        self.design = self
        offs = np.cumsum([0] + [t.ntheta for t in terms])
        self._theta = [slice(int(a), int(b)) for a, b in zip(offs[:-1], offs[1:])]
        offs = np.cumsum([0] + [t.q for t in terms])
        self._u = [slice(int(a), int(b)) for a, b in zip(offs[:-1], offs[1:])]

    def theta_slices(self) -> list[slice]:
        return self._theta

    def u_blocks(self, u: np.ndarray) -> dict[int, np.ndarray]:
        return {i: u[sl].reshape(-1, t.k) for i, (t, sl) in enumerate(zip(self.terms, self._u))}


def zi_tables(ctx: ModelContext, theta_z: np.ndarray, u_z: np.ndarray) -> RandomEffectTables:
    """The zero part's variance components (logit scale), conditional modes and VarCorr."""
    return random_effect_tables(_ZeroPartView(zi_terms(ctx)), theta_z, u_z, 1.0, None)


def _zl_zero(ZLz: list[np.ndarray], terms: list[RandomTerm], uz: list[np.ndarray]) -> np.ndarray:
    """(Z_z Lambda_z) u_z, one value per row."""
    out = 0.0
    for zl, t, u in zip(ZLz, terms, uz):
        if t.k == 1:  # a scalar term: one product
            out = out + zl[:, 0] * u.take(t.codes)
            continue
        U = u.reshape(-1, t.k)
        out = out + np.einsum("ij,ij->i", zl, U[t.codes])
    return out


def _zlt_zero(ZLz: list[np.ndarray], terms: list[RandomTerm], r: np.ndarray) -> np.ndarray:
    """(Z_z Lambda_z)' r, term after term."""
    return np.concatenate([np.bincount(t.ucols, (zl * r[:, None]).ravel(), minlength=t.q)
                           for zl, t in zip(ZLz, terms)])


def pseudo_rows(Jee, Jez, Jzz, se, sz):
    """Each row's 2 x 2 information as two pseudo-rows: coefficients of the conditional
    columns (c1, c2) and of the zero part's (e1, e2), weights (w1, w2), and the residuals
    (r1, r2) whose products with them give the scores (c1 r1 + c2 r2 = se, e1 r1 + e2 r2 = sz).
    The pivot is the larger diagonal entry."""
    a = np.abs(Jee) >= np.abs(Jzz)
    piv = np.where(a, Jee, Jzz)
    lv = Jez / np.where(np.abs(piv) > _TINY, piv, _TINY)  # the off-pivot's multiplier
    af = a.astype(float)
    c = (np.where(a, 1.0, lv), 1.0 - af)
    e = (np.where(a, lv, 1.0), af)
    w = np.concatenate([piv, np.where(a, Jzz, Jee) - Jez * lv])
    r1 = np.where(a, se, sz)
    r = np.concatenate([r1, np.where(a, sz, se) - lv * r1])
    return c, e, w, r


@dataclass
class _Point:
    """The penalised log-likelihood's pieces at (u_c, u_z)."""

    eta: np.ndarray
    mu: np.ndarray
    zi: np.ndarray
    ll: float
    pdev: float


def _derivatives(fam, link, d, pt: _Point, fp: dict, name: str):
    """Scores and observed information in (eta, zeta) per row, and a function returning
    Fisher's (called only where the observed one is not positive definite)."""
    fpi = dict(fp, **{name: pt.zi})
    fused = getattr(fam, "zi_newton_terms", None)
    if fused is not None:  # one pass over the family's pieces
        d1, d2, lp, lmp, lpp = fused(d.y, pt.mu, d.weights, fpi)
    else:
        D = fam.loglik_derivatives(d.y, pt.mu, d.weights, fpi, (name,))
        d1, d2, lp, lmp = D.d1, D.d2, D.dp[name], D.dp1[name]
        lpp = fam.param_second_derivative(d.y, pt.mu, d.weights, fpi, name)
    me, me2 = link.mu_eta(pt.eta), link.d2mu_eta(pt.eta)
    p1 = pt.zi * (1.0 - pt.zi)
    p2 = p1 * (1.0 - 2.0 * pt.zi)
    se, sz = d1 * me, lp * p1
    Jee = -(d2 * me * me + d1 * me2)
    Jez = -(lmp * me * p1)
    Jzz = -(lpp * p1 * p1 + lp * p2)

    def fisher():  # only where the exact information is not positive definite
        return fam.info_mu(d.y, pt.mu, d.weights, fpi) * me * me, d.weights * p1

    return se, sz, Jee, Jez, Jzz, fisher


def _inputs_key(theta: np.ndarray, beta: np.ndarray, fp: dict, u: np.ndarray) -> tuple:
    """The bytes of a call's inputs (for :func:`pirls_zi`'s memo of its last result)."""
    return (np.asarray(theta, float).tobytes(), np.asarray(beta, float).tobytes(),
            np.asarray(u, float).tobytes(),
            tuple((k, np.asarray(v).tobytes()) for k, v in sorted(fp.items())))


def pirls_zi(ctx: ModelContext, theta: np.ndarray, beta: np.ndarray, fp: dict, u0: np.ndarray,
             tol: float = 1e-12, maxit: int = 60) -> PirlsResult:
    """The joint conditional modes of (u_c, u_z) and the factor of H there (observed
    information); ``theta`` holds the zero part's entries after the conditional ones and
    ``fp[zi + "~eta"]`` its fixed linear predictor. The result's ``u`` is [u_c, u_z].

    Newton's method stops once the decrement is below ``tol`` and then takes that last step,
    so converged modes are exact to rounding: a call at the same parameters started from
    them (the objective's ``reconverge`` before differences) returns the last result."""
    memo = ctx.__dict__.get("_zi_last")
    key = _inputs_key(theta, beta, fp, u0)
    if memo is not None and memo[0] == key:
        return memo[1]
    res = _pirls_zi(ctx, theta, beta, fp, u0, tol, maxit)
    if res.converged:
        ctx.__dict__["_zi_last"] = (_inputs_key(theta, beta, fp, res.u), res)
    return res


def _pirls_zi(ctx: ModelContext, theta: np.ndarray, beta: np.ndarray, fp: dict, u0: np.ndarray,
              tol: float, maxit: int) -> PirlsResult:
    """:func:`pirls_zi`'s work."""
    d, fam, link = ctx.design, ctx.family, ctx.link
    name = fam.zi_parameter
    zs, zt = zi_system(ctx), zi_terms(ctx)
    nt = ctx.ntheta
    ZLc = ctx.zl(theta[:nt])
    thz = theta[nt:]
    ZLz = [t.ZLambda(thz[sl]) for t, sl in zip(zt, zs.zslices)]
    fp = dict(fp)
    zeta0 = np.asarray(fp.pop(eta_key(name)), dtype=float)
    base = fixed_effects_for(ctx).xbeta(beta)
    qc = ctx.system.q
    qz = sum(t.q for t in zt)
    u = np.zeros(qc + qz)
    u[: min(u0.size, qc + qz)] = u0[: qc + qz]
    split = np.cumsum([t.q for t in zt])[:-1]
    # the data-only term once (it does not depend on zi): each point sums the kernel only
    const = ctx.loglik_constant({k: v for k, v in fp.items() if k != name})

    def at(uu: np.ndarray) -> _Point | None:
        eta = base + ctx.system.zl_u(ZLc, uu[:qc])
        uz = [uu[qc:]] if len(zt) == 1 else np.split(uu[qc:], split)
        zeta = np.clip(zeta0 + _zl_zero(ZLz, zt, uz), -30.0, 30.0)
        if not link.valid_eta(eta):
            return None
        mu, zi = link.inverse(eta), expit(zeta)
        with np.errstate(all="ignore"):
            ll = float(np.sum(fam.loglik_kernel(d.y, mu, d.weights, dict(fp, **{name: zi}))))
            ll += const
        if not math.isfinite(ll):
            return None
        return _Point(eta, mu, zi, ll, -2.0 * ll + float(uu @ uu))

    pt = at(u)
    if pt is None and np.any(u != 0):
        u = np.zeros_like(u)
        pt = at(u)
    if pt is None:
        return PirlsResult(u, beta, base, None, -np.inf, None, None, False, 0, zl=ZLc)
    return _newton(ctx, zs, zt, ZLc, ZLz, fp, name, u, pt, at, tol, maxit, beta)


def _factor(zs: ZiSystem, ZLc, ZLz, Jee, Jez, Jzz, se, sz):
    """The factor of H for these informations and the gradient's residuals (None if H is not
    positive definite)."""
    c, e, w, r = pseudo_rows(Jee, Jez, Jzz, se, sz)
    ZL = zs.blocks(ZLc, ZLz, c, e)
    return zs.factor(ZL, w), ZL, r


def _positive(Jee, Jez, Jzz, fisher_info):
    """Each row's information made positive definite: Fisher's where a diagonal entry is not
    positive, the cross term shrunk inside the diagonals' geometric mean."""
    fisher = fisher_info()
    Jee = np.where(Jee > 0, Jee, fisher[0])
    Jzz = np.where(Jzz > 0, Jzz, np.maximum(fisher[1], _TINY))
    bound = 0.99 * np.sqrt(Jee * Jzz)
    return Jee, np.clip(Jez, -bound, bound), Jzz


def _newton(ctx, zs, zt, ZLc, ZLz, fp, name, u, pt, at, tol, maxit, beta) -> PirlsResult:
    """Newton's method on the penalised deviance with step halving (see :func:`pirls_zi`)."""
    d, fam, link = ctx.design, ctx.family, ctx.link
    perm = np.concatenate([zs.perm_c, zs.perm_z])  # big order -> [u_c, u_z]
    inv = np.empty_like(perm)
    inv[perm] = np.arange(perm.size)  # [u_c, u_z] -> big order
    converged, it = False, 0
    for it in range(1, maxit + 1):  # noqa: B007 - iteration count is reported
        se, sz, Jee, Jez, Jzz, fisher = _derivatives(fam, link, d, pt, fp, name)
        F, ZL, r = _factor(zs, ZLc, ZLz, Jee, Jez, Jzz, se, sz)
        if F is None:
            F, ZL, r = _factor(zs, ZLc, ZLz, *_positive(Jee, Jez, Jzz, fisher), se, sz)
            if F is None:
                break
        g = zs.system.zlt_r(ZL, r) - u[inv]  # in the big system's order
        du = F.solve(g)[perm]
        dec = float(g @ du[inv])
        if dec < tol:
            converged = True
            u = u + du
            pt = at(u) or pt
            break
        step = 1.0
        while step > 1e-10:
            new = at(u + step * du)
            if new is not None and new.pdev <= pt.pdev + 1e-10 * max(1.0, abs(pt.pdev)):
                break
            step *= 0.5
        else:
            converged = True
            break
        small = abs(pt.pdev - new.pdev) < 1e-13 * max(1.0, abs(pt.pdev))
        u, pt = u + step * du, new
        if small:
            converged = True
            break
    se, sz, Jee, Jez, Jzz, _ = _derivatives(fam, link, d, pt, fp, name)
    F = _factor(zs, ZLc, ZLz, Jee, Jez, Jzz, se, sz)[0]
    return PirlsResult(u, beta, pt.eta, pt.mu, pt.ll, F, None, converged, it, zl=ZLc, zi=pt.zi)
