"""tidy(), the Summary object, statsmodels' names and the conditional variances of the random
effects, against R (tests/reference/wald_ci.json, written by wald_ci.R).

References: broom.mixed 0.2.9.4 ``tidy()`` of lmerTest's and lme4's
``lmer(Reaction ~ Days + (Days | Subject), sleepstudy)`` and of
``glmer(cbind(incidence, size - incidence) ~ period + (1 | herd), cbpp, binomial)`` (with
``conf.int = TRUE``, and ``effects = "ran_vals"``), of ``clmm(rating ~ temp + contact +
(1 | judge), wine)`` and of glmmTMB's zero-inflated Poisson fit; lme4's
``attr(ranef(fit, condVar = TRUE)$Subject, "postVar")`` for sleepstudy (REML) and cbpp.
"""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest

import interlace
from interlace.errors import InterlaceError
from interlace.integrators.laplace import LaplaceIntegrator
from interlace.results.summary_object import Summary
from tests.fixtures import load_reference, max_rel

REF = load_reference("wald_ci.json")
L = interlace.load_dataset


@pytest.fixture(scope="module")
def sleep():
    return interlace.fit("Reaction ~ Days + (Days | Subject)", L("sleepstudy"))


@pytest.fixture(scope="module")
def cbpp():
    return interlace.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", L("cbpp"))


@pytest.fixture(scope="module")
def wine():
    return interlace.clmm("rating ~ temp + contact + (1 | judge)", L("wine"))


@pytest.fixture(scope="module")
def zip_fit():
    return interlace.glmer("count ~ mined + (1 | site)", L("Salamanders"), family="zipoisson",
                           ziformula="~ mined", integrator=LaplaceIntegrator(information="observed"))


def broom(name: str) -> pd.DataFrame:
    return pd.DataFrame(REF["tidy"][name])


def r_term(term: str) -> str:
    return term.replace("[T.", "").replace("]", "")


def test_tidy_lmm_matches_broom_mixed_lmertest(sleep):
    """Rows, terms, groups, estimates, SEs, Satterthwaite df, t and p as broom.mixed's tidy of
    an lmerTest fit; conf_low / conf_high of the fixed effects as broom.mixed's tidy of the
    lme4 fit (normal Wald, lme4's confint(method = "Wald"): the lmerTest tidy uses t
    quantiles); ran_pars carry no SE, as broom.mixed's."""
    t = sleep.tidy(conf_int=True)
    R = broom("sleep_lmertest")
    assert list(t.columns) == ["effect", "component", "group", "term", "estimate", "std_error",
                               "statistic", "df", "p_value", "conf_low", "conf_high"]
    assert list(t["effect"]) == list(R["effect"])
    assert list(t["term"]) == list(R["term"])
    assert list(t["group"].fillna("NA")) == list(R["group"].fillna("NA"))
    assert max_rel(t["estimate"], R["estimate"]) < 1e-4
    fx = t["effect"] == "fixed"
    for ours, theirs in [("std_error", "std.error"), ("statistic", "statistic"), ("df", "df"),
                         ("p_value", "p.value")]:
        assert max_rel(t.loc[fx, ours], R.loc[fx, theirs]) < 1e-3, ours
        assert t.loc[~fx, ours].isna().all()
    lme4 = broom("sleep_lme4")
    assert max_rel(t.loc[fx, "conf_low"], lme4.loc[fx, "conf.low"]) < 1e-4
    assert max_rel(t.loc[fx, "conf_high"], lme4.loc[fx, "conf.high"]) < 1e-4
    ci = sleep.conf_int()
    np.testing.assert_allclose(t.loc[~fx, "conf_low"], ci["lower"].iloc[:4], rtol=1e-12)


def test_tidy_glmm_and_ran_vals_match_broom_mixed(cbpp):
    """cbpp: fixed rows as broom.mixed's tidy(glmer) (within lme4's distance from the Laplace
    optimum, 2e-3; SEs 2e-2 as tests/test_parity_lme4.py); ran_vals: modes and conditional
    SDs by level."""
    t = cbpp.tidy()
    R = broom("cbpp")
    assert list(t["term"].map(r_term)) == list(R["term"])
    assert list(t["effect"]) == list(R["effect"])
    assert max_rel(t["estimate"], R["estimate"]) < 2e-3
    fx = t["effect"] == "fixed"
    assert max_rel(t.loc[fx, "std_error"], R.loc[fx, "std.error"]) < 2e-2
    rv = cbpp.tidy(effects="ran_vals", conf_int=True, conf_level=0.9)
    Rv = broom("cbpp_ran_vals").set_index("level")
    rv = rv.set_index("level").loc[Rv.index]
    assert (rv["group"] == "herd").all() and (rv["term"] == "(Intercept)").all()
    assert max_rel(rv["estimate"], Rv["estimate"], floor=0.1) < 5e-3
    assert max_rel(rv["std_error"], Rv["std.error"]) < 5e-3
    np.testing.assert_allclose(rv["conf_high"] - rv["estimate"], 1.6448536 * rv["std_error"],
                               rtol=1e-6)


def test_tidy_clmm_matches_broom_mixed(wine):
    """Thresholds (component "threshold", broom.mixed's coef.type "intercept") then the
    coefficients, with z and p and ordinal's Wald intervals; then the judge SD."""
    t = wine.tidy(conf_int=True)
    R = broom("wine")
    fx = t[t["effect"] == "fixed"]
    assert list(fx["term"].map(r_term)) == list(R["term"])
    assert list(fx["component"]) == ["threshold"] * 4 + ["cond"] * 2
    for ours, theirs in [("estimate", "estimate"), ("std_error", "std.error"),
                         ("statistic", "statistic"), ("conf_low", "conf.low"),
                         ("conf_high", "conf.high")]:
        assert max_rel(fx[ours], R[theirs]) < 1e-3, ours
    assert max_rel(fx["p_value"], R["p.value"], floor=1e-12) < 1e-2
    assert list(t.loc[t["effect"] == "ran_pars", "term"]) == ["sd__(Intercept)"]


