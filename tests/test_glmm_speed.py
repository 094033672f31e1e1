"""The small-GLMM fast path agrees with the general one.

A canonical-link Laplace fit (binomial-logit, Poisson-log) with the closed-form gradient skips
the first (theta-only) stage, starts theta at the GLM fit's moments, leaves the optimizer's
last steps to the Newton polish and takes its Hessian by forward differences of that gradient;
the general path (two stages, central differences) must reach the same optimum and the same
standard errors. The objective answers a repeated point from memory.
"""

from __future__ import annotations

import numpy as np
import pytest
from fixtures import fit_fixture

from interlace.glmm.objective import Layout, Objective
from interlace.integrators.laplace import LaplaceIntegrator
from interlace.linalg.differences import hessian_forward, hessian_from_gradient


class _GeneralPath(LaplaceIntegrator):
    """The same Laplace integrator, declining the fast path."""

    def exact_canonical(self, ctx, fam_names):
        return False


def _rel(a, b) -> float:
    a, b = np.asarray(a, float), np.asarray(b, float)
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-2)))


@pytest.mark.parametrize("key", ["cbpp_logit", "grouseticks_pois", "counts_crossed",
                                 "binom_slopes"])
def test_fast_path_matches_general_path(key):
    fast = fit_fixture(key)
    general = fit_fixture(key, integrator=_GeneralPath())
    assert fast.converged and general.converged
    assert abs(fast.llf - general.llf) < 1e-8
    assert _rel(fast.fe_params, general.fe_params) < 1e-6
    assert _rel(fast.theta, general.theta) < 1e-5
    assert _rel(fast.fe_bse, general.fe_bse) < 2e-6


def test_forward_hessian_matches_central():
    r = fit_fixture("cbpp_logit")
    ctx, beta = r.context, r.fe_params.to_numpy()
    obj = Objective(ctx, LaplaceIntegrator(), Layout(ctx.ntheta, ctx.design.p, []), beta)
    x = np.concatenate([r.theta_absolute, beta])

    def grad(x):  # as the fitting loop differentiates: the modes converged once more
        obj.reconverge(x)
        return obj.gradient(x)

    Hf = hessian_forward(grad, x, grad(x))
    Hc = hessian_from_gradient(obj.gradient, x)
    se = [np.sqrt(np.diag(np.linalg.inv(H))) for H in (Hf, Hc)]
    assert _rel(se[0], se[1]) < 1e-6


def test_objective_remembers_its_last_point():
    r = fit_fixture("cbpp_logit")
    ctx, beta = r.context, r.fe_params.to_numpy()
    obj = Objective(ctx, LaplaceIntegrator(), Layout(ctx.ntheta, ctx.design.p, []), beta)
    x = np.concatenate([r.theta_absolute, beta])
    f0 = obj(x)
    snap = obj.snapshot()
    assert obj(x.copy()) == f0 and obj.nfev == 1  # answered from memory
    f1 = obj(x + 0.01)
    assert obj.nfev == 2 and f1 != f0
    obj.restore(snap)
    assert obj(x) == f0 and obj.nfev == 2
    assert obj.reconverge(x) == pytest.approx(f0, abs=1e-9) and obj.nfev == 3


def test_theta_moments_start_near_the_estimate():
    from interlace.glmm.rowkernel import fixed_effects_for, kernel_for
    from interlace.glmm.start import glm_start, theta_moments

    r = fit_fixture("cbpp_logit")
    ctx = r.context
    beta0 = glm_start(ctx.design, ctx.family, {})
    th = theta_moments(ctx.design, kernel_for(ctx), fixed_effects_for(ctx), beta0, {})
    assert th.shape == r.theta.shape
    assert abs(th[0] / r.theta[0] - 1) < 0.1  # 0.666 against 0.642


def test_stop_at_the_gradient_floor_keeps_the_optimum(monkeypatch):
    """Stopping L-BFGS-B where the projected gradient falls below a floor relative to the
    deviance (1e-8 by default: the rounding floor that 10^6 Poisson rows hit) leaves the
    Newton polish the same optimum as running L-BFGS-B to its own end. A floor of 1e-5 here
    stops it early (the evaluation counts differ), so the stop is exercised. (One random
    intercept starts with Newton steps, newton_start, before any L-BFGS-B: they are switched
    off here so that L-BFGS-B runs from the start.)"""
    import pandas as pd

    import interlace
    import interlace.glmm.fitting as glmm_fitting
    from interlace.glmm import optimize as fitting  # the floor lives with the optimizer stages

    monkeypatch.setattr(glmm_fitting, "newton_start", lambda *a, **k: None)

    rng = np.random.default_rng(11)
    n, ng = 60_000, 3_000
    g = rng.integers(0, ng, n)
    x = rng.standard_normal(n)
    y = rng.poisson(np.exp(0.3 + 0.4 * x + rng.normal(0, 0.5, ng)[g]))
    df = pd.DataFrame({"y": y, "x": x, "g": g.astype(str)})
    monkeypatch.setattr(fitting, "GRADIENT_FLOOR", 1e-5)
    early = interlace.glmer("y ~ x + (1 | g)", df, family="poisson")
    monkeypatch.setattr(fitting, "GRADIENT_FLOOR", 0.0)
    full = interlace.glmer("y ~ x + (1 | g)", df, family="poisson")
    assert early.evaluations != full.evaluations
    assert early.converged and full.converged
    assert abs(early.llf - full.llf) < 1e-9 * abs(full.llf)
    assert _rel(early.fe_params, full.fe_params) < 1e-7
    assert _rel(early.theta, full.theta) < 1e-7
    assert _rel(early.fe_bse, full.fe_bse) < 1e-6


def test_newton_start_reaches_the_optimizers_optimum(monkeypatch):
    """One random intercept starts with Newton steps on the start's Hessian (newton_start)
    instead of L-BFGS-B: same optimum (log-likelihood, estimates, standard errors) as the
    L-BFGS-B path (reference: that path, itself checked against lme4 in test_parity_lme4),
    for a Poisson and a binomial random intercept, in no more deviance evaluations."""
    import pandas as pd

    import interlace
    import interlace.glmm.fitting as glmm_fitting

    rng = np.random.default_rng(12)
    n, ng = 20_000, 400
    g = np.sort(rng.integers(0, ng, n))
    x = rng.standard_normal(n)
    b = rng.normal(0, 0.6, ng)[g]
    df = pd.DataFrame({"y": rng.poisson(np.exp(0.2 + 0.4 * x + b)), "x": x,
                       "yb": rng.binomial(1, 1 / (1 + np.exp(-(0.2 + 0.4 * x + b)))),
                       "g": g.astype(str)})
    for formula, family in (("y ~ x + (1 | g)", "poisson"), ("yb ~ x + (1 | g)", "binomial")):
        newton = interlace.glmer(formula, df, family=family)
        with monkeypatch.context() as m:
            m.setattr(glmm_fitting, "newton_start", lambda *a, **k: None)
            lbfgs = interlace.glmer(formula, df, family=family)
        assert newton.converged and lbfgs.converged
        assert newton.llf >= lbfgs.llf - 1e-9 * abs(lbfgs.llf)
        assert _rel(newton.fe_params, lbfgs.fe_params) < 1e-6
        assert _rel(newton.theta, lbfgs.theta) < 1e-6
        assert _rel(newton.fe_bse, lbfgs.fe_bse) < 1e-5
        assert newton.evaluations <= lbfgs.evaluations
