"""predict(): R parity of predictions and their standard errors, and no silent wrong answers.

References (tests/reference/predict_se.json, written by predict_se.R):

* glmmTMB 1.1.5 ``predict(m, newdata, se.fit = TRUE, re.form = NA | NULL, type = "link" |
  "response", allow.new.levels = TRUE)`` for cbpp (binomial), Salamanders (Poisson, NB2) and
  sleepstudy (ML and REML), and ``sqrt(diag(X vcov(m) X'))`` on the same rows;
* lme4 1.1-31 ``predict(m, newdata, re.form = NA | NULL | ~(1 | g), allow.new.levels = TRUE)``
  for models with two random terms (lmer on Penicillin, glmer on grouseticks).

Measured: every fit and standard error within 2e-6 relative of glmmTMB's (the NB2 fit with
glmmTMB's Laplace, the observed information; with lme4's expected information the estimates
themselves differ by 3%); lme4's predictions within 1e-6 on Penicillin and 1.2e-4 on
grouseticks (where lme4's own optimum is 1e-4 off ours). The tolerances below are 1e-4
(5e-4 for grouseticks).
The silent wrong answers of issue 14 are reproduced first, each in its own test.
"""

from __future__ import annotations

import json
import warnings
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import interlace
from interlace.errors import DataError, FormulaError, InterlaceError, UnsupportedModelError
from interlace.integrators.laplace import LaplaceIntegrator

REF = json.loads((Path(__file__).parent / "reference" / "predict_se.json").read_text())
TMB, LME4 = REF["glmmTMB"], REF["lme4"]
CBPP_F = "cbind(incidence, size - incidence) ~ period + (1 | herd)"


