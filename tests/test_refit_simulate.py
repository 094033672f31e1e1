"""simulate() and refit(): lme4's simulate.merMod (unconditional by default) and
refit(object, newresp), checked against lme4 (tests/reference/bootstrap.R -> bootstrap.json)
and by the laws they must keep.

References: ``simulate(gm, nsim = 4000)`` (re.form = NA, lme4's default) of
``glmer(cbind(incidence, size - incidence) ~ period + (1 | herd), cbpp, binomial)`` and of
``lmer(Reaction ~ Days + (Days | Subject), sleepstudy)``: each row's mean and variance over the
draws; ``refit(gm, newresp = y)`` and ``refit(lmer fit, newresp = y)`` on one response
simulated in R."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from fixtures import load_reference, max_rel
from hypothesis import given, settings
from hypothesis import strategies as st

import interlace
from interlace.errors import DataError

CBPP = "cbind(incidence, size - incidence) ~ period + (1 | herd)"
SLEEP = "Reaction ~ Days + (Days | Subject)"
WINE = "rating ~ temp + contact + (1 | judge)"


@pytest.fixture(scope="module")
def ref():
    return load_reference("bootstrap.json")


@pytest.fixture(scope="module")
def cbpp():
    return interlace.glmer(CBPP, interlace.load_dataset("cbpp"))


@pytest.fixture(scope="module")
def sleep():
    return interlace.fit(SLEEP, interlace.load_dataset("sleepstudy"))


@pytest.fixture(scope="module")
def wine():
    return interlace.clmm(WINE, interlace.load_dataset("wine"))


def natural(res) -> np.ndarray:
    return res.natural_params.to_numpy(float)


# -- refit --------------------------------------------------------------------------------------
def test_refit_of_the_original_response_reproduces_every_kind_of_fit(cbpp, sleep, wine):
    shift = interlace.clmm("rating ~ 1 + (1 | judge)", interlace.load_dataset("wine"))
    ml = sleep.refit_ml()
    for fit, y in [(cbpp, cbpp.design.y), (sleep, sleep.design.y), (ml, ml.design.y),
                   (wine, interlace.load_dataset("wine")["rating"]),
                   (shift, interlace.load_dataset("wine")["rating"])]:
        again = fit.refit(y)
        assert type(again) is type(fit)
        assert again.llf == pytest.approx(fit.llf, abs=1e-8)
        np.testing.assert_allclose(natural(again), natural(fit), rtol=1e-8, atol=1e-8)
        assert again.converged
    assert ml.method == "ML" and ml.refit(ml.design.y).method == "ML"
    assert sleep.refit(sleep.design.y).method == "REML"  # a refit keeps the method, as lme4's


@settings(max_examples=8, deadline=None)
@given(seed=st.integers(0, 2**32))
def test_refit_equals_a_fresh_fit_of_the_data_with_that_response(cbpp, sleep, wine, seed):
    """The law behind reusing the design: refit(y) is the model fitted afresh to the data
    with y as its response (log-likelihood to 1e-7, every parameter to 1e-5)."""
    cb, sl = interlace.load_dataset("cbpp"), interlace.load_dataset("sleepstudy")
    wi = interlace.load_dataset("wine")
    y_cb, y_sl = cbpp.simulate(nsim=1, seed=seed)[0], sleep.simulate(nsim=1, seed=seed)[0]
    y_wi = wine.simulate(nsim=1, seed=seed)[0]
    if len(set(y_wi)) < len(wine.levels):
        y_wi = interlace.load_dataset("wine")["rating"].to_numpy()  # (a level unobserved)
    pairs = [(cbpp.refit(y_cb), interlace.glmer(CBPP, cb.assign(
                incidence=np.round(y_cb * cb["size"])))),
             (sleep.refit(y_sl), interlace.fit(SLEEP, sl.assign(Reaction=y_sl))),
             (wine.refit(y_wi), interlace.clmm(WINE, wi.assign(rating=y_wi)))]
    for again, fresh in pairs:
        assert again.llf == pytest.approx(fresh.llf, abs=1e-7)
        np.testing.assert_allclose(natural(again), natural(fresh), rtol=1e-5, atol=1e-5)


def test_refit_starts_warm_and_reuses_the_design(cbpp):
    again = cbpp.refit(cbpp.design.y)
    assert again.evaluations < cbpp.evaluations  # 13 against 23: no GLM start, no first stage
    assert again.design.X is cbpp.design.X and again.design.terms is cbpp.design.terms


def test_refit_matches_lme4_refit_on_a_response_simulated_in_r(cbpp, sleep, ref):
    """GLMM: lme4 ``refit(gm, newresp = y)``; lme4's tolerances stop its GLMM optimum ~1e-4
    short, so theta and beta are compared to 2e-3 relative and the log-likelihood may only be
    higher here. LMM: lme4's ``refit`` of the lmer fit stops short on this response (theta
    0.8% off) and reports a REML criterion (1748.33) that its own deviance function does not
    give at its theta (1739.947), so the reference is ``lmer`` fitted to the new response: the
    REML criterion to 1e-8, the estimates to 1e-4 (lmer's bobyqa stops ~2e-5 short in theta);
    lme4's refit's theta within 2%."""
    r = ref["refit_cbpp"]
    g = cbpp.refit(np.asarray(r["y"]))
    assert g.llf == pytest.approx(r["loglik"], abs=2e-3) and g.llf >= r["loglik"] - 1e-6
    assert max_rel(g.theta, r["theta"]) < 2e-3
    assert max_rel(g.fe_params, r["fixef"]) < 2e-3
    s = ref["refit_sleep"]
    m = sleep.refit(np.asarray(s["y"]))
    lm = s["lmer"]
    assert m.reml_criterion == pytest.approx(lm["reml"], rel=1e-8)
    assert m.reml_criterion == pytest.approx(lm["devfun_at_refit_theta"], abs=0.01)
    assert max_rel(m.theta, lm["theta"]) < 1e-4
    assert max_rel(m.fe_params, lm["fixef"]) < 1e-4
    assert np.sqrt(m.scale) == pytest.approx(lm["sigma"], rel=1e-4)
    assert max_rel(m.theta, s["theta"]) < 2e-2


@pytest.mark.parametrize("y, match", [
    (np.full(10, 0.5), "has 10 values; the model was fitted to 56 rows"),
    (np.r_[np.nan, np.full(55, 0.5)], "missing or infinite"),
    (np.r_[1.5, np.full(55, 0.5)], "cannot be the model's response.*proportion in \\[0, 1\\]"),
    (np.zeros((56, 2)), "1-D array"),
    (["a"] * 56, "must be numbers"),
])
def test_bad_responses_name_what_is_wrong(cbpp, y, match):
    with pytest.raises(DataError, match=match):
        cbpp.refit(y)


def test_bad_responses_of_the_other_kinds(sleep, wine):
    with pytest.raises(DataError, match="constant"):
        sleep.refit(np.full(sleep.nobs, 250.0))
    with pytest.raises(DataError, match="refit_ml"):
        sleep.refit("ML")
    rating = interlace.load_dataset("wine")["rating"].to_numpy()
    with pytest.raises(DataError, match="not levels of the response 'rating'.*the first: 7"):
        wine.refit(np.r_[7, rating[1:]])
    with pytest.raises(DataError, match=r"no observations in level\(s\) \[5\]"):
        wine.refit(np.minimum(rating, 4))
    counts = interlace.glmer("count ~ x1 + (1 | site)", interlace.load_dataset("seed_counts"),
                             family="poisson")
    with pytest.raises(DataError, match="non-negative integer counts"):
        counts.refit(np.r_[-1.0, counts.design.y[1:]])


# -- simulate -------------------------------------------------------------------------------
def test_simulate_matches_lme4s_unconditional_draws_row_by_row(cbpp, sleep, ref):
    """Each row's mean and variance over 4000 draws here and 4000 in R (independent): the
    difference of the means within 4.5 Monte Carlo SEs (sqrt(v_R / n + v / n)), of the
    variances within 4.5 SEs of a variance (sqrt((m4 - v^2) / n) from the draws' 4th central
    moment), for every row; 4.5 SEs keep the family-wise error small over 180 rows."""
    sim = ref["simulate"]
    n = sim["nsim"]
    for fit, key in [(cbpp, "cbpp"), (sleep, "sleep")]:
        y = fit.simulate(nsim=n, seed=11)
        mean, var = y.mean(axis=0), y.var(axis=0, ddof=1)
        m4 = ((y - mean) ** 4).mean(axis=0)
        se_mean = np.sqrt((np.asarray(sim[f"{key}_var"]) + var) / n)
        se_var = np.sqrt(2 * np.maximum(m4 - var**2, 1e-300) / n)
        assert np.all(np.abs(mean - sim[f"{key}_mean"]) <= 4.5 * se_mean + 1e-12), key
        assert np.all(np.abs(var - sim[f"{key}_var"]) <= 4.5 * se_var + 1e-12), key


def test_simulate_is_reproducible_and_draw_i_does_not_depend_on_nsim(cbpp, wine):
    a = cbpp.simulate(nsim=5, seed=3)
    np.testing.assert_array_equal(a, cbpp.simulate(nsim=5, seed=3))
    np.testing.assert_array_equal(a[:2], cbpp.simulate(nsim=2, seed=3))
    assert not np.array_equal(a, cbpp.simulate(nsim=5, seed=4))
    w = wine.simulate(nsim=3, seed=1)
    np.testing.assert_array_equal(w, wine.simulate(nsim=3, seed=1))


def test_simulate_returns_the_responses_scale_and_refit_round_trips(cbpp, wine):
    y = cbpp.simulate(nsim=1, seed=2)[0]
    assert np.all((y >= 0) & (y <= 1)) and np.allclose(y * cbpp.design.weights,
                                                         np.round(y * cbpp.design.weights))
    assert cbpp.refit(y).converged
    labels = wine.simulate(nsim=1, seed=2)[0]
    assert set(labels) <= set(wine.levels)
    assert wine.refit(labels).nobs == wine.nobs
    text = interlace.load_dataset("cbpp").assign(
        sick=lambda d: np.where(d["incidence"] > 0, "yes", "no"))
    g = interlace.glmer("sick ~ period + (1 | herd)", text)
    drawn = g.simulate(nsim=2, seed=5)
    assert set(np.unique(drawn)) <= {"no", "yes"}
    assert g.refit(drawn[0]).nobs == g.nobs
    np.testing.assert_allclose(natural(g.refit(text["sick"])), natural(g), rtol=1e-8, atol=1e-8)


def test_conditional_draws_average_to_the_fitted_values(cbpp, sleep):
    """The mean of 4000 conditional draws is within 4.5 Monte Carlo SEs of fittedvalues."""
    for fit in (cbpp, sleep):
        y = fit.simulate(nsim=4000, seed=7, conditional=True)
        se = y.std(axis=0, ddof=1) / np.sqrt(y.shape[0])
        assert np.all(np.abs(y.mean(axis=0) - fit.fittedvalues) <= 4.5 * se + 1e-12)


def test_unconditional_draws_vary_more_than_conditional_ones(cbpp, sleep):
    for fit in (cbpp, sleep):
        unc = fit.simulate(nsim=2000, seed=8).var(axis=0).sum()
        cond = fit.simulate(nsim=2000, seed=8, conditional=True).var(axis=0).sum()
        assert unc > 1.2 * cond


def test_simulate_on_newdata(cbpp):
    data = interlace.load_dataset("cbpp")
    # the fitted rows as newdata: the same draws (the trials read from newdata's columns)
    np.testing.assert_allclose(cbpp.simulate(nsim=3, seed=9, newdata=data),
                               cbpp.simulate(nsim=3, seed=9), atol=1e-12)
    new = pd.DataFrame({"period": ["1", "4"], "herd": ["new", "1"]})
    y = cbpp.simulate(nsim=200, seed=1, newdata=new, weights=[50, 50])
    assert y.shape == (200, 2) and np.all((y >= 0) & (y <= 1))
    with pytest.raises(DataError, match="trials.*weights="):
        cbpp.simulate(newdata=new)
    # conditional draws on newdata take predict's linear predictor: its levels must be seen
    seen = data.head(4)
    cond = cbpp.simulate(nsim=4000, seed=2, newdata=seen, conditional=True)
    se = cond.std(axis=0, ddof=1) / np.sqrt(4000)
    assert np.all(np.abs(cond.mean(axis=0) - cbpp.predict(seen)) <= 4.5 * se + 1e-12)
    with pytest.raises(interlace.InterlaceError, match="new"):
        cbpp.simulate(newdata=new, weights=[5, 5], conditional=True)
    with pytest.raises(DataError, match="grouping column"):
        cbpp.simulate(newdata=new.drop(columns="herd"), weights=1)
    with pytest.raises(interlace.InterlaceError, match="nsim"):
        cbpp.simulate(nsim=0)
    with pytest.raises(interlace.InterlaceError, match="seed"):
        cbpp.simulate(seed=-1)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**32), nsim=st.integers(1, 4), conditional=st.booleans())
def test_simulate_law_same_seed_same_draws_and_prefix(sleep, seed, nsim, conditional):
    a = sleep.simulate(nsim=nsim + 2, seed=seed, conditional=conditional)
    b = sleep.simulate(nsim=nsim, seed=seed, conditional=conditional)
    np.testing.assert_array_equal(a[:nsim], b)
    assert np.all(np.isfinite(a))
