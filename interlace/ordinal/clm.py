"""The cumulative link model without random effects (R's ``clm``), fitted by Newton's method.

:func:`clmm` starts from it: the thresholds given the starting coefficients (and, where asked,
the coefficients too). The log-likelihood's gradient and Hessian in the thresholds tau and
beta are analytic (:mod:`interlace.ordinal.rows`): a row in category y moves with
a = tau_{y+1} - eta and b = tau_y - eta, so

    dl/dtau_(y+1) = l_a,  dl/dtau_y = l_b,  dl/dbeta = x s,
    d2l/dtau2 from l_aa, l_ab, l_bb (tridiagonal),  d2l/dtau dbeta = x s_a or x s_b,
    d2l/dbeta2 = -X'WX,

then the chain rule to the optimizer's scale z of the threshold parameters (tau = L psi,
psi = z or exp(z)). Newton steps with step halving, the Hessian shifted towards a negative
definite one where it is not (a cauchit model away from its optimum); a few iterations from
the marginal thresholds reach the optimum to rounding.
"""

from __future__ import annotations

import numpy as np
from scipy.linalg.lapack import dpotrf, dpotrs

from interlace.ordinal.rows import category_ends, cuts_for, row_state, second_derivatives


class _ClmProblem:
    """The log-likelihood of one clm and its derivatives in v = (z, beta)."""

    def __init__(self, family, y, weights, X, offset) -> None:
        self.fam, self.s = family, family.structure
        self.yi = np.asarray(y).astype(np.intp)
        self.w = np.asarray(weights, float)
        self.X = np.asarray(X, float).reshape(len(self.yi), -1)
        self.offset = np.asarray(offset, float)
        self.K1, self.nz, self.p = family.ncat - 1, len(self.s.names), self.X.shape[1]
        self.log = np.array([t == "log" for t in self.s.transforms])
        # one-hot of each row's category: its upper cut point is tau[y], its lower tau[y - 1]
        self.onehot = (self.yi[:, None] == np.arange(self.K1 + 1)[None, :]).astype(float)
        self.ends = category_ends(self.yi, self.K1)

    def psi(self, z: np.ndarray) -> np.ndarray:
        return np.where(self.log, np.exp(np.clip(z, -30.0, 30.0)), z)

    def loglik(self, v: np.ndarray) -> tuple[float, dict | None]:
        tau = self.s.L @ self.psi(v[: self.nz])
        # increasing and finite (a NaN fails the comparison)
        if not (tau[1:] > tau[:-1]).all() or not -np.inf < tau[0] <= tau[-1] < np.inf:
            return -np.inf, None
        eta = self.offset + self.X @ v[self.nz:] if self.p else self.offset
        st = row_state(self.fam.cumulative, cuts_for(tau, self.yi, self.ends), eta, True)
        ll = float(self.w @ st["lp"])
        return (ll, st) if np.isfinite(ll) else (-np.inf, None)

    def _by_category(self, v: np.ndarray) -> np.ndarray:
        return np.bincount(self.yi, weights=v, minlength=self.K1 + 1)

    def derivatives(self, v: np.ndarray, st: dict) -> tuple[np.ndarray, np.ndarray]:
        """Gradient and Hessian of the log-likelihood in v."""
        K1, nz, p, w = self.K1, self.nz, self.p, self.w
        la, lb = w * st["ra"], -w * st["rb"]
        laa, lab, lbb = (w * d for d in second_derivatives(st))
        cat = self._by_category
        g_tau = cat(la)[:K1] + cat(lb)[1:]
        H_tt = np.diag(cat(laa)[:K1] + cat(lbb)[1:])
        off = cat(lab)[1:K1]  # rows in category c hold tau[c - 1] (b) and tau[c] (a)
        idx = np.arange(K1 - 1)
        H_tt[idx, idx + 1] = H_tt[idx + 1, idx] = off
        dpsi = np.where(self.log, self.psi(v[:nz]), 1.0)
        J = self.s.L * dpsi[None, :]
        g_z = J.T @ g_tau
        H = np.empty((nz + p, nz + p))
        H[:nz, :nz] = J.T @ H_tt @ J + np.diag(np.where(self.log, g_z, 0.0))  # d2 exp = exp
        g = np.empty(nz + p)
        g[:nz] = g_z
        if p:
            X = self.X
            sa, sb = -(laa + lab), -(lab + lbb)
            SX = self.onehot.T @ (np.column_stack([sa, sb])[:, :, None] * X[:, None, :]
                                  ).reshape(len(w), 2 * p)
            H_tb = SX[:K1, :p] + SX[1:, p:]  # d2l / dtau dbeta: a-rows' s_a x, b-rows' s_b x
            H[:nz, nz:] = J.T @ H_tb
            H[nz:, :nz] = H[:nz, nz:].T
            H[nz:, nz:] = -(X * (sa + sb)[:, None]).T @ X  # sa + sb = W
            g[nz:] = X.T @ (-(la + lb))
        return g, H

    def eta_cross(self, v: np.ndarray, st: dict) -> np.ndarray:
        """Per row, d2l/(deta dv) over v = (z, beta): (n, nz + p). A random effect enters
        a row's eta as a covariate does, so Z Lambda' times this is the cross block of the
        log-likelihood's Hessian in (v, u)."""
        K1, nz = self.K1, self.nz
        laa, lab, lbb = (self.w * d for d in second_derivatives(st))
        sa, sb = -(laa + lab), -(lab + lbb)  # d l_a / deta, d l_b / deta
        R_tau = self.onehot[:, :K1] * sa[:, None] + self.onehot[:, 1:] * sb[:, None]
        dpsi = np.where(self.log, self.psi(v[:nz]), 1.0)
        R_z = R_tau @ (self.s.L * dpsi[None, :])
        return np.column_stack([R_z, -(sa + sb)[:, None] * self.X]) if self.p else R_z