def rel(a, b, floor: float = 0.0) -> float:
    """Largest relative difference of a from b (|b| floored at ``floor``: linear predictors
    near 0 are compared absolutely)."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), floor)))


@cache
def fitted(key: str):
    """The interlace fit of a glmmTMB reference model (NB2 with glmmTMB's Laplace)."""
    R = TMB[key]
    data = interlace.load_dataset(R["data"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if R["family"] == "gaussian":
            return interlace.fit(R["formula"], data, method="REML" if R["reml"] else "ML")
        extra = ({"integrator": LaplaceIntegrator(information="observed")}
                 if R["family"] == "nbinom2" else {})
        return interlace.glmer(R["formula"], data, family=R["family"], **extra)


def cbpp():
    return fitted("cbpp")


# -- R parity ------------------------------------------------------------------------------
@pytest.mark.parametrize("key", ["cbpp", "sal_pois", "sal_nb2", "sleep_ml", "sleep_reml"])
@pytest.mark.parametrize("scale", ["link", "response"])
@pytest.mark.parametrize("part", ["fixed", "full"])
def test_fit_and_se_match_glmmtmb(key, scale, part):
    """glmmTMB's predict(se.fit = TRUE) with re.form = NA ("fixed") and NULL ("full")."""
    R = TMB[key]
    r = fitted(key)
    out = r.predict(pd.DataFrame(R["newdata"]), type=scale, se_fit=True, allow_new_levels=True,
                    re_form="~0" if part == "fixed" else None)
    ref = R[f"{part}_{scale}"]
    assert list(out.columns) == ["fit", "se_fit"]
    assert rel(out["fit"], ref["fit"]) < 1e-4
    if key == "sleep_reml" and part == "fixed":
        # with REML = TRUE glmmTMB treats beta as random and its re.form = NA SE is not the
        # fixed part's: compare with sqrt(diag(X vcov(m) X')) from glmmTMB's own vcov
        assert rel(out["se_fit"], R["se_vcov"]) < 1e-4
        return
    assert rel(out["se_fit"], ref["se"]) < 1e-4


@pytest.mark.parametrize("key", ["cbpp", "sal_pois", "sleep_ml", "sleep_reml"])
def test_fixed_part_se_is_x_vcov_x(key):
    """sqrt(diag(X V X')) with glmmTMB's vcov, on glmmTMB's rows: the same as ours with ours."""
    R = TMB[key]
    r = fitted(key)
    out = r.predict(pd.DataFrame(R["newdata"]), type="link", se_fit=True, re_form="~0")
    assert rel(out["se_fit"], R["se_vcov"]) < 1e-4
    assert rel(r.vcov.to_numpy(), R["vcov"]) < 1e-4


@pytest.mark.parametrize("key", ["penicillin", "grouse"])
def test_partial_re_form_matches_lme4(key):
    """lme4's predict(re.form = NA / NULL / one of two terms, allow.new.levels = TRUE)."""
    R = LME4[key]
    data = interlace.load_dataset(R["data"])
    if key == "penicillin":
        r = interlace.fit(R["formula"], data, method="REML")
        forms = {"na": "~0", "full": None, "plate": "~ (1 | plate)", "sample": "~(1|sample)"}
    else:
        r = interlace.glmer(R["formula"], data, family=R["family"])
        forms = {"na": np.nan, "full": None, "brood": "~ (1 | BROOD)",
                 "location": "~ (1 | LOCATION)"}
    # grouseticks: lme4's glmer stops 3e-6 log-likelihood units short of our optimum, its
    # estimates differ by up to 1e-4 relative, and so do its predictions (1.2e-4 measured)
    tol = 1e-4 if key == "penicillin" else 5e-4
    nd = pd.DataFrame(R["newdata"])
    for name, form in forms.items():
        for scale in ("link", "response"):
            ref = R["pred"].get(f"{name}_{scale}")
            if ref is None:
                continue
            got = r.predict(nd, type=scale, re_form=form, allow_new_levels=True)
            assert rel(got, ref, floor=1e-1) < tol, (name, scale)


# -- the silent wrong answers of issue 14, reproduced ------------------------------------
@cache
def cbpp_as_text():
    """cbpp with period and herd as plain text (load_dataset declares them categoricals)."""
    d = interlace.load_dataset("cbpp")
    d = d.assign(period=d["period"].astype(str), herd=d["herd"].astype(str))
    with pytest.warns(interlace.InterlaceWarning, match="'period'.*reads as a number"):
        return interlace.glmer(CBPP_F, d, family="binomial")


@pytest.mark.parametrize("fit", [cbpp_as_text, cbpp], ids=["text", "categorical"])
def test_integer_period_is_the_fitted_text_levels(fit):
    """cbpp fitted with period as text "1".."4": integers 1..4 gave 0.011 / 0.0003 / 0 / 0
    (a numeric slope) instead of 0.308 / 0.142 / 0.126 / 0.084 (glmmTMB, herd 1)."""
    r = fit()
    assert r.design.column_types["period"].kind == ("text" if fit is cbpp_as_text else "category")
    ref = TMB["cbpp"]["full_response"]["fit"][:4]
    for period in ([1, 2, 3, 4], [1.0, 2.0, 3.0, 4.0], ["1", "2", "3", "4"],
                   pd.Categorical(["1", "2", "3", "4"]), pd.Categorical([4, 3, 2, 1])[::-1]):
        nd = pd.DataFrame({"period": period, "herd": ["1"] * 4})
        assert rel(r.predict(nd), ref) < 1e-4
    np.testing.assert_allclose(r.predict(pd.DataFrame({"period": [1, 2, 3, 4],
                                                       "herd": ["1"] * 4})),
                               [0.308, 0.142, 0.126, 0.084], atol=5e-4)


@pytest.mark.parametrize("fit", [cbpp_as_text, cbpp], ids=["text", "categorical"])
def test_integer_herd_is_the_fitted_groups(fit):
    """herd given as integers made every row a new group (b = 0)."""
    r = fit()
    as_text = pd.DataFrame({"period": ["1", "2", "3", "1"], "herd": ["1", "5", "15", "8"]})
    as_int = as_text.assign(herd=[1, 5, 15, 8])
    np.testing.assert_array_equal(r.predict(as_int), r.predict(as_text))
    np.testing.assert_array_equal(r.predict(as_int.assign(herd=[1.0, 5.0, 15.0, 8.0])),
                                  r.predict(as_text))
    assert not np.allclose(r.predict(as_text), r.predict(as_text, include_re=False))


@pytest.mark.parametrize("fit", [cbpp_as_text, cbpp], ids=["text", "categorical"])
@pytest.mark.parametrize("bad", ["9", 9, "one"])
def test_unseen_fixed_effect_level_is_an_error(bad, fit):
    """An unseen period returned the reference level's prediction."""
    nd = pd.DataFrame({"period": ["1", bad], "herd": ["1", "1"]}, index=[10, 11])
    with pytest.raises(DataError, match=rf"'period'.*{bad!r}.*row 11.*not among the levels "
                                        r"seen when fitting \('1', '2', '3', '4'\)"):
        fit().predict(nd)


@pytest.mark.parametrize("fit", [cbpp_as_text, cbpp], ids=["text", "categorical"])
@pytest.mark.parametrize("missing", [np.nan, None, pd.NA])
def test_missing_predictor_is_an_error(missing, fit):
    """A missing period returned the reference level's prediction."""
    nd = pd.DataFrame({"period": ["2", missing], "herd": ["1", "1"]}, dtype=object)
    with pytest.raises(DataError, match=r"'period'.*missing value \(row 1\)"):
        fit().predict(nd, include_re=False)


def test_numeric_predictor_as_text_and_bad_values():
    """A numeric predictor: text holding numbers is read as numbers; other text, a missing
    value or an unseen column name raise naming the column and value."""
    r = fitted("sleep_ml")
    nd = pd.DataFrame({"Days": [0, 5], "Subject": ["308", "309"]})
    np.testing.assert_array_equal(r.predict(nd.assign(Days=["0", "5"])), r.predict(nd))
    with pytest.raises(DataError, match=r"'Days'.*'five'.*row 1.*not a number"):
        r.predict(nd.assign(Days=["0", "five"]))
    with pytest.raises(DataError, match=r"'Days'.*missing value \(row 0\)"):
        r.predict(nd.assign(Days=[np.nan, 5.0]))
    with pytest.raises(DataError, match=r"newdata lacks column 'Days'"):
        r.predict(nd.drop(columns="Days"))
    with pytest.raises(DataError, match="must be a pandas DataFrame"):
        r.predict({"Days": [1], "Subject": ["308"]})


def test_unseen_group_needs_allow_new_levels():
    """A group not seen when fitting got b = 0 silently; now it is named, unless allowed."""
    r = cbpp()
    nd = pd.DataFrame({"period": ["1", "2"], "herd": ["1", "99"]}, index=["a", "b"])
    with pytest.raises(DataError, match=r"'herd' of \(1 \| herd\) has level '99' not seen "
                                        r"when fitting \(row 'b'\).*allow_new_levels=True"):
        r.predict(nd)
    got = r.predict(nd, type="link", allow_new_levels=True)
    pop = r.predict(nd, type="link", include_re=False)
    assert got[1] == pop[1] and got[0] != pop[0]
    with pytest.raises(DataError, match=r"'herd'.*a missing value \(row 'b'\)"):
        r.predict(nd.assign(herd=["1", None]))
    # the term left out: the grouping column is not needed at all
    np.testing.assert_array_equal(r.predict(nd.drop(columns="herd"), type="link",
                                            re_form="~0"), pop)


def test_numeric_factor_in_c_call_rejects_unseen_values():
    """C(x) of a numeric column: formulaic codes an unseen value as the reference level."""
    d = interlace.load_dataset("cbpp")
    d = d.assign(p=d["period"].astype(int))
    r = interlace.glmer("cbind(incidence, size - incidence) ~ C(p) + (1 | herd)", d,
                        family="binomial")
    nd = pd.DataFrame({"p": [1, 4], "herd": ["1", "1"]})
    np.testing.assert_allclose(r.predict(nd), cbpp().predict(nd.assign(period=nd["p"])),
                               rtol=1e-6)
    np.testing.assert_allclose(r.predict(nd.assign(p=["1", "4"])), r.predict(nd), rtol=1e-12)
    with pytest.raises(DataError, match=r"'p'.*value 9.*not among the levels"):
        r.predict(nd.assign(p=[1, 9]))


def test_factor_in_a_random_term_keeps_its_fitted_columns():
    """A text column in a random term's expression: new data holding only its first level
    gave Z one column instead of two, and both modes were added to every row."""
    s = interlace.load_dataset("sleepstudy")
    s = s.assign(half=np.where(s["Days"] >= 5, "late", "early"))
    r = interlace.fit("Reaction ~ Days + (half | Subject)", s)
    for part in ("early", "late"):
        rows = s[s["half"] == part].head(6)
        np.testing.assert_allclose(r.predict(rows), r.fittedvalues.to_numpy()[rows.index],
                                   rtol=1e-10)


def test_re_form_errors_name_the_problem():
    r = cbpp()
    nd = pd.DataFrame({"period": ["1"], "herd": ["1"]})
    with pytest.raises(FormulaError, match=r"\(1 \| plate\).*model's terms are \(1 \| herd\)"):
        r.predict(nd, re_form="~ (1 | plate)")
    with pytest.raises(InterlaceError, match="include_re=False contradicts re_form"):
        r.predict(nd, include_re=False, re_form="~ (1 | herd)")
    with pytest.raises(InterlaceError, match="re_form must be"):
        r.predict(nd, re_form=3)
    with pytest.raises(InterlaceError, match="interval must be None or 'confidence'"):
        r.predict(nd, interval="prediction")
    with pytest.raises(InterlaceError, match="level must be a number between 0 and 1"):
        r.predict(nd, se_fit=True, level=95)


# -- behaviour kept ------------------------------------------------------------------------
def test_default_predictions_are_the_fitted_values_exactly():
    for r in (cbpp(), fitted("sleep_reml")):
        np.testing.assert_array_equal(r.predict(), r.fittedvalues.to_numpy())
        d = r.design
        np.testing.assert_array_equal(r.predict(type="link", include_re=False),
                                      d.offset + d.X @ r.fe_params.to_numpy())
        for na in ("~0", "0", np.nan, pd.NA):
            np.testing.assert_array_equal(r.predict(re_form=na),
                                          r.predict(include_re=False))


def test_re_form_naming_every_term_is_the_full_prediction():
    r = interlace.glmer(LME4["grouse"]["formula"], interlace.load_dataset("grouseticks"),
                        family="poisson")
    both = r.predict(re_form="~ (1 | LOCATION) + (1 | BROOD)")
    np.testing.assert_allclose(both, r.predict(), rtol=1e-12)
    one = r.predict(type="link", re_form="~ (1 | BROOD)")
    b = r.random_effects["BROOD"]["(Intercept)"]
    brood = interlace.load_dataset("grouseticks")["BROOD"]
    np.testing.assert_allclose(one, r.predict(type="link", include_re=False)
                               + b.loc[brood].to_numpy(), rtol=1e-12)


def test_se_frame_interval_and_index():
    r = cbpp()
    nd = pd.DataFrame({"period": ["1", "4"], "herd": ["1", "2"]}, index=[7, 3])
    out = r.predict(nd, interval="confidence", level=0.9)
    assert list(out.columns) == ["fit", "se_fit", "lower", "upper"]
    assert list(out.index) == [7, 3]
    eta = r.predict(nd, type="link", se_fit=True)
    z = 1.6448536269514722
    np.testing.assert_allclose(out["lower"], r.link.inverse(eta["fit"] - z * eta["se_fit"]))
    np.testing.assert_allclose(out["upper"], r.link.inverse(eta["fit"] + z * eta["se_fit"]))
    mu_eta = r.link.mu_eta(eta["fit"].to_numpy())
    np.testing.assert_allclose(out["se_fit"], mu_eta * eta["se_fit"], rtol=1e-12)
    assert np.all((out["lower"] > 0) & (out["upper"] < 1))
    fitted_rows = r.predict(se_fit=True)
    assert len(fitted_rows) == r.nobs and np.all(fitted_rows["se_fit"] > 0)


def test_se_of_zero_part_families():
    """Zero-inflated Poisson: link and conditional (mu) have standard errors; E[y] and the
    zero probability need the zero part's uncertainty and say so."""
    d = interlace.load_dataset("Salamanders")
    r = interlace.glmer("count ~ mined + (1 | site)", d, family="zipoisson")
    nd = d.head(3)
    link = r.predict(nd, type="link", se_fit=True)
    cond = r.predict(nd, type="conditional", se_fit=True)
    np.testing.assert_allclose(cond["se_fit"], np.exp(link["fit"]) * link["se_fit"])
    with pytest.raises(UnsupportedModelError, match="zero part"):
        r.predict(nd, se_fit=True)
    with pytest.raises(UnsupportedModelError, match="type='zprob'"):
        r.predict(nd, type="zprob", se_fit=True)


def test_offset_argument_applies_to_newdata_only():
    r = cbpp()
    nd = pd.DataFrame({"period": ["1"], "herd": ["1"]})
    np.testing.assert_allclose(r.predict(nd, type="link", offset=0.5),
                               r.predict(nd, type="link") + 0.5)
    with pytest.raises(InterlaceError, match="offset= adds to newdata"):
        r.predict(offset=0.5)
    with pytest.raises(DataError, match="offset must be a number or one number per row"):
        r.predict(nd, offset=[1.0, 2.0])


def test_earlier_helpers_keep_their_meaning():
    """fixed_eta / random_eta / new_data_eta (unseen groups get b = 0 there), now on
    converted columns."""
    from interlace.results.prediction import fixed_eta, new_data_eta, random_eta
    r = cbpp()
    d = r.design
    nd = pd.DataFrame({"period": [1, 4], "herd": [1, 99]})
    beta = r.fe_params.to_numpy()
    fe = fixed_eta(d, beta, nd)
    np.testing.assert_allclose(fe, r.predict(nd, type="link", include_re=False))
    full = new_data_eta(d, beta, r.random_effects, nd)
    np.testing.assert_allclose(full, r.predict(nd, type="link", allow_new_levels=True))
    np.testing.assert_allclose(random_eta(d, r.random_effects, nd, fe), full)
