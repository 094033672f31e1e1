"""The GLMM's public stages (build_glmm -> glmm_objective -> optimize_glmm -> glmm_result):
run by hand they are glmer(); the deviance function is the fit's; bad input fails in the first
stage as in glmer. And glmer's routing of Gaussian-identity models to the LMM path."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import interlace
from interlace.glmm import (
    Deviance,
    Optimum,
    build_glmm,
    glmm_objective,
    glmm_result,
    optimize_glmm,
)
from interlace.glmm.resolve import resolve_integrator, resolve_optimizer
from interlace.integrators import default_integrator
from interlace.optimizers import default_optimizer
from interlace.ordinal.fitting import clmm_integrator, optimize_clmm

CBPP_F = "cbind(incidence, size - incidence) ~ period + (1 | herd)"
SAL_F = "count ~ mined + (1 | site)"


def cbpp() -> pd.DataFrame:
    return interlace.load_dataset("cbpp")


def salamanders() -> pd.DataFrame:
    return interlace.load_dataset("Salamanders")


def by_stages(formula, data, family, **kw):
    ctx = build_glmm(formula, data, family)
    integ = resolve_integrator(None, 1, ctx.family)
    opt = resolve_optimizer(None)
    optimum = optimize_glmm(ctx, integ, opt, kw.get("optimizer_options"))
    assert isinstance(optimum, Optimum)
    return glmm_result(ctx, integ, opt, optimum), optimum


@pytest.mark.parametrize("formula,data,family", [(CBPP_F, cbpp, "binomial"),
                                                 (SAL_F, salamanders, "nbinom2")])
def test_stages_by_hand_are_glmer(formula, data, family):
    ref = interlace.glmer(formula, data(), family=family)
    res, optimum = by_stages(formula, data(), family)
    assert res.llf == ref.llf
    assert res.evaluations == ref.evaluations == optimum.evaluations
    np.testing.assert_array_equal(res.fe_params, ref.fe_params)
    np.testing.assert_array_equal(res.fe_bse, ref.fe_bse)
    np.testing.assert_array_equal(res.theta, ref.theta)
    assert res.family_params == ref.family_params
    assert optimum.deviance == -2 * ref.llf


def test_deviance_function_at_and_away_from_the_optimum():
    ref = interlace.glmer(SAL_F, salamanders(), family="nbinom2")
    _, optimum = by_stages(SAL_F, salamanders(), "nbinom2")
    dev = glmm_objective(build_glmm(SAL_F, salamanders(), "nbinom2"))
    assert isinstance(dev, Deviance)
    assert dev.names() == ["theta[site.(Intercept)]", "(Intercept)", "mined[T.yes]",
                           "theta (unconstrained)"]
    assert len(dev.bounds()) == len(dev.start()) == len(optimum.x) == 4
    assert dev.bounds()[0] == (0.0, None)
    x = optimum.x
    assert dev(x) == pytest.approx(-2 * ref.llf, rel=1e-10)
    g = dev.gradient(x)
    assert np.max(np.abs(g)) < 1e-4
    # away from the optimum the gradient is the deviance's slope (central differences)
    x1 = x + np.array([0.1, 0.05, -0.1, 0.2])
    g1 = dev.gradient(x1)
    h = 1e-5
    fd = np.array([(dev(x1 + h * e) - dev(x1 - h * e)) / (2 * h) for e in np.eye(4)])
    np.testing.assert_allclose(g1, fd, rtol=1e-4, atol=1e-4)
    assert np.max(np.abs(g1)) > 1.0
    theta, beta, fp = dev.parameter_values(x)
    assert fp["theta"] == pytest.approx(ref.family_params["theta"], rel=1e-12)


def test_deviance_with_quadrature():
    dev = glmm_objective(build_glmm(CBPP_F, cbpp()), nAGQ=5)
    assert dev.integrator.nAGQ == 5
    assert np.isfinite(dev(dev.start()))


@pytest.mark.parametrize("kwargs,error", [
    (dict(formula="y ~ x + (1 | g)"), interlace.DataError),  # unknown columns
    (dict(formula=CBPP_F, family="no_such_family"), interlace.PluginError),
    (dict(formula=CBPP_F, family=3), interlace.PluginError),
    (dict(formula="cbind(incidence, size - incidence) ~ period + (1 | herd"),
     interlace.FormulaError),
    (dict(formula=CBPP_F, weights="no_such_column"), interlace.DataError),
])
def test_build_glmm_raises_as_glmer(kwargs, error):
    kwargs = {"family": "binomial", **kwargs}
    with pytest.raises(error) as built:
        build_glmm(data=cbpp(), **kwargs)
    with pytest.raises(error) as fitted:
        interlace.glmer(data=cbpp(), **kwargs)
    assert str(built.value) == str(fitted.value)


def test_defaults_live_in_the_plugin_folders():
    assert resolve_optimizer(None).name == default_optimizer()
    assert default_integrator(1) == ("laplace", {})
    assert default_integrator(1, "observed") == ("laplace", {"information": "observed"})
    assert default_integrator(7)[0] == "agq"
    integ = resolve_integrator(None, 1, interlace.GammaFamily())
    assert integ.observed


# -- Gaussian-identity glmer is a linear mixed model ---------------------------------------
def sleep() -> pd.DataFrame:
    return interlace.load_dataset("sleepstudy")


SLEEP_F = "Reaction ~ Days + (Days | Subject)"


def test_gaussian_glmer_is_the_lmm_by_ml():
    r = interlace.glmer(SLEEP_F, sleep(), family="gaussian", nAGQ=3)
    lmm = interlace.fit(SLEEP_F, sleep(), method="ML")
    assert isinstance(r, interlace.LMMResult) and r.method == "ML"
    assert r.llf == lmm.llf
    np.testing.assert_array_equal(r.fe_params, lmm.fe_params)
    assert r.llf == pytest.approx(-875.9696722444954, abs=1e-5)  # lme4 lmer, ML
    assert set(r.family_params) == {"sigma"}


def test_gaussian_glmer_passes_weights_offset_and_optimizer():
    d = sleep()
    d["w"] = np.linspace(0.5, 2.0, len(d))
    d["o"] = np.linspace(-3.0, 3.0, len(d))
    kw = dict(weights="w", offset="o", optimizer="bobyqa")
    r = interlace.glmer(SLEEP_F, d, family="gaussian", **kw)
    lmm = interlace.fit(SLEEP_F, d, method="ML", **kw)
    assert r.optimizer == lmm.optimizer == "bobyqa"
    assert r.llf == lmm.llf
    assert r.llf != interlace.fit(SLEEP_F, d, method="ML").llf


def test_gaussian_glmer_with_an_integrator_stays_a_glmm():
    r = interlace.glmer(SLEEP_F, sleep(), family="gaussian", integrator="laplace")
    assert isinstance(r, interlace.GLMMResult) and not isinstance(r, interlace.LMMResult)
    lmm = interlace.glmer(SLEEP_F, sleep(), family="gaussian")
    assert r.llf == pytest.approx(lmm.llf, abs=1e-6)  # the Laplace approximation is exact


# -- clmm: build_clmm, then the GLMM's stages ------------------------------------------------
WINE_F = "rating ~ temp + contact + (1 | judge)"


def test_clmm_stages_by_hand_are_clmm():
    """build_clmm, optimize_clmm and glmm_result give clmm()'s fit; the GLMM's own
    optimize_glmm (from the GLM start, by L-BFGS-B) reaches the same optimum."""
    wine = interlace.load_dataset("wine")
    ref = interlace.clmm(WINE_F, wine)
    ctx = interlace.build_clmm(WINE_F, wine)
    integ, opt = clmm_integrator(None, 1), resolve_optimizer(None)
    res = glmm_result(ctx, integ, opt, optimize_clmm(ctx, integ, opt), interlace.CLMMResult)
    assert res.llf == ref.llf and res.evaluations == ref.evaluations
    np.testing.assert_array_equal(res.coef, ref.coef)
    ctx = interlace.build_clmm(WINE_F, wine)
    core = glmm_result(ctx, integ, opt, optimize_glmm(ctx, integ, opt), interlace.CLMMResult)
    assert core.llf == pytest.approx(ref.llf, abs=1e-8)
    np.testing.assert_allclose(core.coef, ref.coef, rtol=1e-5)


def test_build_clmm_raises_as_clmm():
    wine = interlace.load_dataset("wine")
    for bad in ("cbind(rating, rating) ~ temp + (1 | judge)", "nope ~ temp + (1 | judge)"):
        with pytest.raises(interlace.InterlaceError) as built:
            interlace.build_clmm(bad, wine)
        with pytest.raises(type(built.value), match="clmm"):
            interlace.clmm(bad, wine)


def test_glmer_ordinal_points_to_clmm():
    with pytest.raises(interlace.PluginError, match="interlace.clmm"):
        interlace.glmer(WINE_F, interlace.load_dataset("wine"), family="ordinal")
