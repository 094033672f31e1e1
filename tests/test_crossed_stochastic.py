"""The stochastic solver for large crossed random effects (issue 19, ``solver="slq"``).

Laws of the estimators (:mod:`interlace.linalg.stochastic`), exact for the exhaustive set of
Rademacher probes (all 2^q sign vectors, whose mean of r r' is I exactly): the Lanczos
quadrature from the CG coefficients is r' log(C) r, so the log-determinant estimate averaged
over them is log|S|, and the Hutchinson estimate of S^-1 is S^-1. Then the fit: forced with
``solver="slq"`` it reaches the exact optimum (its log-likelihood is an exact evaluation),
against the Cholesky path and against lme4 (``glmer(count ~ x1 + x2 + (1 | site) +
(1 | year), seed_counts, poisson)``, tests/reference/lme4_core.json).
"""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest
from fixtures import fit_fixture, load_reference
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.linalg import logm
from test_crossed_solver import crossed

import interlace
from interlace.errors import InterlaceError
from interlace.glmm import fitting
from interlace.glmm.fitting import build_glmm, glmm_objective, optimize_glmm
from interlace.glmm.stochastic_finish import GAP_TOL
from interlace.linalg.stochastic import block_pcg, lanczos_logquad

LAWS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def all_signs(q: int) -> np.ndarray:
    """Every +-1 vector of length q, as the columns of a q x 2^q array."""
    return np.array(list(itertools.product([-1.0, 1.0], repeat=q))).T


def spd(seed: int, q: int) -> np.ndarray:
    """A random symmetric positive definite q x q matrix with a spread-out spectrum."""
    rng = np.random.default_rng(seed)
    G = rng.normal(size=(q, q))
    return G @ G.T + np.diag(rng.uniform(0.1, 3.0, q))


@LAWS
@given(seed=st.integers(0, 10_000), q=st.integers(1, 6))
def test_lanczos_quadrature_is_the_quadratic_form(seed, q):
    """Converged CG's Lanczos quadrature: |r|^2 e1' log(T) e1 = r' log(C) r, C = P^-1/2 S P^-1/2."""
    S = spd(seed, q)
    p = np.diag(S)
    R = all_signs(q)
    C = S / np.sqrt(np.outer(p, p))
    logC = np.real(logm(C))
    _, alphas, betas = block_pcg(lambda V: S @ V, np.sqrt(p)[:, None] * R, 1.0 / p)
    quad = np.array([lanczos_logquad(a, b) for a, b in zip(alphas, betas)]) * q
    want = np.einsum("ij,ij->j", R, logC @ R)
    np.testing.assert_allclose(quad, want, atol=1e-8 * max(1.0, np.abs(want).max()))


@LAWS
@given(seed=st.integers(0, 10_000), q=st.integers(1, 6))
def test_estimates_are_exact_over_all_sign_probes(seed, q):
    """Unbiasedness, exactly: over all 2^q sign probes the SLQ estimate is log|S| and the
    Hutchinson estimate (X W' + W X') / 2m of S^-1 is S^-1 (X = S^-1 P^1/2 R, W = P^-1/2 R)."""
    S = spd(seed, q)
    p = np.diag(S)
    R = all_signs(q)
    m = R.shape[1]
    X, alphas, betas = block_pcg(lambda V: S @ V, np.sqrt(p)[:, None] * R, 1.0 / p)
    ld = np.sum(np.log(p)) + q * np.mean([lanczos_logquad(a, b) for a, b in zip(alphas, betas)])
    assert ld == pytest.approx(np.linalg.slogdet(S)[1], abs=1e-8)
    W = R / np.sqrt(p)[:, None]
    est = (X @ W.T + W @ X.T) / (2 * m)
    np.testing.assert_allclose(est, np.linalg.inv(S), atol=1e-8 * np.abs(np.linalg.inv(S)).max())


def test_stochastic_factor_is_exact_over_all_sign_probes():
    """On a crossed system with 5 levels of b, the stochastic factor with all 32 sign probes
    gives the exact log-determinant and entries of M^-1 on each row's levels (what the
    gradient reads), and its solves are the exact ones."""
    ctx = build_glmm("y ~ x + (1 | a) + (1 | b)", crossed(600, 150, 5), "binomial",
                     solver="slq")
    system = ctx.system
    system.probes = all_signs(system.q2)
    rng = np.random.default_rng(5)
    ZL = ctx.zl(np.array([0.8, 1.3]))
    w = rng.uniform(0.05, 0.25, ctx.design.n)
    E = system.factor_exact(ZL, w)
    with system.estimating() as approx:
        F = system.factor(ZL, w)
    assert approx and type(F).__name__ == "StochasticFactor"
    assert F.logdet() == pytest.approx(E.logdet(), abs=1e-8)
    np.testing.assert_allclose(F.minv_rows(ZL), E.minv_rows(ZL), rtol=1e-7, atol=1e-10)
    r = rng.normal(size=system.q)
    np.testing.assert_allclose(F.solve(r), E.solve(r), rtol=1e-9, atol=1e-11)
    assert type(system.factor(ZL, w)).__name__ == "DeferredFactor"  # exact outside the block


