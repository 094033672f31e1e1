"""One partition's sums for the exact Laplace gradient (canonical links), in one pass.

The formula is :mod:`interlace.glmm.gradient_fused`'s. The adjoint lambda = M^-1 A'v needs
v = lev * dW/deta over every row first, so the terms that hold lambda are kept linear in it:
each partition returns A'v and, per Lambda entry and for beta, the vectors that lambda is
dotted with on the driver (sums over rows given M^-1's entries broadcast by the driver).
"""

from __future__ import annotations

import numpy as np

from interlace.distributed.kernels import (
    at_transpose,
    linear_predictor,
    random_rows,
    rest_rows,
)


def lookup(keys: np.ndarray, vals: np.ndarray, flat: np.ndarray) -> np.ndarray:
    """Values of a sparse matrix stored as sorted flat keys at the flat indices ``flat``."""
    i = np.searchsorted(keys, flat)
    i = np.minimum(i, keys.size - 1)
    return np.where(keys[i] == flat, vals[i], 0.0)


def inverse_entry(part, lay, inv, t: int, c: int, s: int, c2: int) -> np.ndarray:
    """Per row, M^-1 at (position t column c, position s column c2) on the row's levels."""
    P00, P20, P22 = inv
    k0, q0 = lay.ks[0], lay.q0
    codes0 = part.terms[lay.order[0]].codes
    if t == 0 and s == 0:
        return P00[codes0, c, c2]
    if s == 0:
        return lookup(P20[0], P20[1], rest_rows(part, lay, t, c) * q0 + codes0 * k0 + c2)
    if t == 0:
        return lookup(P20[0], P20[1], rest_rows(part, lay, s, c2) * q0 + codes0 * k0 + c)
    return P22[rest_rows(part, lay, t, c), rest_rows(part, lay, s, c2)]


def minv_rows(part, lay, inv, A: list[np.ndarray]) -> np.ndarray:
    """Per row, M^-1 a_i on the row's own levels, (n, sum k) in solver order."""
    cols = []
    for t in range(len(A)):
        for c in range(lay.ks[t]):
            acc = np.zeros(part.n)
            for s in range(len(A)):
                for c2 in range(lay.ks[s]):
                    acc += inverse_entry(part, lay, inv, t, c, s, c2) * A[s][:, c2]
            cols.append(acc)
    return np.column_stack(cols)


def gradient_stats(part, payload) -> dict:
    """Sums for the gradient at the modes: A'v, and per Lambda entry of each term its part
    without lambda (``gconst``) and the vector lambda is dotted with (``gvec``); for beta
    X'(v - 2s) and A'WX."""
    if part is None:
        return {}
    family, beta, lams, u, lay, inv, entries = payload
    kern = part.kernel(family)
    fp = family.parameter_values()
    A = random_rows(part, lams, lay)
    eta = linear_predictor(part, beta, A, u, lay)
    mu = kern.evaluate(eta, fp)[0]
    s, W = kern.score_weights(eta, mu, fp)[:2]
    m = minv_rows(part, lay, inv, A)
    lev = np.einsum("ij,ij->i", np.column_stack(A), m)
    v = lev * kern.weights_deta(eta, mu, W)
    v2s = v - 2.0 * s
    gconst, gvec = [], []
    col0 = lay.col0
    for ti, pos, row, col in entries:
        t = part.terms[ti]
        sl = lay.slices[pos]
        uc = u[sl].reshape(-1, lay.ks[pos])[t.codes, col]
        zr = t.Z[:, row]
        gconst.append(float(v2s @ (zr * uc)) + 2.0 * float((W * zr) @ m[:, col0[pos] + col]))
        hs = np.zeros(lay.q)
        hs[sl] = np.bincount(t.codes * lay.ks[pos] + col, s * zr, minlength=lay.qs[pos])
        gvec.append(hs - at_transpose(part, A, W * zr * uc, lay))
    X = part.X
    WX = W[:, None] * X
    AWX = np.column_stack([at_transpose(part, A, WX[:, j], lay) for j in range(X.shape[1])])
    return {"Av": at_transpose(part, A, v, lay), "gconst": np.array(gconst),
            "gvec": np.array(gvec), "xv": X.T @ v2s, "AWX": AWX}
