"""Equivalent ways of writing the same model give the same fit; predictions behave as lme4's."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from fixtures import data_for

import interlace

CBPP = interlace.load_dataset("cbpp")


def same_fit(a, b, tol=1e-6):
    assert abs(a.llf - b.llf) < tol
    assert np.allclose(a.fe_params.to_numpy(), b.fe_params.to_numpy(), atol=1e-5)


@pytest.fixture(scope="module")
def cbpp_fit():
    return interlace.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", CBPP)


def test_response_and_term_spellings(cbpp_fit):
    ratio = interlace.glmer("incidence / size ~ period", CBPP, family="binomial", groups="herd")
    ratio_w = interlace.glmer("incidence / size ~ period", CBPP, family="binomial",
                              random=["(1 | herd)"], weights=CBPP["size"].to_numpy())
    same_fit(cbpp_fit, ratio)
    same_fit(cbpp_fit, ratio_w)


def test_text_response_is_binary():
    df = data_for("data/binom_slopes.csv")
    num = interlace.glmer("y ~ x + (1 | g)", df, family="binomial")
    txt = interlace.glmer("outcome ~ x + (1 | g)", df, family="binomial")  # "no" < "yes": no = 0
    same_fit(num, txt)


def test_nesting_expands_like_lme4():
    gt = interlace.load_dataset("grouseticks")
    a = interlace.glmer("TICKS ~ YEAR + cHEIGHT + (1 | LOCATION/BROOD)", gt, family="poisson")
    b = interlace.glmer("TICKS ~ YEAR + cHEIGHT + (1 | LOCATION) + (1 | LOCATION:BROOD)", gt,
                        family="poisson")
    same_fit(a, b)
    assert set(a.random_effects) == {"LOCATION", "LOCATION:BROOD"}


def test_offset_in_formula_equals_offset_argument():
    df = interlace.load_dataset("seed_counts").assign(expo=lambda d: 1.0 + (d.x2 == 1))
    a = interlace.glmer("count ~ x1 + offset(log(expo)) + (1 | site)", df, family="poisson")
    b = interlace.glmer("count ~ x1 + (1 | site)", df, family="poisson",
                        offset=np.log(df["expo"].to_numpy()))
    same_fit(a, b)
    new = df.iloc[:5]
    assert np.allclose(a.predict(new), b.predict(new, offset=np.log(new["expo"].to_numpy())))


def test_predict_unseen_level_uses_zero_effect(cbpp_fit):
    new = pd.DataFrame({"period": ["1", "2"], "herd": ["1", "no-such-herd"]})
    with_re = cbpp_fit.predict(new, type="link", allow_new_levels=True)
    pop = cbpp_fit.predict(new, type="link", include_re=False)
    assert with_re[1] == pytest.approx(pop[1], abs=1e-12)
    b1 = cbpp_fit.random_effects["herd"].loc["1", "(Intercept)"]
    assert with_re[0] == pytest.approx(pop[0] + b1, abs=1e-12)


def test_predict_training_data_matches_fitted(cbpp_fit):
    assert np.allclose(cbpp_fit.predict(CBPP), cbpp_fit.fittedvalues, atol=1e-10)
    assert np.allclose(cbpp_fit.predict(), cbpp_fit.fittedvalues, atol=1e-10)


def test_random_slopes_predict_uses_slope():
    df = data_for("data/binom_slopes.csv")
    r = interlace.glmer("y ~ x + (1 + x | g)", df, family="binomial")
    eta = r.predict(df, type="link")
    re = r.random_effects["g"].loc[df["g"]].to_numpy()
    manual = r.fe_params.iloc[0] + r.fe_params.iloc[1] * df["x"] + re[:, 0] + re[:, 1] * df["x"]
    assert np.allclose(eta, manual, atol=1e-10)
    cov = r.variance_components["g"]
    assert cov.shape == (2, 2) and np.allclose(cov, cov.T)


def test_residuals_and_simulate(cbpp_fit):
    rp = cbpp_fit.residuals("pearson")
    rd = cbpp_fit.residuals()
    assert len(rp) == len(rd) == 56 and np.all(np.isfinite(rd))
    sims = cbpp_fit.simulate(nsim=3, seed=1)
    assert sims.shape == (3, 56) and np.all((sims >= 0) & (sims <= 1))