def test_tidy_zero_inflation_rows_match_broom_mixed_glmmtmb(zip_fit):
    """glmmTMB's tidy: cond and zi fixed rows (component), then the site SD."""
    t = zip_fit.tidy()
    R = broom("sal_zip_tmb")
    assert list(t["component"]) == list(R["component"])
    assert list(t["term"].map(r_term)) == list(R["term"])
    assert max_rel(t["estimate"], R["estimate"]) < 1e-4
    fx = t["effect"] == "fixed"
    assert max_rel(t.loc[fx, "std_error"], R.loc[fx, "std.error"]) < 1e-3
    assert max_rel(t.loc[fx, "statistic"], R.loc[fx, "statistic"]) < 1e-3


def test_tidy_scalar_family_parameter_is_a_residual_ran_par():
    nb = interlace.glmer("count ~ mined + (1 | site)", L("Salamanders"), family="nbinom2")
    t = nb.tidy(conf_int=True)
    row = t[t["term"] == "theta"].iloc[0]
    assert (row["effect"], row["group"], row["component"]) == ("ran_pars", "Residual", "disp")
    assert row["conf_low"] < row["estimate"] < row["conf_high"]


def test_tidy_bad_input(sleep):
    with pytest.raises(InterlaceError, match="effects"):
        sleep.tidy(effects="random")
    with pytest.raises(InterlaceError, match="level"):
        sleep.tidy(conf_int=True, conf_level=95)
    assert list(sleep.tidy(effects="ran_pars")["effect"].unique()) == ["ran_pars"]


@pytest.mark.parametrize("key, group", [("sleep_reml", "Subject"), ("cbpp", "herd")])
def test_conditional_covariances_match_lme4_postvar(key, group, sleep, cbpp):
    """lme4's ranef(fit, condVar = TRUE) postVar (k x k per level): the LMM's exactly (1e-4),
    the GLMM's at interlace's Laplace optimum (lme4 stops short of it: 5e-3)."""
    r = sleep if key == "sleep_reml" else cbpp
    R = REF["condvar"][key]
    full = r.conditional_variances(full=True)[group]
    levels = [str(v) for v in r.random_effects[group].index]
    order = [levels.index(lv) for lv in R["levels"]]
    ours = full[order].reshape(len(order), -1)
    theirs = np.array(R["postVar"], float).reshape(len(order), -1)
    tol = 1e-4 if key == "sleep_reml" else 5e-3
    assert max_rel(ours, theirs, floor=1e-3 * np.abs(theirs).max()) < tol
    table = r.ranef(condvar=True)
    assert list(table.columns) == ["grpvar", "term", "grp", "condval", "condsd"]
    se = r.random_effects_se[group]
    np.testing.assert_allclose(se.to_numpy() ** 2, np.diagonal(full, axis1=1, axis2=2),
                               rtol=1e-12)
    terms = [R["terms"]] if isinstance(R["terms"], str) else R["terms"]  # auto_unbox
    first = table[(table["term"] == terms[0])].set_index("grp").loc[R["levels"]]
    assert max_rel(first["condval"], R["modes"][terms[0]], floor=0.1) < tol * 2


def test_summary_is_a_string_with_dataframe_parts(sleep, wine, zip_fit, capsys):
    s = sleep.summary()
    assert capsys.readouterr().out == ""  # summary() prints nothing itself
    assert isinstance(s, Summary) and isinstance(s, str)
    assert repr(s) == str(s) == sleep.summary_text()
    print(s)
    assert capsys.readouterr().out.count("Linear mixed model fit by REML") == 1
    pd.testing.assert_series_equal(s.coefficients["Estimate"], sleep.fe_params,
                                   check_names=False)
    assert list(s.coefficients.columns) == ["Estimate", "Std. Error", "df", "t value",
                                            "Pr(>|t|)"]
    assert s.fit_statistics["REML criterion"].iloc[0] == pytest.approx(1743.6283, abs=1e-4)
    pd.testing.assert_frame_equal(s.random_effects, sleep.varcorr)
    again = pickle.loads(pickle.dumps(s))
    assert again == s and set(again.tables) == set(s.tables)
    w = wine.summary()
    assert list(w.thresholds.index) == ["1|2", "2|3", "3|4", "4|5"]
    assert w.fit_statistics["cond.H"].iloc[0] == pytest.approx(wine.cond_H)
    z = zip_fit.summary()
    assert list(z.family_coefficients.index.get_level_values("term")) == ["(Intercept)",
                                                                         "mined[T.yes]"]
    with pytest.raises(AttributeError, match="thresholds"):
        _ = s.thresholds


def test_statsmodels_names_align(sleep, cbpp):
    for r in (sleep, cbpp):
        assert r.params is r.fe_params
        pd.testing.assert_series_equal(r.bse, r.fe_bse)
        pd.testing.assert_series_equal(r.pvalues, r.fe_pvalues)
        pd.testing.assert_frame_equal(r.cov_params(), r.vcov)
        assert list(r.bse.index) == list(r.params.index) == list(r.tvalues.index)
        ci = r.conf_int(alpha=0.05, parm="fixed")
        assert list(ci.index) == list(r.params.index)
    pd.testing.assert_series_equal(sleep.tvalues, sleep.fe_tvalues)
    pd.testing.assert_series_equal(cbpp.tvalues, cbpp.fe_zvalues)
