"""The LMM fast paths agree with the general ones: the numpy model matrices with formulaic's,
the dense (q + p) system and the scalar-term trace gradient with the blocked solver's
gradient, the exact Hessian with differences of the gradient, the pair-wise Schur update with
the sparse product, and the built-in Newton optimizer with L-BFGS-B."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from formulaic import model_matrix
from hypothesis import given, settings
from hypothesis import strategies as st

import interlace
from interlace.families.gaussian import GaussianFamily
from interlace.linalg.differences import hessian_from_gradient
from interlace.lmm.objective import LMMObjective
from interlace.model.context import ModelContext
from interlace.model.design import build_design
from interlace.model.fixed import SimpleModelMatrix, simple_matrix
from interlace.model.formula import parse_formula

FAM = GaussianFamily()


def _ctx(formula: str, data: pd.DataFrame) -> ModelContext:
    return ModelContext.build(build_design(parse_formula(formula), data, FAM), FAM)


def _crossed(n: int = 6000, na: int = 1500, nb: int = 700, seed: int = 5) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    a, b = rng.integers(0, na, n), rng.integers(0, nb, n)
    c = b % 9
    y = (1 + 0.3 * rng.standard_normal(n) + rng.normal(0, 0.5, na)[a] + rng.normal(0, 0.4, nb)[b]
         + rng.normal(0, 0.3, 9)[c] + rng.standard_normal(n))
    return pd.DataFrame({"y": y, "x": rng.standard_normal(n), "a": [f"a{i}" for i in a],
                         "b": [f"b{i}" for i in b], "c": [f"c{i}" for i in c]})


@pytest.mark.parametrize("expr", ["x", "1 + x", "x + 1", "0 + x", "x - 1", "x + z", "z + x + x",
                                  "1", "x + 0 + z", "u"])
def test_simple_matrix_is_formulaics(expr):
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"x": rng.integers(0, 9, 20), "z": rng.standard_normal(20),
                       "u": rng.integers(0, 5, 20).astype(np.uint8)})
    X, names, dtypes = simple_matrix(expr, df)
    mm = model_matrix(expr, df, na_action="ignore")
    assert names == list(mm.columns)
    assert np.array_equal(X, np.asarray(mm, dtype=float))
    assert SimpleModelMatrix(X, names, expr, dtypes).model_spec == mm.model_spec


@pytest.mark.parametrize("expr", ["0 + g", "g - 1", "b", "log(z)", "x:z", "x * z", "a.b", "0",
                                  "1 + 0", "C(x)", "missing", "m"])
def test_simple_matrix_leaves_the_rest_to_formulaic(expr):
    df = pd.DataFrame({"x": [1, 2, 3], "z": [1.0, 2.0, 3.0], "g": ["p", "q", "p"],
                       "b": [True, False, True], "a.b": [1.0, 2.0, 3.0],
                       "m": pd.Series(["p", 1, "q"], dtype=object)})
    assert simple_matrix(expr, df) is None


@settings(max_examples=60, deadline=None)
@given(levels=st.lists(st.text(min_size=1, max_size=4), min_size=1, max_size=6, unique=True),
       n=st.integers(1, 30), seed=st.integers(0, 2**16), object_dtype=st.booleans(),
       order=st.sampled_from(["g + x", "x + g", "g", "1 + g + h", "h + x + g"]))
def test_text_columns_are_coded_as_formulaic_codes_them(levels, n, seed, object_dtype, order):
    """Treatment coding of text columns (any characters, sorted levels, one level, several text
    columns) equals formulaic's matrix, names and ModelSpec; a non-reference level named
    '__...', whose column formulaic drops, is a DataError naming it."""
    rng = np.random.default_rng(seed)
    dt = object if object_dtype else "str"
    df = pd.DataFrame({"g": pd.Series(rng.choice(levels, n), dtype=dt),
                       "h": pd.Series(rng.choice(["u", "v", "w"], n), dtype=dt),
                       "x": rng.standard_normal(n)})
    used = sorted(set(df["g"]))[1:] if "g" in order else []
    if any(v.startswith("__") for v in used):
        # formulaic drops such a level's column (merging it into the reference): refused
        with pytest.raises(interlace.DataError, match="starts with '__'"):
            simple_matrix(order, df)
        return
    X, names, keys = simple_matrix(order, df)
    mm = model_matrix(order, df, na_action="ignore")
    assert names == list(mm.columns)
    assert np.array_equal(X, np.asarray(mm, dtype=float))
    spec = SimpleModelMatrix(X, names, order, keys).model_spec
    assert np.array_equal(np.asarray(spec.get_model_matrix(df), dtype=float), X)
    assert list(spec.get_model_matrix(df).columns) == names


def test_level_formulaic_would_drop_is_refused():
    """Levels ['0', '__'] (found by hypothesis): formulaic gives no column for '__'."""
    df = pd.DataFrame({"y": np.arange(6.0), "g": ["0", "__"] * 3, "h": list("aabbcc")})
    assert list(model_matrix("g", df).columns) == ["Intercept"]  # formulaic's quirk
    with pytest.raises(interlace.DataError, match=r"column 'g' has the level '__'"):
        interlace.fit("y ~ g + (1 | h)", df)


def test_predict_newdata_through_the_cached_spec():
    s = interlace.load_dataset("sleepstudy")
    r = interlace.fit("Reaction ~ Days + (Days | Subject)", s)
    new = s.iloc[:7].copy()
    assert np.allclose(r.predict(new), r.fittedvalues.to_numpy()[:7])
    fe = r.predict(new, include_re=False)
    assert np.allclose(fe, r.fe_params["(Intercept)"] + r.fe_params["Days"] * new["Days"])


@pytest.mark.parametrize("formula", ["Reaction ~ Days + (Days | Subject)",
                                     "Reaction ~ Days + (Days || Subject)",
                                     "Reaction ~ Days + (1 | Subject)"])
@pytest.mark.parametrize("reml", [True, False])
def test_dense_system_matches_blocked(formula, reml):
    ctx = _ctx(formula, interlace.load_dataset("sleepstudy"))
    dense, blocked = LMMObjective(ctx, reml), LMMObjective(ctx, reml)
    assert dense.dense is not None
    blocked.dense = None
    rng = np.random.default_rng(1)
    for _ in range(3):
        th = np.concatenate([t.theta_start() for t in ctx.design.terms])
        th = th + rng.uniform(-0.3, 0.5, th.size) * (th != 0) + rng.uniform(-0.2, 0.2, th.size)
        th = np.where(np.concatenate([t.theta_lower_bounds() for t in ctx.design.terms]) == 0,
                      np.abs(th), th)
        assert dense(th) == pytest.approx(blocked(th), rel=1e-12)
        assert np.allclose(dense.grad(th), blocked.grad(th), rtol=1e-8, atol=1e-8)
        phi = np.append(th, 30.0)
        assert np.allclose(dense.unprofiled_gradient(phi), blocked.unprofiled_gradient(phi),
                           rtol=1e-8, atol=1e-8)
        g, H = dense.grad_hess(th)
        assert np.allclose(g, dense.grad(th), rtol=1e-8, atol=1e-8)
        Hf = hessian_from_gradient(dense.grad, th, h=1e-5)
        assert np.allclose(H, Hf, rtol=1e-5, atol=1e-5 * np.abs(Hf).max())


@pytest.mark.parametrize("formula", ["y ~ x + (1 | a) + (1 | b) + (1 | c)", "y ~ x + (1 | b) + (1 | c)"])
@pytest.mark.parametrize("reml", [True, False])
def test_scalar_trace_gradient_matches_general(formula, reml, monkeypatch):
    ctx = _ctx(formula, _crossed())
    fast, slow = LMMObjective(ctx, reml), LMMObjective(ctx, reml)
    fast.dense = slow.dense = None
    monkeypatch.setattr(slow, "_scalar_gradient_parts", lambda theta, sol: None)
    for th in ([0.5, 0.4, 0.3], [0.7, 1e-3, 0.2], [0.3, 0.6, 0.0], [-0.4, 0.5, 0.2]):
        th = np.array(th[: ctx.ntheta])
        assert np.allclose(fast.grad(th), slow.grad(th), rtol=1e-7, atol=1e-6)


def test_pairwise_schur_update_matches_sparse_product():
    ctx = _ctx("y ~ x + (1 | a) + (1 | b) + (1 | c)", _crossed())
    s = ctx.system
    assert s.sparse21 and s.schur_pairs is not None
    th = np.array([0.5, 0.4, 0.3])
    F = s.factor(ctx.zl(th), ctx.design.weights)
    pairs = s.schur_pairs
    s.schur_pairs = None  # the sparse-product route
    try:
        F2 = s.factor(ctx.zl(th), ctx.design.weights)
    finally:
        s.schur_pairs = pairs
    assert np.allclose(F.L22, F2.L22, rtol=1e-10, atol=1e-12)
    assert F.logdet() == pytest.approx(F2.logdet(), rel=1e-12)


@pytest.mark.parametrize("formula,data", [
    ("Reaction ~ Days + (Days | Subject)", "sleepstudy"),
    ("diameter ~ 1 + (1 | plate) + (1 | sample)", "Penicillin"),
    ("y ~ x + (1 | a) + (1 | b) + (1 | c)", "crossed"),
])
@pytest.mark.parametrize("method", ["REML", "ML"])
def test_builtin_newton_matches_lbfgsb(formula, data, method):
    df = _crossed() if data == "crossed" else interlace.load_dataset(data)
    a = interlace.fit(formula, df, method=method)
    b = interlace.fit(formula, df, method=method, optimizer="lbfgsb")
    assert a.optimizer == "quasi-newton" and b.optimizer == "lbfgsb"
    assert a.converged and b.converged
    assert a.deviance <= b.deviance + 1e-6
    assert np.allclose(a.theta, b.theta, rtol=1e-4, atol=1e-4)
    assert np.allclose(a.fe_params, b.fe_params, rtol=1e-6)


def test_singular_fit_reaches_the_bound():
    rng = np.random.default_rng(7)
    g = np.repeat(np.arange(30), 6)
    df = pd.DataFrame({"y": rng.standard_normal(g.size) + 0.0 * g, "g": g.astype(str)})
    a = interlace.fit("y ~ 1 + (1 | g)", df)
    b = interlace.fit("y ~ 1 + (1 | g)", df, optimizer="lbfgsb")
    assert a.deviance == pytest.approx(b.deviance, abs=1e-6)
    assert abs(a.theta[0] - b.theta[0]) < 1e-3


def test_result_pieces_are_built_on_first_use():
    ctx_df = _crossed()
    r = interlace.fit("y ~ x + (1 | a) + (1 | b) + (1 | c)", ctx_df)
    assert "fe_params" not in r.__dict__ and "varcorr" not in r.__dict__
    H = r.hessian.to_numpy()  # differences of the exact gradient, computed here
    assert H.shape == (3, 3) and np.all(np.linalg.eigvalsh(H) > 0)
    assert set(r.variance_components) == {"a", "b", "c"}
    assert len(r.random_effects["a"]) == ctx_df["a"].nunique()
    assert list(r.fe_params.index) == ["(Intercept)", "x"]
    assert r.fe_bse.shape == (2,) and np.all(r.fe_df > 0)


def test_builtin_options_and_fallback():
    s = interlace.load_dataset("sleepstudy")
    f = "Reaction ~ Days + (Days | Subject)"
    ref = interlace.fit(f, s)
    r = interlace.fit(f, s, optimizer_options={"maxiter": 0})  # Newton stops: L-BFGS-B finishes
    assert r.converged and r.deviance == pytest.approx(ref.deviance, abs=1e-7)
    with pytest.raises(interlace.InterlaceError, match="only 'maxiter'"):
        interlace.fit(f, s, optimizer_options={"ftol": 1e-9})
    with pytest.raises(interlace.InterlaceError, match="non-negative integer"):
        interlace.fit(f, s, optimizer_options={"maxiter": "ten"})


@settings(max_examples=100, deadline=None)
@given(vals=st.lists(st.text(max_size=5), min_size=1, max_size=40), object_dtype=st.booleans())
def test_short_text_group_codes_are_pandas_sorted_factorize(vals, object_dtype):
    """The numpy path for short text grouping columns gives pandas' sorted codes and levels."""
    from interlace.model.grouping import group_codes

    s = pd.Series(vals, dtype=object if object_dtype else "str")
    codes, levels = group_codes(pd.DataFrame({"g": s}), "g")
    ref_codes, ref_levels = pd.factorize(s, sort=True)
    assert np.array_equal(codes, ref_codes)
    assert list(levels) == list(ref_levels) and levels.dtype == pd.Index(ref_levels).dtype