def _newton_step(g: np.ndarray, H: np.ndarray) -> np.ndarray:
    """The ascent step -H^-1 g, with H shifted down until it is negative definite."""
    A = -0.5 * (H + H.T)
    scale = max(float(np.max(np.abs(np.diag(A)))), 1e-8)
    shift = 0.0
    for _ in range(30):
        # LAPACK's potrf/potrs directly: scipy's wrappers cost more than the solve (6 x 6)
        c, info = dpotrf(A + shift * np.eye(A.shape[0]) if shift else A, lower=1, clean=0)
        if info != 0:
            shift = max(2.0 * shift, 1e-6 * scale)
            continue
        return dpotrs(c, g, lower=1)[0]
    return g / scale


def clm_fit(family, y, weights, X, offset, tau0: np.ndarray, maxiter: int = 100,
            tol: float = 1e-12) -> tuple[np.ndarray, np.ndarray, bool]:
    """Maximum likelihood thresholds and coefficients of the clm y ~ X (+ offset), Newton's
    method from thresholds ``tau0`` and beta = 0: returns (tau, beta, converged)."""
    prob = _ClmProblem(family, y, weights, X, offset)
    start = family.structure.from_thresholds(tau0)
    v = np.concatenate([[np.log(start[n]) if lg else start[n]
                         for n, lg in zip(family.structure.names, prob.log)], np.zeros(prob.p)])
    ll, st = prob.loglik(v)
    converged = False
    for _ in range(maxiter):
        if st is None:
            break
        g, H = prob.derivatives(v, st)
        step = _newton_step(g, H)
        dec = float(g @ step)
        if dec < tol:
            converged = True
            break
        t = 1.0
        while t > 1e-10:
            lln, stn = prob.loglik(v + t * step)
            if lln >= ll:
                break
            t *= 0.5
        else:
            converged = True  # no ascent left at machine precision
            break
        v, ll, st = v + t * step, lln, stn
    psi = prob.psi(v[: prob.nz])
    return family.structure.L @ psi, v[prob.nz:], converged


def clm_curvature(family, y, weights, X, offset, v: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray] | None:
    """The clm log-likelihood's Hessian in v = (z, beta) (z: every threshold parameter on its
    unconstrained scale) and the per-row cross derivatives d2l/(deta dv) (:meth:`_ClmProblem.eta_cross`)
    at v; None where the likelihood cannot be evaluated."""
    prob = _ClmProblem(family, y, weights, X, offset)
    ll, st = prob.loglik(np.asarray(v, float))
    if st is None:
        return None
    return prob.derivatives(v, st)[1], prob.eta_cross(v, st)
