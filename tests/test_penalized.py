"""The blocked factorisation of M = (Z Lambda)'W(Z Lambda) + I against dense linear algebra,
for the dense and the sparse cross-block paths, and fits that take the sparse path."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import interlace
import interlace.linalg.penalized as pz
from interlace.linalg.penalized import PenalizedSystem
from interlace.model.terms import RandomTerm


def _terms(rng, n, spec):
    out = []
    for nl, k in spec:
        codes = rng.integers(0, nl, n)
        codes[:nl] = np.arange(nl)
        Z = np.column_stack([np.ones(n)] + [rng.normal(size=n) for _ in range(k - 1)])
        out.append(RandomTerm(f"g{nl}", [f"c{i}" for i in range(k)], codes, pd.Index(range(nl)),
                              Z, True))
    return out


def _dense_z(system, ZL, n):
    blocks = []
    for t, zl in zip(system.terms, ZL):
        D = np.zeros((n, t.q))
        for a in range(t.k):
            D[np.arange(n), t.codes * t.k + a] = zl[:, a]
        blocks.append(D)
    return np.hstack(blocks)


@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("spec", [[(7, 2), (30, 1), (5, 3), (12, 1)],
                                  [(7, 2), (30, 1), (25, 3), (12, 1)], [(40, 1), (9, 1)]])
def test_factor_solve_logdet_and_selected_inverse(monkeypatch, sparse, spec):
    monkeypatch.setattr(pz, "_SPARSE_MIN", 0 if sparse else 10**12)
    rng = np.random.default_rng(1)
    n = 300
    system = PenalizedSystem(_terms(rng, n, spec))
    ZL = [t.ZLambda(rng.normal(size=t.ntheta)) for t in system.terms]
    w = rng.uniform(0.5, 2, n)
    F = system.factor(ZL, w)
    Zd = _dense_z(system, ZL, n)
    M = Zd.T @ (w[:, None] * Zd) + np.eye(Zd.shape[1])
    assert np.allclose(F.dense(), M, atol=1e-10)
    assert F.logdet() == pytest.approx(np.linalg.slogdet(M)[1], rel=1e-12)
    R = rng.normal(size=(M.shape[0], 3))
    assert np.allclose(F.solve(R), np.linalg.solve(M, R), atol=1e-12)
    assert np.allclose(F.solve(R[:, 0]), np.linalg.solve(M, R[:, 0]), atol=1e-12)
    full = (np.linalg.inv(M) @ Zd.T).T
    want = np.column_stack([full[np.arange(n), system.slices[p].start + t.codes * t.k + c]
                            for p, t in enumerate(system.terms) for c in range(t.k)])
    assert np.allclose(F.minv_rows(ZL), want, atol=1e-12)


def test_sparse_path_gives_the_same_fits(monkeypatch):
    gt = interlace.load_dataset("grouseticks")
    f = "TICKS ~ YEAR + cHEIGHT + (1 | BROOD) + (1 | INDEX) + (1 | LOCATION)"
    dense = interlace.glmer(f, gt, family="poisson")
    pen = interlace.load_dataset("Penicillin")
    lmm_dense = interlace.fit("diameter ~ 1 + (1 | plate) + (1 | sample)", pen)
    monkeypatch.setattr(pz, "_SPARSE_MIN", 0)
    sparse = interlace.glmer(f, gt, family="poisson")
    assert sparse.context.system.sparse21
    assert sparse.llf == pytest.approx(dense.llf, abs=1e-8)
    assert np.allclose(sparse.fe_params, dense.fe_params, atol=1e-6)
    assert np.allclose(sparse.fe_bse, dense.fe_bse, rtol=1e-5)
    lmm_sparse = interlace.fit("diameter ~ 1 + (1 | plate) + (1 | sample)", pen)
    assert lmm_sparse.reml_criterion == pytest.approx(lmm_dense.reml_criterion, rel=1e-10)