@settings(max_examples=200, deadline=None)
@given(log_eps=st.floats(-12, 0), p=st.integers(2, 6), j=st.integers(0, 5),
       scale=st.floats(-6, 6), seed=st.integers(0, 2**31 - 1))
def test_rank_check_fast_accept_agrees_with_qr(log_eps, p, j, scale, seed):
    """The Gram-Cholesky fast accept of drop_rank_deficient keeps every column exactly when
    R's QR rule (|R_jj| > 1e-7 |x_j|, columns scaled) keeps them all: a column that is a
    near-copy of the others at distance 10^log_eps, columns of any scale."""
    from interlace.model.fixed import drop_rank_deficient

    rng = np.random.default_rng(seed)
    X = rng.standard_normal((40, p))
    j = j % p
    X[:, j] = X[:, :j].sum(axis=1) + X[:, j + 1:].sum(axis=1) + 10.0 ** log_eps * X[:, j]
    X *= 10.0 ** (scale * np.linspace(-1, 1, p))
    keep, dropped = drop_rank_deficient(X, [f"c{i}" for i in range(p)])
    Xs = X / np.max(np.abs(X), axis=0)
    R = np.linalg.qr(Xs, mode="r")
    qr_all = bool(np.all(np.abs(np.diag(R)) > 1e-7 * np.linalg.norm(Xs, axis=0)))
    assert (keep == list(range(p)) and not dropped) == qr_all or abs(log_eps + 7) < 0.5


