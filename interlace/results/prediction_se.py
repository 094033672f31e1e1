"""Standard errors of predictions on the link scale (the response scale is the caller's delta
method: se(mu) = |d mu / d eta| se(eta)).

**Fixed part only** (``re_form="~0"``): se(eta_i) = sqrt(x_i' V x_i) with V = ``result.vcov``,
as ``predict(se.fit = TRUE, re.form = NA)`` of glmmTMB.

**With random effects**, glmmTMB's approach (``re.form = NULL``; TMB's ``sdreport``, the
"generalised delta method" of Kass and Steffey 1989): the prediction eta_i = x_i' beta +
z_i' b(psi) uses the conditional modes b at the estimated parameters psi, so

    Var(eta_i) = z_i' Var(b | y, psi) z_i + g_i' Cov(psi) g_i,    g_i = d eta_i / d psi,

the conditional variance of the modes (lme4's ``condVar``, jointly over the included terms of
a row) plus the estimates' uncertainty carried through the modes (the modes move with beta and
theta). Each kind gives the second part as a :class:`Sensitivity`. A group not seen when
fitting has mode 0 and its prior covariance Lambda Lambda' as conditional variance.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats
from scipy.sparse import csr_matrix

from interlace.errors import InterlaceError, InterlaceWarning
from interlace.results.prediction import PredictionRows

_SOLVE_ENTRIES = 20_000_000  # entries of the q x m right-hand sides solved at once


@dataclass
class Sensitivity:
    """How a prediction moves with the estimated parameters, in blocks (A, D, C): the
    gradient of x' beta + z' b with respect to the block's parameters is x' A + z' D, where
    A is (p, m), D (q, m) with b laid out as :func:`b_offsets` says, and C (m, m) is their
    covariance. The blocks' contributions add up. ``factor`` is the penalised system's factor
    at the modes whose inverse is the modes' conditional covariance (the exact Hessian of the
    joint log-density in u, as TMB's ``sdreport``)."""

    blocks: list[tuple[np.ndarray, np.ndarray, np.ndarray]]
    factor: object


def b_offsets(design) -> np.ndarray:
    """Where each term's b starts in the stacked vector of all b: the design's term order,
    each term level-major (level l, column c at offset + l k + c)."""
    return np.concatenate([[0], np.cumsum([t.q for t in design.terms])]).astype(np.int64)


def b_from_u(ctx, theta: np.ndarray, U: np.ndarray) -> np.ndarray:
    """b = Lambda(theta) u for spherical u (q,) or (q, m) in the solver's layout, as the
    stacked b of :func:`b_offsets`."""
    s, d = ctx.system, ctx.design
    tsl = ctx.theta_slices()
    mat = U.reshape(U.shape[0], -1)
    out = []
    for ti, t in enumerate(d.terms):
        blk = mat[s.slices[s.pos_of[ti]]].reshape(t.nlevels, t.k, -1)
        out.append(np.einsum("ab,lbm->lam", t.Lambda(theta[tsl[ti]]), blk).reshape(t.q, -1))
    b = np.vstack(out)
    return b[:, 0] if U.ndim == 1 else b


def fixed_se(X: np.ndarray, vcov: np.ndarray) -> np.ndarray:
    """sqrt(diag(X V X')), row by row without forming X V X'."""
    return np.sqrt(np.maximum(np.einsum("ij,ij->i", X @ vcov, X), 0.0))


def _entries(rows: PredictionRows, design, start_of, factor_of) -> tuple[np.ndarray, np.ndarray]:
    """Per row, the columns and values of its included terms' seen levels: (n, K) arrays
    (value 0 where a row's group is new); ``start_of(ti)`` is a term's first column and
    ``factor_of(ti)`` the matrix its Z columns are multiplied by."""
    cols, vals = [], []
    for tr in rows.terms:
        t = design.terms[tr.term]
        seen = (tr.codes >= 0)[:, None]
        c = start_of(tr.term) + np.where(seen, tr.codes[:, None], 0) * t.k + np.arange(t.k)
        cols.append(np.where(seen, c, 0))
        vals.append(np.where(seen, tr.Z @ factor_of(tr.term), 0.0))
    return np.hstack(cols), np.hstack(vals)


def rows_matrix(rows: PredictionRows, design) -> csr_matrix:
    """The included terms' Z on the prediction's rows against the stacked b (n, q)."""
    off = b_offsets(design)
    if not rows.terms:
        return csr_matrix((rows.n, int(off[-1])))
    C, V = _entries(rows, design, lambda ti: off[ti], lambda ti: np.eye(design.terms[ti].k))
    r = np.repeat(np.arange(rows.n), C.shape[1])
    return csr_matrix((V.ravel(), (r, C.ravel())), shape=(rows.n, int(off[-1])))


