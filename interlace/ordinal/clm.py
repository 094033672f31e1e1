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

from interlace.ordinal.rows import cuts_for, row_state, second_derivatives


class _ClmProblem:
    """The log-likelihood of one clm and its derivatives in v = (z, beta)."""

    def __init__(self, family, y, weights, X, offset) -> None:
        self.fam, self.s = family, family.structure
        self.yi = np.asarray(y).astype(np.intp)
        self.w = np.asarray(weights, float)
        self.X = np.asarray(X, float).reshape(len(self.yi), -1)
        self.offset = np.asarray(offset, float)
        K1 = family.ncat - 1
        self.K1, self.nz, self.p = K1, len(self.s.names), self.X.shape[1]
        self.log = np.array([t == "log" for t in self.s.transforms])
        # one-hot of the threshold each row's upper (a) and lower (b) cut point is
        self.Ia = (self.yi[:, None] == np.arange(K1)[None, :]).astype(float)
        self.Ib = (self.yi[:, None] - 1 == np.arange(K1)[None, :]).astype(float)

    def psi(self, z: np.ndarray) -> np.ndarray:
        return np.where(self.log, np.exp(np.clip(z, -30.0, 30.0)), z)

    def loglik(self, v: np.ndarray) -> tuple[float, dict | None]:
        tau = self.s.L @ self.psi(v[: self.nz])
        if np.any(np.diff(tau) <= 0) or not np.all(np.isfinite(tau)):
            return -np.inf, None
        eta = self.offset + self.X @ v[self.nz:]
        st = row_state(self.fam.cumulative, cuts_for(tau, self.yi), eta, True)
        ll = float(self.w @ st["lp"])
        return (ll, st) if np.isfinite(ll) else (-np.inf, None)

    def derivatives(self, v: np.ndarray, st: dict) -> tuple[np.ndarray, np.ndarray]:
        """Gradient and Hessian of the log-likelihood in v."""
        w, X, Ia, Ib = self.w, self.X, self.Ia, self.Ib
        la, lb = w * st["ra"], -w * st["rb"]
        laa, lab, lbb = (w * d for d in second_derivatives(st))
        g_tau = Ia.T @ la + Ib.T @ lb
        H_tt = (Ia * laa[:, None]).T @ Ia + (Ib * lbb[:, None]).T @ Ib
        H_tt += (Ia * lab[:, None]).T @ Ib + (Ib * lab[:, None]).T @ Ia
        sa, sb = -(laa + lab), -(lab + lbb)
        H_tb = (Ia * sa[:, None]).T @ X + (Ib * sb[:, None]).T @ X
        H_bb = -(X * (sa + sb)[:, None]).T @ X  # sa + sb = W
        g_beta = X.T @ (-(la + lb))
        dpsi = np.where(self.log, self.psi(v[: self.nz]), 1.0)
        J = self.s.L * dpsi[None, :]
        g_z = J.T @ g_tau
        H_zz = J.T @ H_tt @ J + np.diag(np.where(self.log, g_z, 0.0))  # d2 exp(z) = exp(z)
        H_zb = J.T @ H_tb
        g = np.concatenate([g_z, g_beta])
        H = np.block([[H_zz, H_zb], [H_zb.T, H_bb]])
        return g, H


def _newton_step(g: np.ndarray, H: np.ndarray) -> np.ndarray:
    """The ascent step -H^-1 g, with H shifted down until it is negative definite."""
    A = -0.5 * (H + H.T)
    shift = 0.0
    scale = max(float(np.max(np.abs(np.diag(A)))), 1e-8)
    for _ in range(30):
        try:
            c = np.linalg.cholesky(A + shift * np.eye(A.shape[0]))
            return np.linalg.solve(c.T, np.linalg.solve(c, g))
        except np.linalg.LinAlgError:
            shift = max(2.0 * shift, 1e-6 * scale)
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
