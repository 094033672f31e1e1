"""Exact gradient of the Laplace deviance with random effects in ``ziformula``.

Each row's log-density l_i depends on two linear predictors, eta (the conditional model's) and
zeta (the zero part's, zi = logistic(zeta)); with b_i the q x 2 map u -> (eta_i, zeta_i),
s_i = dl_i/d(eta, zeta) and J_i = -d2l_i/d(eta, zeta)^2 (2 x 2), the deviance
D = -2 sum l_i + |u^|^2 + log|H|, H = I + sum b_i J_i b_i' (:mod:`interlace.glmm.zi_random`),
has (by the implicit function theorem for the mode u^, as in :mod:`interlace.glmm.gradient`):

    M_i = b_i' H^-1 b_i (2 x 2),   v_i[a] = -sum_bc M_i[b, c] l_abc   (third derivatives),
    lambda = H^-1 sum b_i v_i,     r_i = v_i - J_i b_i' lambda   (2-vectors)
    dD/dbeta  = X'(r_eta - 2 s_eta),   dD/dgamma = X_zi'(r_zeta - 2 s_zeta)
    dD/dtheta_k = sum_i (r_i - 2 s_i)' db_i'u + 2 tr(J_i b_i' H^-1 db_i) + s_i' db_i' lambda
    dD/dpsi   = sum_i -2 l_psi - tr(M_i d2l/d(eta, zeta)^2 dpsi) + (b_i' lambda)' ds_i/dpsi

(db_i = d b_i / d theta_k: a conditional term's theta moves eta only, a zero-part term's zeta
only). The entries of H^-1 b_i on each row's own levels come from one ``minv_rows`` of the
joint factor at the mode, so the whole gradient costs about one Newton step of the joint
mode instead of two deviances per parameter. The per-row derivatives in (mu, zi) come from the
family: ``loglik_derivatives`` (to the third in mu, with zi and psi) and ``zi_derivatives``
(the rest; closed forms for :class:`~interlace.families.zero_part.ZeroPartFamily`, else the
documented differences :func:`~interlace.families.derivatives.numeric_zi_derivatives`);
the links carry them to (eta, zeta).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from interlace.families.derivatives import numeric_zi_derivatives
from interlace.glmm.pirls import PirlsResult
from interlace.glmm.zi_random import eta_key, zi_system, zi_terms
from interlace.model.context import ModelContext


@dataclass
class RowDerivatives:
    """Scores, informations and third derivatives of each row's l in (eta, zeta), and per
    family parameter psi (dl/dpsi, ds_eta/dpsi, ds_zeta/dpsi, the three d3l/(. . dpsi))."""

    se: np.ndarray
    sz: np.ndarray
    J: tuple  # (Jee, Jez, Jzz)
    T: tuple  # (l_eee, l_eez, l_ezz, l_zzz)
    psi: dict = field(default_factory=dict)


def row_derivatives(fam, link, y, w, eta, mu, zi, fp: dict, name: str, psi: list[str]
                    ) -> RowDerivatives:
    """The per-row derivatives in (eta, zeta) from the family's in (mu, zi) and the links'."""
    fpi = dict(fp, **{name: zi})
    D = fam.loglik_derivatives(y, mu, w, fpi, (name, *psi), third=True)
    hook = getattr(fam, "zi_derivatives", None)
    Z = (hook(y, mu, w, fpi, tuple(psi)) if hook is not None
         else numeric_zi_derivatives(fam, y, mu, w, fpi, name, psi))
    m1, m2, m3 = link.mu_eta(eta), link.d2mu_eta(eta), link.d3mu_eta(eta)
    p1 = zi * (1.0 - zi)
    p2 = p1 * (1.0 - 2.0 * zi)
    p3 = p1 * (1.0 - 6.0 * zi + 6.0 * zi * zi)
    lp, lmp, lmmp = D.dp[name], D.dp1[name], D.dp2[name]
    J = (-(D.d2 * m1 * m1 + D.d1 * m2), -(lmp * m1 * p1), -(Z.pp * p1 * p1 + lp * p2))
    T = (D.d3 * m1**3 + 3.0 * D.d2 * m1 * m2 + D.d1 * m3,
         (lmmp * m1 * m1 + lmp * m2) * p1,
         m1 * (Z.mupp * p1 * p1 + lmp * p2),
         Z.ppp * p1**3 + 3.0 * Z.pp * p1 * p2 + lp * p3)
    out = RowDerivatives(D.d1 * m1, lp * p1, J, T)
    for n in psi:
        out.psi[n] = (D.dp[n], D.dp1[n] * m1, Z.p_psi[n] * p1,
                      D.dp2[n] * m1 * m1 + D.dp1[n] * m2, Z.mup_psi[n] * m1 * p1,
                      Z.pp_psi[n] * p1 * p1 + Z.p_psi[n] * p2)
    return out


def _rowdot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.einsum("ij,ij->i", a, b)


def zi_laplace_gradient(ctx: ModelContext, theta: np.ndarray, beta: np.ndarray, fp: dict,
                        res: PirlsResult, fam_names: list[str]) -> np.ndarray | None:
    """Gradient over [theta, beta, family parameters (the zero part's coefficients then its
    theta; others unconstrained)] of the joint Laplace deviance, or None without a factor."""
    if res.factor is None or res.mu is None or res.zi is None:
        return None
    d, fam = ctx.design, ctx.family
    name = fam.zi_parameter
    zs, zt = zi_system(ctx), zi_terms(ctx)
    nt, n = ctx.ntheta, d.y.size
    ZLc = res.zl if res.zl is not None else ctx.zl(theta[:nt])
    ZLz = [t.ZLambda(theta[nt:][sl]) for t, sl in zip(zt, zs.zslices)]
    psi = [p for p in fam_names if p != name]
    fp = {k: v for k, v in fp.items() if k != eta_key(name)}
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        R = row_derivatives(fam, ctx.link, d.y, d.weights, res.eta, res.mu, res.zi, fp, name, psi)
    one, nil = np.ones(n), np.zeros(n)
    ZLb = zs.blocks(ZLc, ZLz, (one, nil), (nil, one))  # rows b_eta (first n), b_zeta (last n)
    M, lam, Bl, (re, rz), (Qe, Qz) = _adjoint(res.factor, zs.system, ZLb, R, n)
    perm = np.concatenate([zs.perm_c, zs.perm_z])
    u_big = np.empty_like(res.u)
    u_big[perm] = res.u  # [u_c, u_z] -> the big system's order
    big = zs.system

    def term_grads(ti, t, th):
        pos = big.pos_of[ti]
        sl, c0 = big.slices[pos], big.col0[pos]
        ut = u_big[sl].reshape(-1, t.k)
        lt = lam[sl].reshape(-1, t.k)
        s, r, Q = (R.se, re, Qe) if ti < zs.nc else (R.sz, rz, Qz)
        return _theta_grads(t, th, ut, lt, Q[:, c0:c0 + t.k], s, r)

    grads: list[float] = []
    for ti, (t, tsl) in enumerate(zip(d.terms, ctx.theta_slices())):
        grads.extend(term_grads(ti, t, theta[tsl]))
    grads.extend(d.X.T @ (re - 2.0 * R.se))
    pdes = d.param_designs
    for p in fam_names:
        if p == name:
            grads.extend(pdes[p].X.T @ (rz - 2.0 * R.sz))
            for j, (t, tsl) in enumerate(zip(zt, zs.zslices)):
                grads.extend(term_grads(zs.nc + j, t, theta[nt:][tsl]))
            continue
        grads.extend(_psi_gradient(fam, pdes, fp, p, R.psi[p], M, Bl))
    return np.asarray(grads, float)


def _adjoint(F, big, ZLb: list[np.ndarray], R: RowDerivatives, n: int) -> tuple:
    """The leverages M_i (M_ee, M_ez, M_zz), lambda = H^-1 sum b_i v_i, b_i' lambda per row,
    the residuals r_i and Q = J b' H^-1 on each row's own levels (eta's, zeta's)."""
    m = F.minv_rows(ZLb)
    Zcat = np.column_stack(ZLb)
    me, mz = m[:n], m[n:]
    M = (_rowdot(Zcat[:n], me), _rowdot(Zcat[:n], mz), _rowdot(Zcat[n:], mz))
    Teee, Teez, Tezz, Tzzz = R.T
    ve = -(Teee * M[0] + 2.0 * Teez * M[1] + Tezz * M[2])
    vz = -(Teez * M[0] + 2.0 * Tezz * M[1] + Tzzz * M[2])
    lam = F.solve(big.zlt_r(ZLb, np.concatenate([ve, vz])))  # the big system's order
    Bl = big.zl_u(ZLb, lam)
    Ble, Blz = Bl[:n], Bl[n:]
    Jee, Jez, Jzz = R.J
    r = (ve - (Jee * Ble + Jez * Blz), vz - (Jez * Ble + Jzz * Blz))
    Q = (Jee[:, None] * me + Jez[:, None] * mz, Jez[:, None] * me + Jzz[:, None] * mz)
    return M, lam, (Ble, Blz), r, Q


def _theta_grads(t, th: np.ndarray, ut: np.ndarray, lt: np.ndarray, Q: np.ndarray,
                 s: np.ndarray, r: np.ndarray) -> list[float]:
    """One term's theta part: sum (r - 2 s) (dA u) + 2 sum Q dA + s (dA lambda) over the
    entries of Lambda's lower triangle, then the structure's chain rule. ``Q`` holds J b' H^-1
    on the row's own levels (the term's k columns)."""
    r2s = r - 2.0 * s
    if not t.linear:
        Z = t.Z
        G = ((Z * r2s[:, None]).T @ ut[t.codes] + 2.0 * Z.T @ Q
             + (Z * s[:, None]).T @ lt[t.codes])
        return list(t.chain(th, G[t.tri_rows, t.tri_cols]))
    g = []
    for row, col in zip(t.tri_rows, t.tri_cols):
        zr = t.Z[:, row]
        g.append(float(r2s @ (zr * ut[t.codes, col])) + 2.0 * float(zr @ Q[:, col])
                 + float(s @ (zr * lt[t.codes, col])))
    return list(t.chain(th, g))


def _psi_gradient(fam, pdes: dict, fp: dict, name: str, der: tuple, M: tuple, Bl: tuple
                  ) -> list[float]:
    """A family parameter's part, per row -2 l_psi - tr(M d2l/dpsi) + (b' lambda)' ds/dpsi,
    times d psi / d z (unconstrained), summed or projected on its formula's columns."""
    l_psi, se_psi, sz_psi, lee, lez, lzz = der
    Mee, Mez, Mzz = M
    with np.errstate(invalid="ignore"):
        row = (-2.0 * l_psi - (Mee * lee + 2.0 * Mez * lez + Mzz * lzz)
               + Bl[0] * se_psi + Bl[1] * sz_psi)
        row = np.broadcast_to(row * fam.parameters[name].natural_derivative(fp[name]),
                              Mee.shape)
    if name in pdes:
        return list(pdes[name].X.T @ row)
    return [float(np.sum(row))]
