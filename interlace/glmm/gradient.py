"""Exact gradient of the Laplace deviance D = -2 sum log p(y|u^) + |u^|^2 + log|M(u^)|.

D depends on the parameters directly and through the mode u^; the first two terms are
stationary in u, so only log|M| carries the mode's sensitivity. With A = Z Lambda, s the
score and J the observed information in eta, W the PIRLS weights (M = I + A'WA),
H = I + A'JA, lev_i = a_i' M^-1 a_i and v = lev * dW/deta, one adjoint solve
lambda = H^-1 A'v gives, with r = v - J (A lambda):

    dD/dbeta    = -2 X's + X'r
    dD/dtheta_k = -2 s'(A_k u) + 2 sum_i W_i a_k,i' M^-1 a_i + r'(A_k u) + s'(A_k lambda)
    dD/dpsi     = -2 dl/dpsi + lev' dW/dpsi + (A lambda)' ds/dpsi    (family parameters)

where A_k = Z dLambda/dtheta_k. The cost is one extra factorisation (non-canonical links),
one solve and the entries of M^-1 on each row's own levels: about one PIRLS iteration,
instead of 2m deviance evaluations for central differences. Every per-row derivative comes in
closed form from the family (``loglik_derivatives``: its derivatives in mu to the third and
in each parameter psi, with d2l/(dmu dpsi) and d3l/(dmu2 dpsi)) and the link (``mu_eta``,
``d2mu_eta``, ``d3mu_eta``); a family without closed forms falls back to the contract's
documented differences (:func:`interlace.families.derivatives.numeric_derivatives`).
"""

from __future__ import annotations

import numpy as np

from interlace.glmm.pirls import PirlsResult
from interlace.model.context import ModelContext


def _eta_derivatives(fam, link, y, eta, mu, w, fp, wrt, observed: bool) -> tuple:
    """From the family's derivatives in mu (:meth:`~interlace.families.base.Family.
    loglik_derivatives`, closed forms for the built-ins) and the link's: the score in eta s,
    the observed information in eta J, the log-determinant's weights W and dW/deta, and for
    each parameter in ``wrt`` (dl/dpsi, ds/dpsi, dW/dpsi) on its natural scale."""
    me, me2, me3 = link.mu_eta(eta), link.d2mu_eta(eta), link.d3mu_eta(eta)
    D = fam.loglik_derivatives(y, mu, w, fp, tuple(wrt), third=True)
    s = D.d1 * me
    J = -(D.d2 * me * me + D.d1 * me2)
    params = {}
    if observed:
        W, Wp = J, -(D.d3 * me**3 + 3.0 * D.d2 * me * me2 + D.d1 * me3)
        for name in wrt:
            params[name] = (D.dp[name], D.dp1[name] * me,
                            -(D.dp2[name] * me * me + D.dp1[name] * me2))
    else:
        info = fam.info_mu(y, mu, w, fp)
        dinfo, dpsi = fam.info_derivatives(y, mu, w, fp, tuple(wrt))
        W = info * me * me
        Wp = dinfo * me**3 + 2.0 * info * me * me2
        for name in wrt:
            params[name] = (D.dp[name], D.dp1[name] * me, dpsi[name] * me * me)
    return s, J, W, Wp, params


def laplace_gradient(ctx: ModelContext, theta: np.ndarray, beta: np.ndarray, fp: dict,
                     res: PirlsResult, fam_names: list[str], observed: bool = False
                     ) -> np.ndarray | None:
    """Gradient over [theta, beta, family parameters (unconstrained)], or None if unavailable."""
    d, fam, link, system = ctx.design, ctx.family, ctx.link, ctx.system
    if res.factor is None or res.mu is None:
        return None
    y, w, X = d.y, d.weights, d.X
    ZL = res.zl if res.zl is not None else ctx.zl(theta)
    u, eta, mu = res.u, res.eta, res.mu
    canonical = fam.canonical_link is not None and fam.canonical_link == link.name
    observed = observed and not canonical
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        s, J, W, Wp, pder = _eta_derivatives(fam, link, y, eta, mu, w, fp, fam_names, observed)
    if observed:
        W = res.weights  # the factor's own weights (J at the mode)
    if canonical or observed:
        J, FJ = W, res.factor
    else:
        FJ = system.factor(ZL, J)
        if FJ is None:
            return None
    m = res.factor.minv_rows(ZL)  # (n, sum k) in solver order
    ZLcat = np.column_stack(ZL)
    lev = np.einsum("ij,ij->i", ZLcat, m)
    v = lev * Wp
    lam = FJ.solve(system.zlt_r(ZL, v))
    Alam = system.zl_u(ZL, lam)
    r = v - J * Alam

    grads = []
    # theta, in the design's term order
    col0, pos_of = system.col0, system.pos_of
    for ti, (t, tsl) in enumerate(zip(d.terms, ctx.theta_slices())):
        pos = pos_of[ti]
        sl = system.slices[pos]
        ut = u[sl].reshape(-1, t.k)[t.codes]
        lt = lam[sl].reshape(-1, t.k)[t.codes]
        if not t.linear:  # a structure: every entry of Lambda's lower triangle, as products
            Z, mt = t.Z, m[:, col0[pos]:col0[pos] + t.k]
            G = ((Z * (r - 2.0 * s)[:, None]).T @ ut + 2.0 * (Z * W[:, None]).T @ mt
                 + (Z * s[:, None]).T @ lt)
            grads.extend(t.chain(theta[tsl], G[t.tri_rows, t.tri_cols]))
            continue
        g_pos = []
        for row, col in zip(t.tri_rows, t.tri_cols):
            zr = t.Z[:, row]
            Aku = zr * ut[:, col]
            Akl = zr * lt[:, col]
            mt = m[:, col0[pos] + col]
            g_pos.append(-2.0 * (s @ Aku) + 2.0 * np.sum(W * zr * mt) + r @ Aku + s @ Akl)
        grads.extend(t.chain(theta[tsl], g_pos))  # Lambda's entries -> the structure's theta
    grads.extend(-2.0 * (X.T @ s) + X.T @ r)
    grads.extend(_family_gradient(fam, d.param_designs, fp, fam_names, pder, lev, Alam))
    return np.asarray(grads, float)


def _family_gradient(fam, pdes: dict, fp: dict, fam_names: list[str], pder: dict,
                     lev: np.ndarray, Alam: np.ndarray) -> list[float]:
    """The family parameters' part on the optimizer's (unconstrained) scale: per row
    -2 dl/dpsi + lev dW/dpsi + (A lambda) ds/dpsi, times d psi / d z, summed for a scalar
    parameter or projected on the columns of its formula."""
    out: list[float] = []
    for name in fam_names:
        dl, ds, dW = pder[name]
        dz = fam.parameters[name].natural_derivative(fp[name])
        with np.errstate(invalid="ignore"):
            row = (-2.0 * dl + lev * dW + Alam * ds) * dz
        row = np.broadcast_to(row, lev.shape)
        if name in pdes:
            out.extend(pdes[name].X.T @ row)
        else:
            out.append(float(np.sum(row)))
    return out
