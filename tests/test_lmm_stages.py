"""The LMM's stages called one by one (interlace.lmm): build_lmm, lmm_objective, optimize_lmm,
lmm_result give exactly fit()'s result; the objective is lme4's devFunOnly deviance (its value
at the optimum is the REML criterion / -2 llf, its gradient vanishes there and matches finite
differences elsewhere)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import interlace
from interlace.lmm import (
    LMMObjective,
    LMMOptimum,
    build_lmm,
    lmm_objective,
    lmm_result,
    optimize_lmm,
)

SLEEP = "Reaction ~ Days + (Days | Subject)"
PEN = "diameter ~ 1 + (1 | plate) + (1 | sample)"


def _by_hand(formula: str, data: pd.DataFrame, reml: bool):
    ctx = build_lmm(formula, data)
    obj = lmm_objective(ctx, reml)
    optimum = optimize_lmm(obj)
    return obj, optimum, lmm_result(obj, optimum)


@pytest.mark.parametrize("reml", [True, False])
@pytest.mark.parametrize("formula, dataset", [(SLEEP, "sleepstudy"), (PEN, "Penicillin")])
def test_stages_by_hand_give_fit(formula, dataset, reml):
    data = interlace.load_dataset(dataset)
    _, optimum, r = _by_hand(formula, data, reml)
    f = interlace.fit(formula, data, method="REML" if reml else "ML")
    assert isinstance(optimum, LMMOptimum)
    assert np.array_equal(r.theta, f.theta)
    assert r.llf == f.llf and r.aic == f.aic and r.evaluations == f.evaluations
    pd.testing.assert_series_equal(r.fe_params, f.fe_params)
    pd.testing.assert_series_equal(r.fe_bse, f.fe_bse)
    pd.testing.assert_frame_equal(r.varcorr, f.varcorr)
    assert r.summary() == f.summary()


@pytest.mark.parametrize("reml", [True, False])
def test_objective_at_the_optimum_is_the_criterion(reml):
    data = interlace.load_dataset("sleepstudy")
    obj, optimum, r = _by_hand(SLEEP, data, reml)
    fresh = lmm_objective(build_lmm(SLEEP, data), reml)
    assert isinstance(fresh, LMMObjective)
    dev = fresh(r.theta)
    if reml:
        assert dev == pytest.approx(r.reml_criterion, rel=1e-12)
    assert dev == pytest.approx(-2.0 * r.llf, rel=1e-12)
    assert np.max(np.abs(fresh.gradient(r.theta))) < 1e-3


@pytest.mark.parametrize("reml", [True, False])
@pytest.mark.parametrize("formula, dataset", [(SLEEP, "sleepstudy"), (PEN, "Penicillin")])
def test_gradient_matches_finite_differences(formula, dataset, reml):
    obj = lmm_objective(build_lmm(formula, interlace.load_dataset(dataset)), reml)
    theta = np.concatenate([t.theta_start() for t in obj.ctx.design.terms]) * 0.7 + 0.1
    g = obj.gradient(theta)
    h = 1e-6
    fd = np.array([(obj(theta + h * e) - obj(theta - h * e)) / (2 * h)
                   for e in np.eye(theta.size)])
    np.testing.assert_allclose(g, fd, rtol=1e-5, atol=1e-5)


def test_stages_accept_an_optimizer_plugin_and_the_result_stage_attaches_a_refitter():
    data = interlace.load_dataset("sleepstudy")
    obj = lmm_objective(build_lmm(SLEEP, data), True)
    r = lmm_result(obj, optimize_lmm(obj, "lbfgsb"))
    f = interlace.fit(SLEEP, data, optimizer="lbfgsb")
    np.testing.assert_array_equal(r.theta, f.theta)
    # results built by hand from the stages refit as well (the design is reused)
    ml = interlace.fit(SLEEP, data, method="ML", optimizer="lbfgsb")
    assert r.refit_ml().method == f.refit_method("ML").method == "ML"
    assert r.refit_ml().llf == pytest.approx(ml.llf, abs=1e-7)
    with pytest.raises(interlace.DataError, match="refit_ml"):
        r.refit("ML")  # the old spelling of the method switch points to the new one


def test_reml_needs_more_rows_than_fixed_effects():
    data = pd.DataFrame({"y": [1.0, 2.0, 3.5], "x": [0.0, 1.0, 3.0], "g": ["a", "b", "b"]})
    ctx = build_lmm("y ~ x + I(x ** 2) + (1 | g)", data)
    with pytest.raises(interlace.InterlaceError, match="REML needs more rows"):
        lmm_objective(ctx, True)


def test_the_lmm_names_its_own_response_model():
    r = interlace.fit(SLEEP, interlace.load_dataset("sleepstudy"))
    assert r.family.name == "gaussian" and r.link.name == "identity"
    assert r.family.__module__ == "interlace.lmm.response"


def test_results_share_a_base_and_no_kind_subclasses_another():
    from interlace.results.base import MixedModelResult

    kinds = (interlace.GLMMResult, interlace.LMMResult, interlace.CLMMResult)
    for cls in kinds:
        assert issubclass(cls, MixedModelResult)
        assert not any(issubclass(cls, other) for other in kinds if other is not cls)
    assert not hasattr(interlace.CLMMResult, "resid_pearson")  # no residuals to switch off
    assert hasattr(interlace.LMMResult, "resid_pearson") and hasattr(interlace.GLMMResult, "resid")
