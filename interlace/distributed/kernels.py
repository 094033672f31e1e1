"""The statistics a pass computes on one partition: sums over its rows only.

Each function takes a :class:`~interlace.distributed.partition.Partition` (None: a partition
without complete rows) and the pass's payload, and returns a dict of sums that
:func:`~interlace.distributed.passes.add_stats` adds over partitions. A = Z Lambda row by row
(each random term's raw columns times its k x k factor), u in the solver's layout
(:class:`~interlace.distributed.layout.ULayout`).
"""

from __future__ import annotations

import numpy as np
from scipy.sparse import coo_matrix

from interlace.distributed.layout import ULayout
from interlace.glmm.start import level_sums


def summary_stats(part, lay: ULayout) -> dict:
    """Rows, rows dropped for missing values, X'X and X's column sums (rank check, scaling),
    and with crossed terms the pattern of (trailing level, lead level) pairs that rows hold."""
    if part is None:
        return {}
    X = part.X
    out = {"n": part.n, "dropped": part.dropped, "XtX": X.T @ X, "xsum": X.sum(axis=0)}
    if len(lay.ks) > 1:
        codes0 = part.terms[lay.order[0]].codes
        starts = np.cumsum([0] + list(lay.nlevels[1:]))
        rows = np.concatenate([starts[p - 1] + part.terms[lay.order[p]].codes
                               for p in range(1, len(lay.ks))])
        cols = np.tile(codes0, len(lay.ks) - 1)
        out["pattern"] = coo_matrix((np.ones(rows.size), (rows, cols)),
                                    shape=(int(starts[-1]), lay.nlevels[0])).tocsr()
    return out


def glm_stats(part, payload) -> dict:
    """The GLM's log-likelihood, X'WX and X's at beta (no random effects: beta's start)."""
    if part is None:
        return {}
    family, beta = payload
    kern = part.kernel(family)
    eta = part.fixed().xbeta(beta)
    out = kern.evaluate_checked(eta, family.parameter_values())
    if out is None:
        return {"bad": 1}
    mu, llk = out
    s, W = kern.score_weights(eta, mu, family.parameter_values())[:2]
    X = part.X
    return {"bad": 0, "ll": llk + part.const, "XtWX": X.T @ (W[:, None] * X), "Xts": X.T @ s}


def moment_stats(part, payload) -> dict:
    """Each term's per-level sums at the GLM fit (theta's moment start, :func:`interlace.glmm.
    start.level_sums`)."""
    if part is None:
        return {}
    family, beta = payload
    kern = part.kernel(family)
    fp = family.parameter_values()
    eta = part.fixed().xbeta(beta)
    s, W = kern.score_weights(eta, kern.link.inverse(eta), fp)[:2]
    out = {}
    for i, t in enumerate(part.terms):
        out[f"A{i}"], out[f"S{i}"] = level_sums(t, s, W)
    return out


def random_rows(part, lams: list[np.ndarray], lay: ULayout) -> list[np.ndarray]:
    """A's blocks per solver position: Z_t Lambda_t (n x k_t)."""
    return [part.terms[ti].Z @ lams[ti] for ti in lay.order]


def linear_predictor(part, beta, A: list[np.ndarray], u: np.ndarray, lay: ULayout) -> np.ndarray:
    """offset + X beta + A u."""
    eta = part.fixed().xbeta(beta)  # a new array: A u is added in place
    for pos, (ti, sl) in enumerate(zip(lay.order, lay.slices)):
        t = part.terms[ti]
        U = u[sl].reshape(-1, lay.ks[pos])
        eta += np.einsum("ij,ij->i", A[pos], U[t.codes])
    return eta


def at_transpose(part, A: list[np.ndarray], r: np.ndarray, lay: ULayout) -> np.ndarray:
    """A' r for a vector r over rows (q,)."""
    out = []
    for pos, ti in enumerate(lay.order):
        t = part.terms[ti]
        out.append(np.bincount(t.ucols, (A[pos] * r[:, None]).ravel(), minlength=lay.qs[pos]))
    return np.concatenate(out)


