"""Solvers of the penalised system for crossed random effects (issue 19): PIRLS's Newton steps
by conjugate gradients ("pcg", the factor deferred to the mode) give the answer of the dense
Cholesky path ("cholesky"), and "auto" picks by a cost model.

The reference is the Cholesky path itself (checked against lme4 elsewhere in the suite): the
two solvers must agree to solver precision, estimates 1e-6 and log-likelihood 1e-8.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import interlace
from interlace.errors import InterlaceError
from interlace.glmm.fitting import build_glmm
from interlace.linalg.penalized import choose_solver
from interlace.lmm.objective import LMMObjective
from interlace.lmm.stages import build_lmm


def crossed(n: int, n_a: int, n_b: int, seed: int = 19, gaussian: bool = False) -> pd.DataFrame:
    """Randomly crossed factors a and b (each row draws both levels independently)."""
    rng = np.random.default_rng(seed)
    a, b = rng.integers(0, n_a, n), rng.integers(0, n_b, n)
    x = rng.standard_normal(n)
    eta = -0.3 + 0.5 * x + rng.normal(0, 0.7, n_a)[a] + rng.normal(0, 0.4, n_b)[b]
    y = eta + rng.normal(0, 1.0, n) if gaussian else rng.binomial(1, 1 / (1 + np.exp(-eta)))
    return pd.DataFrame({"y": y, "x": x, "a": [f"a{i}" for i in a], "b": [f"b{i}" for i in b]})


@pytest.mark.parametrize("shape", [(8000, 2000, 600), (3000, 300, 60)])
def test_glmm_pcg_equals_cholesky(shape):
    """Binary GLMM y ~ x + (1|a) + (1|b): same estimates (1e-6) and log-likelihood (1e-8) by
    either solver; the first shape has a sparse cross block, the second a dense one."""
    df = crossed(*shape)
    fits = {s: interlace.glmer("y ~ x + (1 | a) + (1 | b)", data=df, family="binomial", solver=s)
            for s in ("cholesky", "pcg")}
    c, p = fits["cholesky"], fits["pcg"]
    assert (c.solver, p.solver) == ("cholesky", "pcg")
    np.testing.assert_allclose(np.asarray(p.fe_params), np.asarray(c.fe_params), rtol=1e-6)
    np.testing.assert_allclose(p.theta_absolute, c.theta_absolute, rtol=1e-6)
    assert abs(p.llf - c.llf) < 1e-8 * max(1.0, abs(c.llf))


def test_lmm_pcg_equals_cholesky():
    """LMM y ~ x + (1|a) + (1|b): the profiled deviance and its solution agree by either
    solver (the LMM asks for the log-determinant at each value, so the factor is built)."""
    df = crossed(6000, 1500, 700, gaussian=True)
    objs = {s: LMMObjective(build_lmm("y ~ x + (1 | a) + (1 | b)", df, solver=s), reml=True)
            for s in ("cholesky", "pcg")}
    assert objs["pcg"].ctx.system.solver == "pcg"
    auto = build_lmm("y ~ x + (1 | a) + (1 | b)", df)
    assert auto.system.solver == "cholesky"  # the LMM needs the factor at every evaluation
    for theta in ([0.7, 0.4], [1.3, 0.1], [0.05, 2.0]):
        sols = {s: o.solve(np.array(theta)) for s, o in objs.items()}
        devs = {s: objs[s].deviance_from(sols[s]) for s in objs}
        assert abs(devs["pcg"] - devs["cholesky"]) < 1e-8 * abs(devs["cholesky"])
        np.testing.assert_allclose(sols["pcg"].beta, sols["cholesky"].beta, rtol=1e-6, atol=1e-10)


def test_auto_picks_by_cost():
    """The cost model: q2^3 / 3 for the dense factor against budgeted conjugate-gradient
    iterations over the cross block's non-zeros ("pcg"), and from q2 = 1000 against the probe
    solves of the stochastic evaluations ("slq"); the iterative ones only for two scalar terms."""
    assert choose_solver(2000, 200_000, True) == "slq"
    assert choose_solver(5000, 400_000, True) == "slq"
    assert choose_solver(600, 8000, True) == "pcg"
    assert choose_solver(100, 200_000, True) == "cholesky"
    assert choose_solver(5000, 400_000, False) == "cholesky"
    big = build_glmm("y ~ x + (1 | a) + (1 | b)", crossed(20_000, 4000, 1000), "binomial")
    assert big.system.solver == "slq"
    mid = build_glmm("y ~ x + (1 | a) + (1 | b)", crossed(8000, 2000, 600), "binomial")
    assert mid.system.solver == "pcg"
    small = build_glmm("y ~ x + (1 | a) + (1 | b)", crossed(20_000, 2000, 20), "binomial")
    assert small.system.solver == "cholesky"


def test_forcing_a_solver_is_checked():
    """An unknown solver, or pcg where it does not apply (three terms), is an InterlaceError."""
    df = crossed(2000, 100, 30)
    df["c"] = df["a"].str[-1]
    three = build_glmm("y ~ x + (1 | a) + (1 | b) + (1 | c)", df, "binomial", solver="pcg")
    with pytest.raises(InterlaceError, match="solver='pcg'"):
        three.system  # noqa: B018 - the system is built (and its solver checked) on first use
    with pytest.raises(InterlaceError, match="solver must be one of"):
        interlace.glmer("y ~ x + (1 | a) + (1 | b)", data=df, family="binomial", solver="lu")
    three_auto = build_glmm("y ~ x + (1 | a) + (1 | b) + (1 | c)", df, "binomial")
    assert three_auto.system.solver == "cholesky"


def test_deferred_factor_matches_the_exact_one():
    """The deferred factor's solves (conjugate gradients) equal the Cholesky factor's, and a
    factor that turns out indefinite gives an infinite log-determinant (deviance), not an error."""
    ctx = build_glmm("y ~ x + (1 | a) + (1 | b)", crossed(8000, 2000, 600), "binomial",
                     solver="pcg")
    system = ctx.system
    rng = np.random.default_rng(3)
    ZL = ctx.zl(np.array([0.9, 0.6]))  # solver order
    w = rng.uniform(0.05, 0.25, ctx.design.n)
    F, E = system.factor(ZL, w), system.factor_exact(ZL, w)
    assert type(F).__name__ == "DeferredFactor"
    R = rng.normal(size=(system.q, 2))
    np.testing.assert_allclose(F.solve(R), E.solve(R), rtol=1e-9, atol=1e-11)
    assert F.logdet() == pytest.approx(E.logdet(), rel=1e-12)
    bad = type(F)(F.L0, F.L21, np.ones(system.q2), lambda: None)
    assert bad.logdet() == np.inf
