"""The Conway-Maxwell-Poisson distribution in its mean parametrisation: normalising constant,
rate and moments, vectorised over rows.

P(y) = lambda^y / (y!)^nu / Z(lambda, nu), y = 0, 1, ...; glmmTMB's ``compois`` is
parametrised by the mean mu (and nu = 1/phi), so each row's log-rate a = log(lambda) solves
E[Y] = mu. Everything comes from sums over y of the terms exp(a y - nu log y!):

* the window: the terms are log-concave in y, and fall by e^-40 (relative to the largest)
  within y in [lo, hi], found per row from the curvature nu / y of the log-terms around the
  mean (:func:`window`); outside it they are below 4e-18 of the total;
* the sum: exact over the integers of the window, or, where the window is wider than
  :data:`EXACT_WIDTH` and away from y = 0, every h-th integer times h: the trapezoidal rule on
  a smooth, rapidly decaying function, whose error is of order exp(-2 pi^2 (sd / h)^2), below
  1e-100 with h <= sd / 10 (so wide windows, as for means in the thousands or small nu, cost
  about as much as narrow ones);
* the rate: Newton's method on a (d E[Y] / d a = Var(Y)) from the asymptotic start
  a = nu log(mu + (nu - 1) / (2 nu)) (log mu for small means), to |E[Y] - mu| < 1e-12 mu.

Accurate over the whole range (nu from 0.02 to 50, means from 1e-6 to 1e5: the relative error
of Z and the moments stays at rounding level; ``tests/test_families_new.py`` checks them
against brute-force sums).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import gammaln

EXACT_WIDTH = 400  # windows up to this many integers are summed exactly
_TRAPEZOID_POINTS = 200  # points of the trapezoidal rule on wider windows
_DROP = 40.0  # the window ends where the log-terms fall this far below their maximum
_MAX_NEWTON = 60
_MAX_CELLS = 400_000  # rows x points summed at once
_MAX_RATE = 1e4  # |log lambda| is kept below this (an optimizer's trial points can be wild)


@dataclass
class ComPoisState:
    """Per row: the log-rate ``a``, log Z, the cumulants of Y (``var``, ``k3``, ``k4``) and
    of T = log Y! with Y (``et`` = E[T], ``cyt`` = Cov(Y, T), ``kyyt`` = E[(Y - mu)^2 (T -
    E T)], ``kyyyt`` = the joint cumulant k(Y, Y, Y, T))."""

    a: np.ndarray
    logz: np.ndarray
    var: np.ndarray
    k3: np.ndarray
    k4: np.ndarray
    et: np.ndarray
    cyt: np.ndarray
    kyyt: np.ndarray
    kyyyt: np.ndarray


def _upper_reach(c: np.ndarray) -> np.ndarray:
    """x > 0 with (1 + x) log(1 + x) - x = c (Newton from a start that is above the root)."""
    x = np.maximum(np.sqrt(2.0 * c), c / np.log(2.0 + c))
    for _ in range(30):
        f = (1.0 + x) * np.log1p(x) - x - c
        x = np.maximum(x - f / np.log1p(x), 0.5 * x)
    return x


def window(mu: np.ndarray, nu: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(lo, hi) per row: integers beyond which the terms are e^-40 below the largest. Around
    the mode m ~ mu the log-terms fall by about nu m ((1 + x) log(1 + x) - x) at y = m (1 + x)
    (Stirling), plus a margin for small means."""
    m = np.maximum(mu, 1e-300)
    c = _DROP / np.maximum(nu * m, 1e-300)
    up = _upper_reach(np.minimum(c, 1e12))
    hi = np.ceil(m * (1.0 + up) + 10.0 + 3.0 / np.maximum(nu, 1e-3))
    # for nu < 1 the distribution is between the Poisson and the geometric of the same mean,
    # whose tail falls by e^-40 within 40 (1 + m) of it: the bound where Stirling's reach
    # (valid for large nu m) is not
    hi = np.minimum(hi, np.ceil(m + _DROP * 1.15 * (1.0 + m) + 10.0))
    # below the mode the fall is faster; the same reach mirrored is generous
    lo = np.where(c < 0.5, np.floor(m * (1.0 - np.minimum(up, 1.0)) - 10.0), 0.0)
    return np.maximum(lo, 0.0), hi


def start_rate(mu: np.ndarray, nu: np.ndarray) -> np.ndarray:
    """The log-rate's start: nu log(mu + (nu - 1) / (2 nu)) (the large-mean asymptote) where
    that is meaningful, log(mu / (1 + mu)) (the geometric, nu -> 0) blended with log mu (the
    Poisson) elsewhere."""
    shift = mu + (nu - 1.0) / (2.0 * nu)
    ok = (mu > 1.0) & (shift > 0.5 * mu)
    small = (1.0 - np.minimum(nu, 1.0)) * np.log(mu / (1.0 + mu)) + np.minimum(nu, 1.0) * np.log(mu)
    return np.where(ok, nu * np.log(np.where(ok, shift, 1.0)), small)


def _bucket_rows(width: np.ndarray) -> list[np.ndarray]:
    """Rows grouped by the size of their window (powers of two), so that a few wide windows do
    not pad every row's."""
    key = np.ceil(np.log2(np.maximum(width, 8.0)))
    order = np.argsort(key, kind="stable")
    ks = key[order]
    cuts = np.flatnonzero(np.diff(ks)) + 1
    return np.split(order, cuts)


