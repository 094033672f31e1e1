"""The fused PIRLS kernels and gradient (Poisson-log, binomial-logit) against the general code."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import interlace
from interlace.families.base import RowKernel
from interlace.families.binomial import BinomialLogitKernel
from interlace.families.poisson import PoissonLogKernel
from interlace.glmm.gradient import laplace_gradient
from interlace.glmm.gradient_fused import fused_laplace_gradient
from interlace.glmm.pirls import pirls
from interlace.glmm.resolve import resolve_family
from interlace.glmm.rowkernel import FixedEffects, kernel_for
from interlace.model.context import ModelContext
from interlace.model.design import build_design
from interlace.model.formula import parse_formula


def _crossed_binary() -> pd.DataFrame:
    rng = np.random.default_rng(7)
    n = 600
    a, b, x = rng.integers(0, 30, n), rng.integers(0, 6, n), rng.standard_normal(n)
    eta = 0.3 * x + rng.normal(0, 0.8, 30)[a] + rng.normal(0, 0.5, 6)[b] + 0.8 * x * rng.normal(0, 0.5, 30)[a]
    y = rng.binomial(1, 1 / (1 + np.exp(-eta)))
    return pd.DataFrame({"y": y, "x": x, "a": [f"a{i}" for i in a], "b": [f"b{i}" for i in b]})


def _counts_weighted() -> pd.DataFrame:
    rng = np.random.default_rng(8)
    n = 400
    g, x = rng.integers(0, 25, n), rng.standard_normal(n)
    y = rng.poisson(np.exp(0.4 + 0.5 * x + rng.normal(0, 0.6, 25)[g]))
    return pd.DataFrame({"y": y, "x": x, "g": [f"g{i}" for i in g], "w": rng.uniform(0.5, 2, n),
                         "off": rng.normal(0, 0.2, n)})


CASES = {
    "cbpp": ("incidence / size ~ period + (1 | herd)", lambda: interlace.load_dataset("cbpp"),
             "binomial", {}),
    "grouseticks": ("TICKS ~ YEAR + cHEIGHT + (1 | BROOD) + (1 | LOCATION)",
                    lambda: interlace.load_dataset("grouseticks"), "poisson", {}),
    "crossed_slopes": ("y ~ x + (1 + x | a) + (1 | b)", _crossed_binary, "binomial", {}),
    "weights_offset": ("y ~ x + (1 | g)", _counts_weighted, "poisson",
                       {"weights": "w", "offset": "off"}),
}


def _context(key):
    formula, data, family, kw = CASES[key]
    df = data()
    fam = resolve_family(family)
    extra = {k: df[v].to_numpy() for k, v in kw.items()}
    design = build_design(parse_formula(formula), df, fam, **extra)
    return ModelContext.build(design, fam)


@pytest.mark.parametrize("key", list(CASES))
def test_fused_kernel_matches_generic(key):
    ctx = _context(key)
    kern = kernel_for(ctx)
    assert isinstance(kern, (PoissonLogKernel, BinomialLogitKernel))
    gen = RowKernel(ctx.family, ctx.design.y, ctx.design.weights)
    eta = np.random.default_rng(1).normal(0.2, 1.0, ctx.design.y.size)
    mu, ll = kern.evaluate(eta, {})
    mu0, ll0 = gen.evaluate(eta, {})
    np.testing.assert_allclose(mu, mu0, rtol=1e-14)
    assert abs(ll - ll0) < 1e-10 * max(1.0, abs(ll0))
    s, W = kern.score_weights(eta, mu, {})[:2]
    s0, W0 = gen.score_weights(eta, mu0, {})[:2]
    np.testing.assert_allclose(s, s0, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(W, W0, rtol=1e-12)
    np.testing.assert_allclose(kern.weights(eta, mu, {}), W0, rtol=1e-12)


@pytest.mark.parametrize("key", list(CASES))
def test_fused_gradient_matches_general(key):
    ctx = _context(key)
    d = ctx.design
    theta = np.concatenate([t.theta_start() for t in d.terms]) * 0.7 + 0.05
    beta = np.random.default_rng(2).normal(0, 0.1, d.p)
    res = pirls(ctx, theta, beta, {}, np.zeros(ctx.system.q))
    g0 = laplace_gradient(ctx, theta, beta, {}, res, [])
    g1 = fused_laplace_gradient(ctx, kernel_for(ctx), theta, {}, res)
    np.testing.assert_allclose(g1, g0, rtol=1e-8, atol=1e-8 * np.max(np.abs(g0)))


def test_fixed_effects_products():
    rng = np.random.default_rng(3)
    for n in (50, 6000):  # short (matrix product) and tall (sum of columns) paths
        for p in (0, 1, 3, 20):
            X, off, b, v = (rng.normal(size=(n, p)), rng.normal(size=n), rng.normal(size=p),
                            rng.normal(size=n))
            fe = FixedEffects(X, off)
            np.testing.assert_allclose(fe.xbeta(b), off + X @ b, rtol=1e-12, atol=1e-12)
            np.testing.assert_allclose(fe.xt_dot(v), X.T @ v, rtol=1e-12, atol=1e-10)
            np.testing.assert_allclose(FixedEffects(X, np.zeros(n)).xbeta(b), X @ b, atol=1e-12)


def test_poisson_checked_evaluation_rejects_what_the_link_rejects():
    ctx = _context("grouseticks")
    kern = kernel_for(ctx)
    n = ctx.design.y.size
    eta = np.random.default_rng(4).normal(0.5, 1.0, n)
    mu, ll = kern.evaluate_checked(eta, {})
    mu0, ll0 = RowKernel(ctx.family, ctx.design.y, ctx.design.weights).evaluate(eta, {})
    np.testing.assert_allclose(mu, mu0, rtol=1e-14)
    assert abs(ll - ll0) < 1e-10 * abs(ll0)
    for bad in (np.nan, np.inf, -np.inf):
        e = eta.copy()
        e[3] = bad
        assert kern.evaluate_checked(e, {}) is None
    e = eta.copy()
    e[5] = 705.0  # beyond the fast path: the link's clipped mean, as the generic kernel
    mu, ll = kern.evaluate_checked(e, {})
    assert np.isfinite(ll) and mu[5] == ctx.link.inverse(e)[5]


@pytest.mark.parametrize("order", ["as_drawn", "sorted"])
def test_grouped_pirls_matches_row_wise(monkeypatch, order):
    """One Poisson random intercept runs PIRLS on per-level sums (interlace.glmm.pirls_grouped)
    and takes the gradient from them: the modes, log-likelihood, log-determinant and gradient
    equal the row-wise PIRLS and the general gradient (reference: this package's row-wise
    path, itself checked against lme4 in test_parity_lme4), with weights and an offset, on rows
    in runs of one level (sorted) and interleaved."""
    import interlace.glmm.pirls as pirls_mod

    ctx = _context("weights_offset")
    if order == "sorted":
        df = _counts_weighted().sort_values("g", kind="stable")
        fam = resolve_family("poisson")
        design = build_design(parse_formula("y ~ x + (1 | g)"), df, fam,
                              weights=df["w"].to_numpy(), offset=df["off"].to_numpy())
        ctx = ModelContext.build(design, fam)
        assert ctx.system.truns[0] is not None
    d = ctx.design
    theta, beta = np.array([0.55]), np.array([0.3, 0.45])
    res = pirls(ctx, theta, beta, {}, np.zeros(ctx.system.q))
    g1 = fused_laplace_gradient(ctx, kernel_for(ctx), theta, {}, res)
    monkeypatch.setattr(pirls_mod, "applies", lambda *a: False)
    ref = pirls(ctx, theta, beta, {}, np.zeros(ctx.system.q))
    g0 = laplace_gradient(ctx, theta, beta, {}, ref, [])
    assert res.converged and ref.converged
    np.testing.assert_allclose(res.u, ref.u, rtol=1e-9, atol=1e-11)
    assert abs(res.cond_loglik - ref.cond_loglik) < 1e-9 * abs(ref.cond_loglik)
    assert abs(res.laplace_deviance - ref.laplace_deviance) < 1e-9 * abs(ref.laplace_deviance)
    np.testing.assert_allclose(g1, g0, rtol=1e-8, atol=1e-8 * np.max(np.abs(g0)))
    assert d.p == 2
