"""The penalised system M = (Z Lambda)' W (Z Lambda) + I, factored in blocks.

Random-effect terms are ordered largest first. The first ("lead") term's block of M is block
diagonal (one k x k block per level), so its Cholesky factor is a batch of small factors.
The remaining terms form a dense block factored through the Schur complement

    L21 = A21 L11^-T,   L22 L22' = A22 - L21 L21'

(the blocked Cholesky of MixedModels.jl). Entries are accumulated with ``np.bincount`` on
index arrays computed once per model, so each factorisation is O(n) plus the dense work on the
small trailing block; no n x q Z is ever formed.

The vector u is laid out in this solver's term order, each term's block level-major.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial

import numpy as np
from scipy.linalg import cho_solve, cholesky, solve_triangular
from scipy.linalg.lapack import dpotrf, dpotri
from scipy.sparse import csr_matrix, issparse

from interlace.errors import InterlaceError
from interlace.linalg.iterative import DeferredFactor
from interlace.linalg.stochastic import PROBES, StochasticFactor, rademacher_probes

_SPARSE_MIN = 1_000_000  # q2 * q0 above which the cross block is kept sparse
_MAX_PAIRS = 30_000_000  # non-zero pairs per lead level, summed, kept for the gradient
_SMALL_TERM = 64  # trailing terms with at most this many columns meet the cross block densely
_PCG_ITERS = 60  # conjugate-gradient iterations a solve is budgeted in the cost model
_SLQ_ITERS = 40  # iterations the probe solves of a stochastic evaluation are budgeted
SLQ_MIN_Q2 = 1000  # below this trailing size the exact evaluations are cheap: never "slq"
SOLVERS = ("auto", "cholesky", "pcg", "slq")


def choose_solver(q2: int, nnz21: int, eligible: bool) -> str:
    """The cheapest way to evaluate the deviance and its gradient: "cholesky" (dense factor
    of the q2 x q2 Schur complement, q2^3 / 3 flops, and S^-1 for the gradient, 2 q2^3 / 3),
    "pcg" (PIRLS's Newton solves by conjugate gradients with sparse products, about
    4 nnz21 + 6 q2 flops an iteration; the factor only at the mode) or "slq" (above
    ``SLQ_MIN_Q2``: the optimizer on stochastic log-determinants and gradients from ``PROBES``
    probe solves, :mod:`interlace.linalg.stochastic`, then one exact evaluation); the
    iterative ones only where they apply (``eligible``)."""
    if not eligible:
        return "cholesky"
    dense = q2 ** 3 / 3.0
    per_iter = 4.0 * nnz21 + 6.0 * q2
    if q2 >= SLQ_MIN_Q2 and PROBES * _SLQ_ITERS * per_iter < 3.0 * dense:
        return "slq"
    return "pcg" if _PCG_ITERS * per_iter < dense else "cholesky"


def solver_order(qs: list[int]) -> list[int]:
    """The terms' order in M (indices into ``qs``, the terms' sizes): largest first, stable,
    so the largest term is the diagonal lead block."""
    return sorted(range(len(qs)), key=lambda i: -qs[i])


class PenalizedSystem:
    """Symbolic structure of M for a list of terms; ``factor`` does the numeric work.

    A term is anything with a random-effect term's shape (``interlace.model.terms.RandomTerm``:
    ``k``, ``nlevels``, ``q``, ``codes``, ``Z``, ``ucols``): the linear algebra does not depend
    on how the model was built."""

    def __init__(self, terms: list, solver: str = "auto") -> None:
        self.order = solver_order([t.q for t in terms])
        self.terms = [terms[i] for i in self.order]
        offs = np.cumsum([0] + [t.q for t in self.terms])
        self.slices = [slice(int(offs[i]), int(offs[i + 1])) for i in range(len(self.terms))]
        self.q = int(offs[-1])
        lead = self.terms[0]
        self.k0, self.n0, self.q0 = lead.k, lead.nlevels, lead.q
        self.q2 = self.q - self.q0
        # per term (solver order), read on every product: RandomTerm's k and q are computed
        # properties, so they are kept here as plain values
        self.tk = [t.k for t in self.terms]
        self.tq = [t.q for t in self.terms]
        self.tcodes = [t.codes for t in self.terms]
        self.single1 = len(self.terms) == 1 and self.k0 == 1  # one scalar term: M is diagonal
        # two scalar terms: the trailing block A22 is diagonal (crossed random intercepts)
        self.two_scalar = len(self.terms) == 2 and self.k0 == 1 and self.terms[1].k == 1
        self.col0 = np.cumsum([0] + self.tk)  # first column of each term in minv_rows' output
        self.pos_of = {ti: pos for pos, ti in enumerate(self.order)}  # design term -> solver
        self._zl_ref: list | None = None  # the last Z Lambda factored (held, so never reused)
        self._zl0sq: np.ndarray | None = None  # its lead column squared (k0 == 1)
        self._build_indices()
        self.solver = self._resolve_solver(solver)
        self.stochastic = False  # "slq": estimates in place of exact evaluations (see factor)
        self._probes: np.ndarray | None = None

    def _resolve_solver(self, solver: str) -> str:
        """``solver`` checked, and "auto" replaced by the cost model's choice."""
        if solver not in SOLVERS:
            raise InterlaceError(f"solver must be one of {SOLVERS}, got {solver!r}")
        eligible = (len(self.terms) == 2 and self.k0 == 1 and self.terms[1].k == 1)
        if solver in ("pcg", "slq") and not eligible:
            raise InterlaceError(
                f"solver={solver!r} needs exactly two random-effect terms with one column each "
                "(crossed random intercepts); use 'cholesky' or 'auto'")
        if solver != "auto":
            return solver
        n = int(self.tcodes[0].size)
        return choose_solver(self.q2, min(n, self.q0 * self.q2), eligible)

    # -- symbolic ------------------------------------------------------------------------
    def _build_indices(self) -> None:
        lead, rest = self.terms[0], self.terms[1:]
        k0 = self.k0
        a, b = np.triu_indices(k0)
        self.lead_pairs = (a, b)
        # lead diagonal blocks: flat index into (n0, k0, k0) for pair (a, b)
        self.lead_idx = ([lead.codes * k0 * k0 + ai * k0 + bi for ai, bi in zip(a, b)]
                         if k0 <= 4 else [])  # wider blocks use lead_indicator
        n = len(lead.codes)
        self.lead_indicator = (csr_matrix((np.ones(n), (lead.codes, np.arange(n))),
                                          shape=(lead.nlevels, n)) if k0 > 4 else None)
        self.rest_off = np.cumsum([0] + [t.q for t in rest])[:-1] if rest else []
        # A21 (q2 x q0) and A22 (q2 x q2) entries: (term s, col a) x (term t, col b)
        self.a21_spec, self.a22_diag_spec, self.a22_off_spec = [], [], []
        for si, s in enumerate(rest):
            rs = self.rest_off[si] + s.codes * s.k
            for ca in range(s.k):
                for cb in range(k0):
                    idx = (rs + ca) * self.q0 + lead.codes * k0 + cb
                    self.a21_spec.append((si + 1, ca, 0, cb, idx))
            for ti in range(si, len(rest)):
                t = rest[ti]
                rt = self.rest_off[ti] + t.codes * t.k
                for ca in range(s.k):
                    for cb in range(t.k):
                        idx = (rs + ca) * self.q2 + rt + cb
                        spec = (si + 1, ca, ti + 1, cb, idx)
                        (self.a22_diag_spec if ti == si else self.a22_off_spec).append(spec)
        # A large, sparse cross block (crossed factors with many levels each) is kept in CSR
        # form: its non-zeros are fixed by the data, so their slots are computed once here.
        self.sparse21 = bool(self.q2 and k0 == 1 and self.q2 * self.q0 > _SPARSE_MIN)
        if self.q2:
            self.a21_idx = np.concatenate([s[-1] for s in self.a21_spec])
            if self.sparse21:
                uniq, self.a21_slot = np.unique(self.a21_idx, return_inverse=True)
                rows = uniq // self.q0
                self.a21_cols = (uniq % self.q0).astype(np.int32)
                self.a21_indptr = np.concatenate(
                    [[0], np.cumsum(np.bincount(rows, minlength=self.q2))]).astype(np.int32)
                self.a21_nnz = uniq.size
                self.a21_rows = rows
                # slot of each (row, rest term column) entry, per cross-block spec (k0 == 1)
                offs = np.cumsum([0] + [spec[-1].size for spec in self.a21_spec])
                self.a21_obs_slot = {(spec[0], spec[1]): self.a21_slot[offs[i]:offs[i + 1]]
                                     for i, spec in enumerate(self.a21_spec)}
                # non-zeros sorted by lead level (rows ascending within a level)
                self._order = np.argsort(self.a21_cols, kind="stable").astype(np.int32)
                self._counts = np.bincount(self.a21_cols, minlength=self.q0)
                npairs = int(np.sum(self._counts.astype(np.int64) ** 2))
                self._pairs_ok = npairs <= _MAX_PAIRS
                self._a21_pairs = None
                # rows of small trailing terms (last in the order) are handled as dense rows
                # (terms are sorted by size, so the small ones are the last rows)
                self.a21_nbig = self.q2 - sum(t.q for t in rest if t.q <= _SMALL_TERM)
                self.schur_pairs = self._lower_pairs() if self._pairs_ok else None
            self.a22d_idx = np.concatenate([s[-1] for s in self.a22_diag_spec])
            self.a22o_idx = (np.concatenate([s[-1] for s in self.a22_off_spec])
                             if self.a22_off_spec else None)

    def _lower_pairs(self) -> tuple:
        """Pairs (x, y) of cross-block non-zeros in one lead level with row(x) >= row(y), as
        (x, y, flat index into the q2 x q2 lower triangle), sorted by the flat index."""
        order = self._order
        if self.a21_nbig < self.q2:  # only the rows of the big trailing terms
            order = order[self.a21_rows[order] < self.a21_nbig]
        counts = np.bincount(self.a21_cols[order], minlength=self.q0)
        start = np.repeat((np.cumsum(counts) - counts).astype(np.int32), counts)
        local = np.arange(order.size, dtype=np.int32) - start  # position within its level
        reps = local + 1
        total = int(reps.sum())
        pa = np.repeat(order, reps)
        first = np.repeat(start, reps)
        within = np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(reps) - reps, reps)
        pb = order[first + within]
        rows = self.a21_rows
        flat = rows[pa].astype(np.int64) * self.q2 + rows[pb]
        srt = np.argsort(flat, kind="stable")  # sorted targets: the q2 x q2 gathers and
        return pa[srt], pb[srt], flat[srt]      # scatters then walk memory in order

    @property
    def a21_pairs(self) -> tuple | None:
        """All pairs of cross-block non-zeros sharing a lead level (what P22 B needs on B's
        pattern), built on first use: (x, y, flat index of (row x, row y) in q2 x q2)."""
        if not self.sparse21 or not self._pairs_ok:
            return None
        if self._a21_pairs is None:
            order, counts = self._order, self._counts
            starts = np.repeat(np.cumsum(counts) - counts, counts)  # per sorted entry
            reps = counts[self.a21_cols[order]]
            pa = np.repeat(order, reps)
            npairs = int(reps.sum())
            within = np.arange(npairs) - np.repeat(np.cumsum(reps) - reps, reps)
            pb = order[np.repeat(starts, reps) + within]
            rows = self.a21_rows
            self._a21_pairs = (pa, pb, rows[pa].astype(np.int64) * self.q2 + rows[pb])
        return self._a21_pairs

    # -- products with Z Lambda ----------------------------------------------------------
    def zl_u(self, ZL: list[np.ndarray], u: np.ndarray) -> np.ndarray:
        """(Z Lambda) u, one value per row."""
        if self.single1:
            return ZL[0][:, 0] * u.take(self.tcodes[0])
        out = None
        for k, codes, zl, sl in zip(self.tk, self.tcodes, ZL, self.slices):
            ut = u[sl]
            if k == 1:
                v = zl[:, 0] * ut.take(codes)
            elif k > 4:  # a structured term's wide blocks: one gather, row sums
                v = np.einsum("ij,ij->i", zl, ut.reshape(-1, k)[codes])
            else:
                U = ut.reshape(-1, k)
                v = zl[:, 0] * U[codes, 0]  # by columns: faster than einsum's row sums
                for c in range(1, k):
                    v += zl[:, c] * U[codes, c]
            out = v if out is None else out + v
        return out

    def zl_u_matrix(self, ZL: list[np.ndarray], U: np.ndarray) -> np.ndarray:
        """(Z Lambda) U for a (q, m) matrix U."""
        return np.column_stack([self.zl_u(ZL, U[:, j]) for j in range(U.shape[1])])

    def zlt_r(self, ZL: list[np.ndarray], r: np.ndarray) -> np.ndarray:
        """(Z Lambda)' r for a vector r (n,) or matrix r (n, m)."""
        if r.ndim == 1:
            if self.single1:
                return np.bincount(self.tcodes[0], ZL[0][:, 0] * r, minlength=self.q)
            parts = []
            for t, k, q, zl in zip(self.terms, self.tk, self.tq, ZL):
                if k == 1:
                    parts.append(np.bincount(t.codes, zl[:, 0] * r, minlength=q))
                else:
                    parts.append(np.bincount(t.ucols, (zl * r[:, None]).ravel(), minlength=q))
            return np.concatenate(parts)
        return np.column_stack([self.zlt_r(ZL, r[:, j]) for j in range(r.shape[1])])

    # -- numeric factorisation -----------------------------------------------------------
    def factor(self, ZL: list[np.ndarray], w: np.ndarray) -> PenalizedFactor | None:
        """Factor M for row weights ``w`` and Z Lambda blocks (solver order); None if it fails.

        With the "pcg" or "slq" solver and positive weights (M is then positive definite) the
        factor is deferred: solves run by conjugate gradients until anything else is asked of
        it; with "slq" while ``stochastic`` is set, its log-determinant and the entries of
        M^-1 the gradient needs are estimated (:class:`StochasticFactor`)."""
        if self.solver in ("pcg", "slq") and bool(np.all(w > 0)):
            return self._deferred(ZL, w)
        return self.factor_exact(ZL, w)

    @contextmanager
    def estimating(self) -> Iterator[bool]:
        """Within this block (an optimizer's phase) the "slq" solver's factors estimate their
        log-determinant and M^-1's entries (yields whether they do); exact again after it."""
        self.stochastic = self.solver == "slq"
        try:
            yield self.stochastic
        finally:
            self.stochastic = False

    @property
    def probes(self) -> np.ndarray:
        """The fixed probe vectors of the stochastic estimates (drawn on first use)."""
        if self._probes is None:
            self._probes = rademacher_probes(self.q2)
        return self._probes

    @probes.setter
    def probes(self, R: np.ndarray) -> None:
        """Other probe vectors (q2 x m), e.g. more of them, or all sign vectors in tests."""
        R = np.asarray(R, dtype=float)
        if R.ndim != 2 or R.shape[0] != self.q2:
            raise InterlaceError(f"probes must be a {self.q2} x m array, got shape {R.shape}")
        self._probes = R

    def _deferred(self, ZL: list[np.ndarray], w: np.ndarray) -> DeferredFactor:
        """M's blocks for conjugate-gradient solves (two scalar terms: L0 and a22 diagonal)."""
        zl0, zl1 = ZL[0][:, 0], ZL[1][:, 0]
        L0 = np.sqrt(np.bincount(self.tcodes[0], w * zl0 * zl0, minlength=self.n0) + 1.0)
        a22 = np.bincount(self.tcodes[1], w * zl1 * zl1, minlength=self.q2) + 1.0
        vals = w * zl1 * zl0
        if self.sparse21:
            data = np.bincount(self.a21_slot, vals, minlength=self.a21_nnz) / L0[self.a21_cols]
            L21 = csr_matrix((data, self.a21_cols, self.a21_indptr), shape=(self.q2, self.q0))
        else:
            L21 = csr_matrix((vals / L0[self.tcodes[0]], (self.tcodes[1], self.tcodes[0])),
                             shape=(self.q2, self.q0))
        exact = partial(self.factor_exact, ZL, w)
        if self.solver == "slq" and self.stochastic:
            return StochasticFactor(L0, L21, a22, exact, self.probes,
                                    (self.tcodes[0], self.tcodes[1]))
        return DeferredFactor(L0, L21, a22, exact)

    def factor_exact(self, ZL: list[np.ndarray], w: np.ndarray) -> PenalizedFactor | None:
        """The Cholesky factor of M (see :meth:`factor`); None if it fails."""
        k0, n0 = self.k0, self.n0
        zl0 = ZL[0]
        if k0 == 1:
            if ZL is not self._zl_ref:  # PIRLS factors many times with one Z Lambda
                self._zl_ref, self._zl0sq = ZL, zl0[:, 0] ** 2
            d = np.bincount(self.tcodes[0], w * self._zl0sq, minlength=n0)
            d += 1.0
            if not np.all(d > 0):  # negative (observed-information) weights, or nan: M is not
                return None        # positive definite, as the blocks' Cholesky reports below
            L0 = np.sqrt(d)
            L0inv = None
        else:
            if k0 > 4 and n0 == 1:  # one level (a spatial field): a single BLAS product
                blocks = np.triu((zl0 * w[:, None]).T @ zl0)[None]
            elif k0 > 4:  # a structured term's larger blocks: one grouped product, not k0^2 sums
                zw = zl0 * w[:, None]
                blocks = np.asarray(self.lead_indicator @ (zw[:, :, None] * zl0[:, None, :])
                                    .reshape(-1, k0 * k0)).reshape(n0, k0, k0)
                blocks = np.triu(blocks)  # the upper triangle, as the sums below give it
            else:
                blocks = np.zeros(n0 * k0 * k0)
                a, b = self.lead_pairs
                for ai, bi, idx in zip(a, b, self.lead_idx):
                    blocks += np.bincount(idx, w * zl0[:, ai] * zl0[:, bi],
                                          minlength=n0 * k0 * k0)
                blocks = blocks.reshape(n0, k0, k0)
            blocks = blocks + np.swapaxes(np.triu(blocks, 1), 1, 2) + np.eye(k0)
            try:
                L0 = np.linalg.cholesky(blocks)
            except np.linalg.LinAlgError:
                return None
            L0inv = np.linalg.inv(L0)
        if not self.q2:
            return PenalizedFactor(self, L0, L0inv, None, None)
        vals21 = np.concatenate([w * ZL[s][:, ca] * zl0[:, cb] for s, ca, _, cb, _ in self.a21_spec])
        if self.sparse21:
            data = np.bincount(self.a21_slot, vals21, minlength=self.a21_nnz) / L0[self.a21_cols]
            L21 = csr_matrix((data, self.a21_cols, self.a21_indptr), shape=(self.q2, self.q0))
        else:
            A21 = np.bincount(self.a21_idx, vals21, minlength=self.q2 * self.q0).reshape(
                self.q2, self.q0)
        if (self.two_scalar and self.sparse21 and self.schur_pairs is not None
                and self.a21_nbig == self.q2):
            L22 = self._crossed_schur_factor(data, ZL[1][:, 0], w)
            return None if L22 is None else PenalizedFactor(self, L0, L0inv, L21, L22)
        vals22 = np.concatenate([w * ZL[s][:, ca] * ZL[t][:, cb]
                                 for s, ca, t, cb, _ in self.a22_diag_spec])
        A22 = np.bincount(self.a22d_idx, vals22, minlength=self.q2 * self.q2).reshape(self.q2, self.q2)
        if self.a22o_idx is not None:
            vo = np.concatenate([w * ZL[s][:, ca] * ZL[t][:, cb]
                                 for s, ca, t, cb, _ in self.a22_off_spec])
            C = np.bincount(self.a22o_idx, vo, minlength=self.q2 * self.q2).reshape(self.q2, self.q2)
            A22 = A22 + C + C.T
        A22[np.diag_indices(self.q2)] += 1.0
        if self.sparse21 and self.schur_pairs is not None:
            # S = A22 - A21 D^-1 A12 on the lower triangle (all the Cholesky reads), summed over
            # the pairs of non-zeros that share a lead level
            # (both entries of a pair share their lead level j: A21 A21' / d_j = L21 L21')
            pa, pb, flat = self.schur_pairs
            upd = np.bincount(flat, data[pa] * data[pb], minlength=self.q2 * self.q2)
            upd = upd.reshape(self.q2, self.q2).astype(float, copy=False)  # (int if no pairs)
            nb = self.a21_nbig
            if nb < self.q2:  # small terms' rows: dense products
                Ls = L21[nb:].toarray()
                upd[nb:, :nb] = (L21[:nb] @ Ls.T).T
                upd[nb:, nb:] = Ls @ Ls.T
            S = A22 - upd
        elif self.sparse21:
            S = A22 - (L21 @ L21.T).toarray()
        else:
            if k0 == 1:
                L21 = A21 / L0[None, :]
            else:
                # L21[r, j] = A21[r, j] L0inv[j]' per lead level j, as one batched matmul
                L21 = np.matmul(A21.reshape(self.q2, n0, k0).transpose(1, 0, 2),
                                L0inv.transpose(0, 2, 1)).transpose(1, 0, 2).reshape(
                    self.q2, self.q0)
            S = A22 - L21 @ L21.T
        try:
            L22 = cholesky(S, lower=True, check_finite=False)
        except np.linalg.LinAlgError:
            return None  # numerically indefinite: the caller treats the point as infeasible
        return PenalizedFactor(self, L0, L0inv, L21, L22)

    def _crossed_schur_factor(self, data: np.ndarray, zl1: np.ndarray,
                              w: np.ndarray) -> np.ndarray | None:
        """L22 for two scalar terms, in one q2 x q2 array: S = diag(a22) - L21 L21' on the lower
        triangle (pairs of cross-block non-zeros sharing a lead level), factored in place
        (LAPACK reads the C-ordered lower triangle as the upper one of S' = S)."""
        q2 = self.q2
        pa, pb, flat = self.schur_pairs
        S = np.bincount(flat, data[pa] * data[pb], minlength=q2 * q2).astype(float, copy=False)
        S = S.reshape(q2, q2)
        np.negative(S, out=S)
        S.flat[:: q2 + 1] += np.bincount(self.tcodes[1], w * zl1 * zl1, minlength=q2) + 1.0
        U, info = dpotrf(S.T, lower=0, clean=0, overwrite_a=1)
        if info != 0:
            return None  # numerically indefinite: the caller treats the point as infeasible
        return U.T