def minv_pairs(factor, q: int, J: np.ndarray, L: np.ndarray) -> np.ndarray:
    """Entries (M^-1)[J, L] of the inverse of the factored penalised system, solving only
    for the distinct columns L (in chunks)."""
    out = np.empty(J.shape[0])
    if not J.size:
        return out
    uL, inv = np.unique(L, return_inverse=True)
    step = max(1, min(len(uL), _SOLVE_ENTRIES // max(q, 1)))
    for s in range(0, len(uL), step):
        chunk = uL[s:s + step]
        E = np.zeros((q, len(chunk)))
        E[chunk, np.arange(len(chunk))] = 1.0
        S = factor.solve(E)
        sel = (inv >= s) & (inv < s + step)
        out[sel] = S[J[sel], inv[sel] - s]
    return out


def conditional_var(rows: PredictionRows, ctx, theta_abs: np.ndarray, factor) -> np.ndarray:
    """z_i' Var(b | y) z_i per row over its included terms jointly: a_i' M^-1 a_i with a_i
    the row's Z Lambda (absolute theta, so b = Lambda u with u ~ N(0, I)) on u's layout."""
    s, design, tsl = ctx.system, ctx.design, ctx.theta_slices()
    C, V = _entries(rows, design, lambda ti: s.slices[s.pos_of[ti]].start,
                    lambda ti: design.terms[ti].Lambda(theta_abs[tsl[ti]]))
    K = C.shape[1]
    J = np.broadcast_to(C[:, :, None], (rows.n, K, K))
    L = np.broadcast_to(C[:, None, :], (rows.n, K, K))
    W = V[:, :, None] * V[:, None, :]
    nz = W != 0
    row = np.broadcast_to(np.arange(rows.n)[:, None, None], (rows.n, K, K))[nz]
    m = minv_pairs(factor, s.q, J[nz], L[nz])
    return np.bincount(row, W[nz] * m, minlength=rows.n)


def new_group_var(rows: PredictionRows, ctx, theta_abs: np.ndarray) -> np.ndarray:
    """z_i' Lambda Lambda' z_i for the included terms whose group on row i is new (its mode is
    0 and its variance the prior's)."""
    out = np.zeros(rows.n)
    tsl = ctx.theta_slices()
    for tr in rows.terms:
        new = tr.codes < 0
        if new.any():
            Sigma = ctx.design.terms[tr.term].covariance(theta_abs[tsl[tr.term]])
            Zn = tr.Z[new]
            out[new] += np.einsum("ij,ij->i", Zn @ Sigma, Zn)
    return out


def parameter_var(rows: PredictionRows, design, sens: Sensitivity) -> np.ndarray:
    """g_i' Cov(psi) g_i summed over the sensitivity's blocks."""
    A_rows = rows_matrix(rows, design)
    out = np.zeros(rows.n)
    for A, D, C in sens.blocks:
        G = rows.X @ A + np.asarray(A_rows @ D)
        out += np.einsum("ij,ij->i", G @ C, G)
    return out


def prediction_se(rows: PredictionRows, ctx, vcov: np.ndarray, theta_abs: np.ndarray,
                  sensitivity) -> np.ndarray:
    """The link-scale standard error per row: the fixed part's when no random term is
    included, else the generalised delta method's (``sensitivity()``: the kind's
    :class:`Sensitivity`, asked for only then)."""
    if not rows.terms:
        return fixed_se(rows.X, vcov)
    sens = sensitivity()
    var = (conditional_var(rows, ctx, theta_abs, sens.factor)
           + new_group_var(rows, ctx, theta_abs) + parameter_var(rows, ctx.design, sens))
    return np.sqrt(np.maximum(var, 0.0))


def free_covariance(H: np.ndarray, free: np.ndarray, what: str) -> np.ndarray:
    """2 H^-1 over the ``free`` parameters (the covariance of estimates whose deviance has
    Hessian H); parameters held at a bound are left out. NaN with a warning when H is not
    positive definite there."""
    Hf = H[np.ix_(free, free)]
    try:
        np.linalg.cholesky(Hf)
        return 2.0 * np.linalg.inv(Hf)
    except np.linalg.LinAlgError:
        warnings.warn(f"the Hessian of the deviance in {what} is not positive definite: the "
                      f"standard errors of predictions with random effects are NaN",
                      InterlaceWarning, stacklevel=4)
        return np.full(Hf.shape, np.nan)


def central_differences(f, x: np.ndarray, which: np.ndarray) -> np.ndarray:
    """d f / d x_j for j in ``which`` by central differences (relative steps 1e-4), stacked as
    columns: f returns a vector."""
    cols = []
    for j in which:
        h = 1e-4 * max(1.0, abs(float(x[j])))
        up, dn = x.copy(), x.copy()
        up[j] += h
        dn[j] -= h
        cols.append((f(up) - f(dn)) / (2 * h))
    return np.column_stack(cols) if cols else np.zeros((0, 0))


INTERVALS = (None, "confidence")


def check_interval_arguments(se_fit: bool, interval: str | None, level: float) -> bool:
    """Whether standard errors are asked for; bad ``se_fit`` / ``interval`` / ``level``
    raise naming the argument."""
    if not isinstance(se_fit, (bool, np.bool_)):
        raise InterlaceError(f"se_fit must be True or False, got {se_fit!r}")
    if interval not in INTERVALS:
        raise InterlaceError(f"interval must be None or 'confidence', got {interval!r} "
                             f"(prediction intervals for new observations are not offered)")
    if isinstance(level, (bool, np.bool_)) or not isinstance(level, (int, float, np.number)) \
            or not 0.0 < float(level) < 1.0:
        raise InterlaceError(f"level must be a number between 0 and 1, got {level!r}")
    return bool(se_fit) or interval is not None


def se_table(fit: np.ndarray, se: np.ndarray, eta: np.ndarray, se_eta: np.ndarray, inverse,
             interval: str | None, level: float, index: pd.Index | None) -> pd.DataFrame:
    """``fit`` and ``se_fit``, and with ``interval`` the bounds ``lower`` / ``upper``: the
    normal interval of eta at ``level``, mapped through ``inverse`` (the inverse link; None
    on the link scale) and ordered (a decreasing link swaps the ends)."""
    out = {"fit": fit, "se_fit": se}
    if interval is not None:
        z = float(stats.norm.ppf(0.5 + float(level) / 2.0))
        lo, hi = eta - z * se_eta, eta + z * se_eta
        if inverse is not None:
            lo, hi = inverse(lo), inverse(hi)
        out["lower"], out["upper"] = np.minimum(lo, hi), np.maximum(lo, hi)
    return pd.DataFrame(out, index=index)