def solve(mu: np.ndarray, nu: np.ndarray, a0: np.ndarray | None = None,
          full: bool = True) -> ComPoisState:
    """The state of each row (nu broadcast to mu's rows); ``a0`` a start for the log-rate
    (e.g. the previous call's); ``full=False`` computes a, log Z and Var only."""
    mu = np.maximum(np.asarray(mu, dtype=float), 1e-300)
    nu = np.broadcast_to(np.asarray(nu, dtype=float), mu.shape).astype(float)
    a = start_rate(mu, nu) if a0 is None else np.asarray(a0, dtype=float).copy()
    lo, hi = window(mu, nu)
    width = hi - lo
    step = np.where((width > EXACT_WIDTH) & (lo > 0), np.floor(width / _TRAPEZOID_POINTS), 1.0)
    n = mu.shape[0]
    out = {f: np.zeros(n) for f in ComPoisState.__dataclass_fields__}
    for bucket in _bucket_rows(np.ceil(width / step)):
        k = int(np.max(np.ceil(width[bucket] / step[bucket]))) + 1
        per = max(1, _MAX_CELLS // k)  # rows at a time: bounded memory for wide windows
        for i in range(0, len(bucket), per):
            rows = bucket[i : i + per]
            part = _solve_rows(mu[rows], nu[rows], a[rows], lo[rows], step[rows], k, full)
            for f, v in part.items():
                out[f][rows] = v
    return ComPoisState(**out)


def _solve_rows(mu, nu, a, lo, step, k: int, full: bool) -> dict[str, np.ndarray]:
    """:func:`solve` on rows whose windows have at most ``k`` points."""
    shared = bool(np.all(lo == 0) and np.all(step == 1))
    if shared:  # one grid 0..k-1 for every row
        pts = np.arange(k, dtype=float)[None, :]
    else:
        pts = lo[:, None] + step[:, None] * np.arange(k)[None, :]
    lfact = gammaln(pts + 1.0)
    logw = np.log(step)[:, None]
    lo_a, hi_a = np.full(mu.shape, -np.inf), np.full(mu.shape, np.inf)
    a = np.clip(np.where(np.isfinite(a), a, 0.0), -_MAX_RATE, _MAX_RATE)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        return _newton_rows(mu, nu, a, pts, lfact, logw, shared, lo_a, hi_a, full)


def _newton_rows(mu, nu, a, pts, lfact, logw, shared, lo_a, hi_a, full):
    """The safeguarded Newton iterations and the moments of :func:`_solve_rows`."""
    for it in range(_MAX_NEWTON + 1):
        t = a[:, None] * pts - nu[:, None] * lfact
        top = t.max(axis=1, keepdims=True)
        e = np.exp(t - top + logw)
        tot = e.sum(axis=1)
        m1 = (e @ pts[0] if shared else np.einsum("ij,ij->i", e, pts)) / tot
        d = pts - m1[:, None]
        var = np.einsum("ij,ij->i", e, d * d) / tot
        gap = mu - m1
        if it == _MAX_NEWTON or np.all(np.abs(gap) <= 1e-12 * mu):
            break  # (a, t, e) stay consistent: a is not moved after its sums
        # safeguarded Newton: E[Y] increases with a, so each point brackets the root
        lo_a = np.where(gap > 0, np.maximum(lo_a, a), lo_a)
        hi_a = np.where(gap < 0, np.minimum(hi_a, a), hi_a)
        new = a + np.clip(gap / np.maximum(var, 1e-300), -5.0, 5.0)
        outside = (new <= lo_a) | (new >= hi_a)
        both = np.isfinite(lo_a) & np.isfinite(hi_a)
        a = np.clip(np.where(outside & both, 0.5 * (lo_a + hi_a), new), -_MAX_RATE, _MAX_RATE)
    res = {"a": a, "logz": top[:, 0] + np.log(tot), "var": np.maximum(var, 1e-90)}
    if not full:
        return res
    p = e / tot[:, None]
    d2 = d * d
    res["k3"] = np.einsum("ij,ij->i", p, d2 * d)
    res["k4"] = np.einsum("ij,ij->i", p, d2 * d2) - 3.0 * var * var
    lf = np.broadcast_to(lfact, p.shape)
    res["et"] = np.einsum("ij,ij->i", p, lf)
    tt = lf - res["et"][:, None]
    res["cyt"] = np.einsum("ij,ij->i", p, d * tt)
    res["kyyt"] = np.einsum("ij,ij->i", p, d2 * tt)
    res["kyyyt"] = np.einsum("ij,ij->i", p, d2 * d * tt) - 3.0 * var * res["cyt"]
    return res


def probabilities(mu: np.ndarray, nu: np.ndarray, top: int) -> np.ndarray:
    """P(Y = 0..top) per row (rows x (top + 1)), for simulation."""
    st = solve(mu, nu, full=False)
    ys = np.arange(top + 1, dtype=float)[None, :]
    nu = np.broadcast_to(np.asarray(nu, float), np.shape(mu))
    return np.exp(st.a[:, None] * ys - nu[:, None] * gammaln(ys + 1.0) - st.logz[:, None])