def _pairs_product(pairs: tuple, P: np.ndarray, b: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """(P B) on B's own pattern (B's non-zeros ``b`` in rows ``rows``, P symmetric, read on its
    lower triangle), from the pairs (x, y, flat) of non-zeros sharing a column with
    row(x) >= row(y), each pair once (x == y included): every pair counts both ways."""
    pa, pb, flat = pairs
    v = np.take(P, flat)
    n = b.size
    out = np.bincount(pa, v * b[pb], minlength=n) + np.bincount(pb, v * b[pa], minlength=n)
    return out - np.diagonal(P)[rows] * b


def symmetric_inverse(L: np.ndarray, block: int = 256) -> np.ndarray | None:
    """(L L')^-1 from a lower Cholesky factor L, in full (both triangles); None if LAPACK fails.

    LAPACK's dpotri needs a third of the flops of solving against the identity; it fills the
    lower triangle, mirrored here block by block (no q x q temporaries)."""
    P, info = dpotri(L, lower=1)
    if info != 0:
        return None
    q = P.shape[0]
    for i in range(0, q, block):
        j = min(i + block, q)
        D = P[i:j, i:j]
        P[i:j, i:j] = np.tril(D) + np.tril(D, -1).T
        P[i:j, j:] = P[j:, i:j].T
    return P


class PenalizedFactor:
    """Cholesky factor of M: log-determinant and solves."""

    def __init__(self, system: PenalizedSystem, L0, L0inv, L21, L22) -> None:
        self.system, self.L0, self.L0inv, self.L21, self.L22 = system, L0, L0inv, L21, L22

    def logdet(self) -> float:
        """log |M| (= log |L|^2)."""
        if self.system.k0 == 1:
            ld = 2.0 * float(np.log(self.L0).sum())
        else:
            ld = 2.0 * np.sum(np.log(np.diagonal(self.L0, axis1=1, axis2=2)))
        if self.L22 is not None:
            ld += 2.0 * np.sum(np.log(np.diag(self.L22)))
        return float(ld)

    def _lead_solve(self, r0: np.ndarray, transpose: bool) -> np.ndarray:
        s = self.system
        if s.k0 == 1:
            return r0 / (self.L0 if r0.ndim == 1 else self.L0[:, None])
        m = r0.shape[1] if r0.ndim == 2 else None
        R = r0.reshape(s.n0, s.k0, -1)
        Li = np.swapaxes(self.L0inv, 1, 2) if transpose else self.L0inv
        out = np.matmul(Li, R)
        return out.reshape(s.q0) if m is None else out.reshape(s.q0, m)

    def solve(self, r: np.ndarray) -> np.ndarray:
        """M^-1 r for r of shape (q,) or (q, m)."""
        s = self.system
        if s.k0 == 1 and self.L22 is None:  # diagonal M
            L0 = self.L0 if r.ndim == 1 else self.L0[:, None]
            return r / L0 / L0
        r0, r2 = r[: s.q0], r[s.q0 :]
        y0 = self._lead_solve(r0, transpose=False)
        if self.L22 is None:
            return self._lead_solve(y0, transpose=True)
        y2 = solve_triangular(self.L22, r2 - self.L21 @ y0, lower=True, check_finite=False)
        x2 = solve_triangular(self.L22, y2, lower=True, trans="T", check_finite=False)
        x0 = self._lead_solve(y0 - self.L21.T @ x2, transpose=True)
        return np.concatenate([x0, x2]) if r.ndim == 1 else np.vstack([x0, x2])

    def inverse_parts(self) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
        """The blocks of M^-1 that the gradient needs, from L = [[L0, 0], [L21, L22]]:

        with K = L22^-1 L21 L0^-1, M^-1 = [[L0^-T L0^-1 + K'K, -K'L22^-T...], ...]; returns the
        lead term's diagonal blocks P00 (n0, k0, k0), P20 = -L22^-T K (q2, q0) and
        P22 = L22^-T L22^-1 (q2, q2) (None when there is a single term).
        """
        s = self.system
        k0, n0 = s.k0, s.n0
        if k0 == 1:
            P00 = (1.0 / self.L0**2).reshape(n0, 1, 1)
        else:
            P00 = np.einsum("jca,jcb->jab", self.L0inv, self.L0inv)
        if self.L22 is None:
            return P00, None, None
        if issparse(self.L21):  # k0 == 1: P20 = -P22 B with B = L21 L0^-1 sparse
            P22 = symmetric_inverse(self.L22)
            if P22 is None:
                P22 = cho_solve((self.L22, True), np.eye(s.q2), check_finite=False)
            bdata = self.L21.data / self.L0[s.a21_cols]
            if s.schur_pairs is not None and s.a21_nbig == s.q2:  # the lower pairs suffice
                pbn = _pairs_product(s.schur_pairs, P22, bdata, s.a21_rows)
                extra = np.bincount(s.a21_cols, bdata * pbn, minlength=n0)
                return P00 + extra.reshape(n0, 1, 1), -pbn, P22
            if s.a21_pairs is not None:  # P22 B only on B's own pattern: P20 as a slot vector
                pa, pb, flat = s.a21_pairs
                pbn = np.bincount(pa, np.take(P22, flat) * np.take(bdata, pb), minlength=s.a21_nnz)
                extra = np.bincount(s.a21_cols, bdata * pbn, minlength=n0)
                return P00 + extra.reshape(n0, 1, 1), -pbn, P22
            B = csr_matrix((bdata, s.a21_cols, s.a21_indptr), shape=(s.q2, s.q0))
            PB = np.asarray((B.T @ P22).T)
            P00 = P00 + np.asarray(B.multiply(PB).sum(axis=0)).reshape(n0, 1, 1)
            return P00, -PB, P22
        if k0 == 1:
            L21Li = self.L21 / self.L0[None, :]
        else:
            L21Li = np.einsum("rja,jab->rjb", self.L21.reshape(s.q2, n0, k0), self.L0inv).reshape(
                s.q2, s.q0)
        K = solve_triangular(self.L22, L21Li, lower=True, check_finite=False)
        L22i = solve_triangular(self.L22, np.eye(s.q2), lower=True, check_finite=False)
        P22 = L22i.T @ L22i
        P20 = -(L22i.T @ K)
        Kr = K.reshape(s.q2, n0, k0)
        P00 = P00 + np.einsum("rja,rjb->jab", Kr, Kr)
        return P00, P20, P22

    def inverse_traces(self) -> np.ndarray | None:
        """Per term (solver order), the trace of its diagonal block of M^-1, for systems whose
        terms all have one column; None when S^-1 cannot be formed.

        The lead block's is sum 1/L0^2 + tr(S^-1 G) with G = L21 L0^-2 L21' (S = L22 L22'),
        the others' the sums of diag(S^-1) over their blocks.
        """
        s = self.system
        d0 = self.L0 * self.L0
        lead = float(np.sum(1.0 / d0))
        if self.L22 is None:
            return np.array([lead])
        Si, info = dpotri(self.L22, lower=1)
        if info != 0:
            return None
        diag = np.diagonal(Si).copy()
        offs = np.cumsum([0] + [t.q for t in s.terms[1:]])
        rest = [float(diag[offs[i]:offs[i + 1]].sum()) for i in range(len(offs) - 1)]
        if issparse(self.L21) and s.schur_pairs is not None:
            pa, pb, flat = s.schur_pairs
            l21 = self.L21.data
            k21 = l21 / self.L0[s.a21_cols]  # L21 L0^-1: pairs share their lead level
            Sl = np.ascontiguousarray(Si)  # lower triangle, C order, as the pairs index it
            pair = np.dot(k21[pa] * k21[pb], np.take(Sl, flat))
            nbe = int(s.a21_indptr[s.a21_nbig])  # entries in the big terms' rows
            own = np.dot(k21[:nbe] * k21[:nbe], diag[s.a21_rows[:nbe]])
            trG = 2.0 * pair - own
            nb = s.a21_nbig
            if nb < s.q2:  # the small terms' rows, densely
                K = csr_matrix((k21, s.a21_cols, s.a21_indptr), shape=(s.q2, s.q0))
                Ks = K[nb:].toarray()
                Gsb = (K[:nb] @ Ks.T).T
                Sss = Sl[nb:, nb:]
                Sss = np.tril(Sss) + np.tril(Sss, -1).T
                trG += 2.0 * float(np.sum(Sl[nb:, :nb] * Gsb)) + float(np.sum(Sss * (Ks @ Ks.T)))
        else:
            Sf = np.tril(Si) + np.tril(Si, -1).T
            B = self.L21 / self.L0[None, :] if not issparse(self.L21) else (
                csr_matrix((self.L21.data / self.L0[s.a21_cols], s.a21_cols, s.a21_indptr),
                           shape=(s.q2, s.q0)))
            G = B @ B.T
            G = G.toarray() if issparse(G) else G
            trG = float(np.sum(Sf * G))
        return np.array([lead + trG] + rest)

    def minv_rows(self, ZL: list[np.ndarray]) -> np.ndarray:
        """Per row i, the entries of M^-1 a_i on row i's own levels (a_i = row i of Z Lambda).

        Returns an (n, sum k_t) array in the solver's term order: column (t, c) holds
        (M^-1 a_i) at (term t, level of row i, column c). Row i's "leverage"
        a_i' M^-1 a_i is the row-wise dot product of this with Z Lambda.
        """
        s = self.system
        if s.single1:  # M^-1 is diagonal: 1 / d at each row's level
            return ((1.0 / self.L0**2).take(s.tcodes[0]) * ZL[0][:, 0])[:, None]
        P00, P20, P22 = self.inverse_parts()
        codes0, k0 = s.terms[0].codes, s.k0
        if len(s.terms) == 1 and k0 > 4:  # one structured term's large blocks: one product
            return np.einsum("nab,nb->na", P00[codes0], ZL[0], optimize=True)
        ridx = [None] + [s.rest_off[i - 1] + t.codes * t.k for i, t in enumerate(s.terms) if i]
        cols = []
        for pt, tt in enumerate(s.terms):
            for c in range(tt.k):
                acc = 0.0
                for ps, ts in enumerate(s.terms):
                    zs = ZL[ps]
                    for c2 in range(ts.k):
                        if pt == 0 and ps == 0:
                            ent = P00[codes0, c, c2]
                        elif ps == 0:
                            ent = (P20[s.a21_obs_slot[(pt, c)]] if P20.ndim == 1
                                   else P20[ridx[pt] + c, codes0 * k0 + c2])
                        elif pt == 0:
                            ent = (P20[s.a21_obs_slot[(ps, c2)]] if P20.ndim == 1
                                   else P20[ridx[ps] + c2, codes0 * k0 + c])
                        else:
                            ent = P22[ridx[pt] + c, ridx[ps] + c2]
                        acc = acc + ent * zs[:, c2]
                cols.append(acc)
        return np.column_stack(cols)

    def dense(self) -> np.ndarray:
        """M as a dense matrix (tests and debugging only)."""
        s = self.system
        if s.k0 == 1:
            L0 = np.diag(self.L0)
        else:
            from scipy.linalg import block_diag

            L0 = block_diag(*self.L0)
        if self.L22 is None:
            L = L0
        else:
            L21 = self.L21.toarray() if issparse(self.L21) else self.L21
            L = np.block([[L0, np.zeros((s.q0, s.q2))], [L21, self.L22]])
        return L @ L.T