@pytest.mark.parametrize("formula", ["y ~ x + (1 | c) + (x | b)", "y ~ x + (1 | b) + (1 | c) + (x || c)"])
def test_dense_layout_is_the_blocked_solvers(formula):
    """The dense system lays u out as the blocked solver does (the result reads u by it)."""
    from interlace.lmm.objective import dense_layout

    d = build_design(parse_formula(formula), _crossed(600, 40, 30), FAM)
    lay, system = dense_layout(d.terms, d.p), ModelContext.build(d, FAM).system
    assert list(lay.order) == system.order
    for pos, ti in enumerate(system.order):
        assert lay.starts[ti] == system.slices[pos].start


@pytest.mark.parametrize("formula", ["y ~ x + (x | c) + (1 | b)", "y ~ x + (1 | b) + (x || c)"])
@pytest.mark.parametrize("reml", [True, False])
def test_dense_derivatives_with_several_terms(formula, reml):
    """The dense system's deviance and gradient equal the blocked solver's, and its exact
    Hessian (B's pair sums plus the rank-one terms of log|G| - log|B|) differences of the
    gradient, with several terms of one and two columns."""
    ctx = _ctx(formula, _crossed(600, 40, 30))
    dense, blocked = LMMObjective(ctx, reml), LMMObjective(ctx, reml)
    assert dense.dense is not None
    blocked.dense = None
    for th in ([0.6, 0.2, 0.3, 0.5], [0.9, -0.3, 0.1, 0.2], [0.4, 0.0, 0.7, 1e-3]):
        th = np.array(th[: ctx.ntheta])
        assert dense(th) == pytest.approx(blocked(th), rel=1e-12)
        assert np.allclose(dense.grad(th), blocked.grad(th), rtol=1e-8, atol=1e-8)
        g, H = dense.grad_hess(th)
        assert np.allclose(g, dense.grad(th), rtol=1e-8, atol=1e-8)
        Hf = hessian_from_gradient(dense.grad, th, h=1e-5)
        assert np.allclose(H, Hf, rtol=1e-5, atol=1e-5 * np.abs(Hf).max())