def rest_rows(part, lay: ULayout, pos: int, col: int) -> np.ndarray:
    """Row index in the trailing block of (position pos > 0, column col) for every row."""
    t = part.terms[lay.order[pos]]
    return lay.rest_offsets[pos] + t.codes * lay.ks[pos] + col


def weighted_blocks(part, A: list[np.ndarray], W: np.ndarray, lay: ULayout) -> dict:
    """A'WA in the blocked form: the lead term's (levels, k0, k0) blocks, the cross block
    (q2 x q0) and the trailing block (q2 x q2), the last two sparse."""
    k0, n0 = lay.ks[0], lay.nlevels[0]
    codes0 = part.terms[lay.order[0]].codes
    A0 = A[0]
    lead = np.zeros(n0 * k0 * k0)
    for a in range(k0):
        for b in range(k0):
            lead += np.bincount(codes0 * k0 * k0 + a * k0 + b, W * A0[:, a] * A0[:, b],
                                minlength=n0 * k0 * k0)
    out = {"lead": lead.reshape(n0, k0, k0)}
    if len(A) == 1:
        return out
    q0, q2 = lay.q0, lay.q2
    rows, cols, vals, trows, tcols, tvals = [], [], [], [], [], []
    for s in range(1, len(A)):
        for a in range(lay.ks[s]):
            rs = rest_rows(part, lay, s, a)
            wa = W * A[s][:, a]
            for b in range(k0):
                rows.append(rs)
                cols.append(codes0 * k0 + b)
                vals.append(wa * A0[:, b])
            for t in range(1, len(A)):
                for b in range(lay.ks[t]):
                    trows.append(rs)
                    tcols.append(rest_rows(part, lay, t, b))
                    tvals.append(wa * A[t][:, b])
    out["cross"] = coo_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                              shape=(q2, q0)).tocsr()
    out["trail"] = coo_matrix((np.concatenate(tvals), (np.concatenate(trows),
                                                       np.concatenate(tcols))),
                              shape=(q2, q2)).tocsr()
    return out


def pirls_stats(part, payload) -> dict:
    """At (beta, u) with Lambda's blocks: the log-likelihood, A's (s the score in eta) and
    A'WA's blocks (W the Fisher weights), one PIRLS iteration's sums."""
    if part is None:
        return {}
    family, beta, lams, u, lay = payload
    kern = part.kernel(family)
    A = random_rows(part, lams, lay)
    eta = linear_predictor(part, beta, A, u, lay)
    out = kern.evaluate_checked(eta, family.parameter_values())
    if out is None:
        return {"bad": 1}
    mu, llk = out
    s, W = kern.score_weights(eta, mu, family.parameter_values())[:2]
    stats = weighted_blocks(part, A, W, lay)
    stats.update({"bad": 0, "ll": llk + part.const, "As": at_transpose(part, A, s, lay)})
    return stats


def lmm_stats(part, lay: ULayout) -> dict:
    """A linear mixed model's sufficient statistics, in one pass: Z'WZ's blocks, Z'WX, Z'Wy,
    X'WX, X'Wy, y'Wy (y less the offset, W the prior weights), sum log w and the rows."""
    if part is None:
        return {}
    A = [part.terms[ti].Z for ti in lay.order]
    w, X = part.w, part.X
    yo = part.y - part.offset
    WX = w[:, None] * X
    out = weighted_blocks(part, A, w, lay)
    out.update({"ZWy": at_transpose(part, A, w * yo, lay),
                "ZWX": np.column_stack([at_transpose(part, A, WX[:, j], lay)
                                        for j in range(X.shape[1])]),
                "XWX": X.T @ WX, "XWy": WX.T @ yo, "yWy": float(yo @ (w * yo)),
                "sumlogw": float(np.sum(np.log(w))), "n": part.n})
    return out