FORMULA = "y ~ x + (1 | a) + (1 | b)"


@pytest.fixture(scope="module")
def shape():
    """Binary crossed data (6,000 rows, 1,500 x 400 levels) and its exact (Cholesky) fit."""
    df = crossed(6000, 1500, 400)
    return df, interlace.glmer(FORMULA, data=df, family="binomial", solver="cholesky")


def test_slq_fit_reaches_the_exact_optimum(shape):
    """Forced "slq" against "cholesky": log-likelihood within 1e-3 (the issue's tolerance is
    1e-2), fixed effects 1e-3 relative, variances and standard errors 1e-2 relative (16
    probes); the reported log-likelihood is the exact one at the reported estimates (the fit
    ends with an exact evaluation); the estimated gap to the exact optimum is below the
    threshold that would have triggered an exact Newton step, and not below the true gap."""
    df, c = shape
    s = interlace.glmer(FORMULA, data=df, family="binomial", solver="slq")
    assert (s.solver, c.solver) == ("slq", "cholesky")
    assert abs(s.llf - c.llf) < 1e-3
    np.testing.assert_allclose(np.asarray(s.fe_params), np.asarray(c.fe_params), rtol=1e-3)
    np.testing.assert_allclose(s.theta_absolute, c.theta_absolute, rtol=1e-2)
    np.testing.assert_allclose(np.asarray(s.bse), np.asarray(c.bse), rtol=1e-2)
    exact = glmm_objective(build_glmm(FORMULA, df, "binomial", solver="cholesky"))
    x = np.concatenate([s.theta, np.asarray(s.fe_params)])
    assert -0.5 * exact(x) == pytest.approx(s.llf, abs=1e-6)
    o = optimize_glmm(build_glmm(FORMULA, df, "binomial", solver="slq"), "laplace", "lbfgsb")
    assert c.llf - s.llf <= o.gap < GAP_TOL


def test_exact_newton_finishes_at_the_exact_optimum(shape, monkeypatch):
    """With the gap threshold at -1 (every "slq" fit takes the exact Newton step) the fit
    lands on the exact optimum: log-likelihood within 1e-8 of the Cholesky path's, theta 1e-6
    relative."""
    df, c = shape
    monkeypatch.setattr(fitting, "GAP_TOL", -1.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the step is taken: no ConvergenceWarning
        s = interlace.glmer(FORMULA, data=df, family="binomial", solver="slq")
    assert abs(s.llf - c.llf) < 1e-8
    np.testing.assert_allclose(s.theta_absolute, c.theta_absolute, rtol=1e-6)


def test_slq_fit_against_lme4():
    """Poisson count ~ x1 + x2 + (1|site) + (1|year) (40 x 8 levels) forced "slq", against
    lme4's glmer: log-likelihood within 1e-4, fixed effects 1e-4 relative, theta 2e-3
    relative, standard errors 1e-2 relative."""
    R = load_reference()["fixtures"]["counts_crossed"]
    r = fit_fixture("counts_crossed", solver="slq")
    assert r.solver == "slq"
    assert abs(r.llf - R["loglik"]) < 1e-4
    np.testing.assert_allclose(np.asarray(r.fe_params), list(R["fixef"].values()), rtol=1e-4)
    np.testing.assert_allclose(r.theta_absolute, R["theta"], rtol=2e-3)
    np.testing.assert_allclose(np.asarray(r.bse), list(R["se_rx"].values()), rtol=1e-2)


def test_forcing_slq_is_checked():
    """"slq" where it does not apply (three terms) and an unknown solver name are
    InterlaceErrors naming the argument."""
    df = crossed(2000, 100, 30)
    df["c"] = df["a"].str[-1]
    three = build_glmm("y ~ x + (1 | a) + (1 | b) + (1 | c)", df, "binomial", solver="slq")
    with pytest.raises(InterlaceError, match="solver='slq'"):
        three.system  # noqa: B018 - the system is built (and its solver checked) on first use
    with pytest.raises(InterlaceError, match="solver must be one of"):
        interlace.glmer("y ~ x + (1 | a) + (1 | b)", data=df, family="binomial",
                        solver="lanczos")
    two = build_glmm("y ~ x + (1 | a) + (1 | b)", df, "binomial", solver="slq")
    with pytest.raises(InterlaceError, match="probes must be"):
        two.system.probes = np.ones((3, 4))
