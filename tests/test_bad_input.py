"""Bad input gets a clear, typed error naming the column, term or value (never a bare numpy,
scipy, pandas or formulaic traceback); recoverable problems are fixed with a warning, as R does.

Documented behaviour checked here:
* missing values (NaN/None/NA) in a used column, in weights or offset, or produced by a
  transform (log of a negative number) -> the rows are dropped with an InterlaceWarning that
  says how many (R's na.omit);
* infinite values, in the data or produced by a transform (log(0)) -> DataError;
* a rank-deficient fixed-effects matrix -> the later collinear columns are dropped with an
  InterlaceWarning (lme4's default), and the fit goes on.
"""

from __future__ import annotations

import re
import warnings

import numpy as np
import pandas as pd
import pytest

import interlace
from interlace import DataError, FormulaError, InterlaceError, InterlaceWarning, PluginError


@pytest.fixture(scope="module")
def cbpp():
    return interlace.load_dataset("cbpp")


@pytest.fixture(scope="module")
def counts():
    """The first 320 rows of seed_counts: 10 sites, 8 years."""
    return interlace.load_dataset("seed_counts").iloc[:320].reset_index(drop=True)


def fit(formula, data, family="poisson", **kw):
    return interlace.glmer(formula, data, family=family, **kw)


def raises(exc_type, *fragments):
    """pytest.raises for ``exc_type`` whose message contains every fragment (literally)."""
    return pytest.raises(exc_type, match="(?s)" + "".join(f"(?=.*{re.escape(f)})"
                                                         for f in fragments))


def test_error_types_are_value_errors():
    for cls in (DataError, FormulaError, PluginError, interlace.UnsupportedModelError):
        assert issubclass(cls, InterlaceError) and issubclass(cls, ValueError)


# -- missing columns -----------------------------------------------------------------------
def test_missing_fixed_column(counts):
    with raises(DataError, "'x9'", "fixed-effects", "Available columns", "x1"):
        fit("count ~ x1 + x9 + (1 | site)", counts)


def test_missing_response_column(counts):
    with raises(DataError, "'cnt'", "response"):
        fit("cnt ~ x1 + (1 | site)", counts)


def test_missing_groups_column(counts):
    with raises(DataError, "'nosite'", "grouping factor"):
        fit("count ~ x1", counts, groups="nosite")
    with raises(DataError, "'nosite'", "grouping factor"):
        fit("count ~ x1 + (1 | nosite)", counts)
    with raises(DataError, "'yr'", "site:yr"):
        fit("count ~ x1 + (1 | site/yr)", counts)


def test_missing_random_slope_column(counts):
    with raises(DataError, "'z'", "random-effect term", "(1 + z | site)"):
        fit("count ~ x1 + (1 + z | site)", counts)


def test_missing_offset_and_weights_columns(counts):
    with raises(DataError, "offset='nosuch'", "not a column"):
        fit("count ~ x1 + (1 | site)", counts, offset="nosuch")
    with raises(DataError, "'exposure'", "offset"):
        fit("count ~ x1 + offset(log(exposure)) + (1 | site)", counts)
    with raises(DataError, "weights='w'", "not a column"):
        fit("count ~ x1 + (1 | site)", counts, weights="w")


def test_unknown_function_is_named(counts):
    with raises(DataError, "'nosuchfn'", "neither a column", "nor a function"):
        fit("count ~ nosuchfn(x1) + (1 | site)", counts)


def test_duplicate_and_multiindex_columns(counts):
    dup = pd.concat([counts, counts[["x1"]]], axis=1)
    with raises(DataError, "'x1'", "appears 2 times"):
        fit("count ~ x1 + (1 | site)", dup)
    multi = counts.copy()
    multi.columns = pd.MultiIndex.from_tuples([(c, "a") for c in counts.columns])
    with raises(DataError, "MultiIndex"):
        fit("count ~ x1 + (1 | site)", multi)


# -- missing and infinite values -----------------------------------------------------------
def test_nan_rows_dropped_with_warning(counts):
    d = counts.copy()
    d.loc[[0, 5, 17], "x1"] = np.nan
    d["site"] = d["site"].astype(object)
    d.loc[40, "site"] = None
    with pytest.warns(InterlaceWarning, match=r"dropped 4 of 320 rows with missing values") as rec:
        r = fit("count ~ x1 + (1 | site)", d)
    msg = next(str(w.message) for w in rec if "dropped" in str(w.message))
    assert "x1" in msg and "site" in msg
    assert r.nobs == 316 and r.nobs_dropped == 4
    ref = fit("count ~ x1 + (1 | site)", counts.drop(index=[0, 5, 17, 40]))
    assert abs(r.llf - ref.llf) < 1e-8


def test_nan_in_unused_column_is_ignored(counts):
    d = counts.assign(unused=np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("error", InterlaceWarning)
        r = fit("count ~ x1 + (1 | site)", d)
    assert r.nobs == 320


def test_nan_weights_and_offset_dropped(counts):
    w = np.ones(len(counts))
    w[3] = np.nan
    with pytest.warns(InterlaceWarning, match=r"dropped 1 of 320 rows .*weights"):
        r = fit("count ~ x1 + (1 | site)", counts, weights=w)
    assert r.nobs == 319


def test_nullable_na_dropped(counts):
    d = counts.assign(count=counts["count"].astype("Int64"))
    d.loc[7, "count"] = pd.NA
    with pytest.warns(InterlaceWarning, match="dropped 1 of 320"):
        r = fit("count ~ x1 + (1 | site)", d)
    assert r.nobs == 319


def test_transform_nan_rows_dropped(counts):
    d = counts.assign(z=np.linspace(-0.5, 3.0, len(counts)))  # log(z) is NaN for z < 0
    nneg = int((d["z"] < 0).sum())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # numpy's "invalid value in log"
        with pytest.warns(InterlaceWarning, match=f"dropped {nneg} of 320 rows where a transform"):
            r = fit("count ~ log(z) + (1 | site)", d)
    assert r.nobs == 320 - nneg


def test_inf_in_column(counts):
    d = counts.copy()
    d.loc[3, "x1"] = np.inf
    with raises(DataError, "column 'x1'", "infinite", "row 3"):
        fit("count ~ x1 + (1 | site)", d)
    d = counts.assign(z=counts["x1"])
    d.loc[9, "z"] = -np.inf
    with raises(DataError, "column 'z'", "infinite", "row 9", "(1 + z | site)"):
        fit("count ~ x1 + (1 + z | site)", d)


def test_inf_in_response_and_trials(cbpp):
    d = cbpp.assign(size=cbpp["size"].astype(float))
    d.loc[2, "size"] = np.inf
    with raises(DataError, "column 'size'", "infinite", "row 2"):
        fit("incidence / size ~ period + (1 | herd)", d, "binomial")


def test_inf_from_transform(counts):
    d = counts.assign(z=np.r_[0.0, np.ones(len(counts) - 1)])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        with raises(DataError, "log(z)", "infinite", "row 0"):
            fit("count ~ log(z) + (1 | site)", d)
        with raises(DataError, "offset(log(z))", "infinite", "row 0"):
            fit("count ~ x1 + offset(log(z)) + (1 | site)", d)


def test_inf_in_offset_and_weights(counts):
    off = np.zeros(len(counts))
    off[5] = np.inf
    with raises(DataError, "offset", "infinite", "row 5"):
        fit("count ~ x1 + (1 | site)", counts, offset=off)


def test_error_names_index_label(counts):
    d = counts.set_index(counts.index + 1000)
    d.loc[1003, "x1"] = np.inf
    with raises(DataError, "row 1003"):
        fit("count ~ x1 + (1 | site)", d)


def test_no_rows(counts):
    with raises(DataError, "no rows"):
        fit("count ~ x1 + (1 | site)", counts.iloc[:0])
    with raises(DataError, "no rows left", "x1"):
        fit("count ~ x1 + (1 | site)", counts.assign(x1=np.nan))


# -- responses the family cannot produce ---------------------------------------------------
def test_poisson_negative_count(counts):
    d = counts.copy()
    d.loc[4, "count"] = -2
    with raises(DataError, "poisson", "'count'", "non-negative integer", "-2"):
        fit("count ~ x1 + (1 | site)", d)


def test_poisson_non_integer_count(counts):
    d = counts.assign(count=counts["count"].astype(float))
    d.loc[6, "count"] = 2.5
    with raises(DataError, "poisson", "'count'", "integer", "2.5"):
        fit("count ~ x1 + (1 | site)", d)


def test_negative_count_nbinom2_names_family(counts):
    d = counts.copy()
    d.loc[4, "count"] = -1
    with raises(DataError, "nbinom2 response 'count'"):
        fit("count ~ x1 + (1 | site)", d, interlace.NegativeBinomial2Family(theta=2.0))


def test_binomial_proportion_outside_unit_interval(cbpp):
    d = cbpp.assign(p=cbpp["incidence"] / cbpp["size"])
    d.loc[2, "p"] = 1.5
    with raises(DataError, "binomial", "'p'", "[0, 1]", "1.5"):
        fit("p ~ period + (1 | herd)", d, "binomial", weights=d["size"])
    d.loc[2, "p"] = -0.25
    with raises(DataError, "binomial", "'p'", "-0.25"):
        fit("p ~ period + (1 | herd)", d, "binomial")


def test_binomial_count_response_is_not_a_proportion(counts):
    with raises(DataError, "binomial", "'count'", "[0, 1]"):
        fit("count ~ x1 + (1 | site)", counts, "binomial")


def test_binomial_successes_exceed_trials(cbpp):
    d = cbpp.copy()
    d.loc[2, "incidence"] = 99
    with raises(DataError, "successes 'incidence'", "trials 'size'", "row 2", "99 > 9"):
        fit("incidence / size ~ period + (1 | herd)", d, "binomial")


def test_binomial_ratio_bad_trials_and_successes(cbpp):
    d = cbpp.copy()
    d.loc[1, "size"] = 0
    with raises(DataError, "trials 'size'", "positive", "row 1"):
        fit("incidence / size ~ period + (1 | herd)", d, "binomial")
    d = cbpp.copy()
    d.loc[1, "incidence"] = -1
    with raises(DataError, "successes 'incidence'", "non-negative", "row 1", "-1"):
        fit("incidence / size ~ period + (1 | herd)", d, "binomial")
    with raises(DataError, "trials", "'size'", "numeric"):
        fit("incidence / size ~ period + (1 | herd)", cbpp.assign(size=cbpp["size"].astype(str)),
            "binomial")


def test_binomial_cbind_bad_counts(cbpp):
    d = cbpp.assign(fail=cbpp["size"] - cbpp["incidence"])
    d.loc[3, "fail"] = -4
    with raises(DataError, "cbind(incidence, fail)", "failures 'fail'", "row 3", "-4"):
        fit("cbind(incidence, fail) ~ period + (1 | herd)", d, "binomial")
    d = cbpp.assign(fail=cbpp["size"] - cbpp["incidence"])
    d.loc[3, "incidence"] = -1
    with raises(DataError, "successes 'incidence'", "row 3"):
        fit("cbind(incidence, fail) ~ period + (1 | herd)", d, "binomial")
    d = cbpp.assign(fail=0, incidence=cbpp["incidence"] * 0)
    with raises(DataError, "zero trials", "row 0"):
        fit("cbind(incidence, fail) ~ period + (1 | herd)", d, "binomial")
    with raises(FormulaError, "cbind", "two columns"):
        fit("cbind(incidence, size, size) ~ period + (1 | herd)", cbpp, "binomial")


def test_binomial_non_integer_successes_warns(cbpp):
    d = cbpp.assign(fail=cbpp["size"] - cbpp["incidence"],
                    incidence=cbpp["incidence"].astype(float))
    d.loc[2, "incidence"] = 1.5
    with pytest.warns(InterlaceWarning, match="non-integer number of successes"):
        r = fit("cbind(incidence, fail) ~ period + (1 | herd)", d, "binomial")
    assert np.isfinite(r.llf)


def test_ratio_response_for_poisson_is_explained(cbpp):
    with raises(DataError, "poisson", "proportion of trials"):
        fit("incidence / size ~ period + (1 | herd)", cbpp, "poisson")


def test_text_response_three_levels(cbpp):
    d = cbpp.assign(resp=np.array(["a", "b", "c"])[np.arange(len(cbpp)) % 3])
    with raises(DataError, "'resp'", "3 level", "'a', 'b', 'c'", "exactly two"):
        fit("resp ~ period + (1 | herd)", d, "binomial")
    d = d.assign(resp=pd.Categorical(d["resp"]))
    with raises(DataError, "'resp'", "3 level"):
        fit("resp ~ period + (1 | herd)", d, "binomial")


def test_text_response_one_level(cbpp):
    with raises(DataError, "'resp'", "1 level"):
        fit("resp ~ period + (1 | herd)", cbpp.assign(resp="yes"), "binomial")


def test_text_response_non_binomial(counts):
    with raises(DataError, "'site'", "not numeric", "poisson"):
        fit("site ~ x1 + (1 | year)", counts)


def test_two_level_text_response_works(cbpp):
    d = cbpp.assign(resp=np.where(cbpp["incidence"] > 0, "sick", "healthy"))
    r = fit("resp ~ period + (1 | herd)", d, "binomial")
    ref = fit("y ~ period + (1 | herd)", d.assign(y=(d["resp"] == "sick").astype(float)),
              "binomial")
    assert abs(r.llf - ref.llf) < 1e-8


# -- weights -------------------------------------------------------------------------------
@pytest.mark.parametrize("value", [0.0, -2.0])
def test_non_positive_weights(counts, value):
    w = np.ones(len(counts))
    w[4] = value
    with raises(DataError, "weights must be positive", "row 4", f"{value:g}"):
        fit("count ~ x1 + (1 | site)", counts, weights=w)


def test_wrong_length_weights(counts):
    with raises(DataError, "weights has length 5", "320 rows"):
        fit("count ~ x1 + (1 | site)", counts, weights=np.ones(5))
    with raises(DataError, "offset has length 319", "320 rows"):
        fit("count ~ x1 + (1 | site)", counts, offset=np.zeros(319))
    with raises(DataError, "weights", "one number per row"):
        fit("count ~ x1 + (1 | site)", counts, weights=2.0)
    with raises(DataError, "weights", "one-dimensional", "(320, 2)"):
        fit("count ~ x1 + (1 | site)", counts, weights=np.ones((320, 2)))


def test_non_numeric_weights(counts):
    with raises(DataError, "weights", "numeric"):
        fit("count ~ x1 + (1 | site)", counts, weights=["a"] * len(counts))
    with raises(DataError, "weights column 'site'", "numeric"):
        fit("count ~ x1 + (1 | site)", counts, weights="site")
    with raises(DataError, "offset column 'site'", "numeric"):
        fit("count ~ x1 + (1 | site)", counts, offset="site")
    with raises(DataError, "weights", "dict"):
        fit("count ~ x1 + (1 | site)", counts, weights={"a": 1})


def test_ratio_response_conflicting_weights(cbpp):
    with raises(DataError, "already gives the trials", "'size'"):
        fit("incidence / size ~ period + (1 | herd)", cbpp, "binomial",
            weights=np.ones(len(cbpp)))


# -- grouping factors ----------------------------------------------------------------------
def test_grouping_factor_with_one_level(counts):
    with raises(DataError, "grouping factor 'one'", "1 level", "at least 2"):
        fit("count ~ x1 + (1 | one)", counts.assign(one="a"))
    with raises(DataError, "grouping factor 'one'"):
        fit("count ~ x1", counts.assign(one="a"), groups=["site", "one"])


def test_grouping_factor_one_level_after_dropping(counts):
    d = counts.assign(g=np.where(np.arange(len(counts)) < 300, "a", "b"),
                      x1=np.where(np.arange(len(counts)) < 300, counts["x1"], np.nan))
    with pytest.warns(InterlaceWarning, match="dropped 20"), raises(DataError, "'g'", "1 level"):
        fit("count ~ x1 + (1 | g)", d)


def test_more_random_effects_than_observations(counts):
    d = counts.assign(obs=np.arange(len(counts)))
    with raises(DataError, "number of observations (320)", "640", "(1 + x1 | obs)"):
        fit("count ~ x1 + (1 + x1 | obs)", d)


def test_observation_level_random_effect_allowed(counts):
    r = fit("count ~ x1 + (1 | obs)", counts.assign(obs=np.arange(len(counts))))
    assert np.isfinite(r.llf)


def test_datetime_column_as_covariate(counts):
    d = counts.assign(day=pd.Timestamp("2020-01-01") + pd.to_timedelta(np.arange(320), "D"))
    with raises(DataError, "column 'day'", "datetime64"):
        fit("count ~ day + (1 | site)", d)


# -- rank-deficient fixed effects ----------------------------------------------------------
def test_rank_deficient_column_dropped(counts):
    d = counts.assign(x1b=2.0 * counts["x1"])
    with pytest.warns(InterlaceWarning, match=r"rank deficient so dropping 1 column\(s\): x1b"):
        r = fit("count ~ x1 + x1b + x2 + (1 | site)", d)
    assert list(r.fe_params.index) == ["(Intercept)", "x1", "x2"]
    assert r.dropped_columns == ["x1b"]
    ref = fit("count ~ x1 + x2 + (1 | site)", counts)
    assert abs(r.llf - ref.llf) < 1e-8
    np.testing.assert_allclose(r.fe_params.to_numpy(), ref.fe_params.to_numpy(), atol=1e-8)
    assert r.predict(d).shape == (len(d),)


def test_rank_deficient_constant_and_zero_columns(counts):
    d = counts.assign(one=1.0, zero=0.0)
    with pytest.warns(InterlaceWarning, match="dropping 2 column"):
        r = fit("count ~ x1 + one + zero + (1 | site)", d)
    assert list(r.fe_params.index) == ["(Intercept)", "x1"]


def test_rank_deficient_factor_combination(cbpp):
    d = cbpp.assign(period2=cbpp["period"])
    with pytest.warns(InterlaceWarning, match="rank deficient"):
        r = fit("incidence / size ~ period + period2 + (1 | herd)", d, "binomial")
    assert list(r.fe_params.index)[:4] == ["(Intercept)", "period[T.2]", "period[T.3]",
                                           "period[T.4]"]
    assert len(r.fe_params) == 4


def test_no_fixed_effects(counts):
    with raises(interlace.UnsupportedModelError, "fixed-effects", "no usable column"):
        fit("count ~ 0 + (1 | site)", counts)


# -- malformed formulas --------------------------------------------------------------------
@pytest.mark.parametrize("formula, fragments", [
    ("count ~ x1 + (1 | )", ["(1 | )", "no grouping factor"]),
    ("count ~ x1 + (1 || )", ["(1 || )", "no grouping factor"]),
    ("count ~ x1 + ( | site)", ["( | site)", "nothing left of '|'"]),
    ("count ~ x1 + (x1 | site | year)", ["(x1 | site | year)", "malformed random-effect term"]),
    ("count ~ x1 + (1 | site", ["unbalanced '('"]),
    ("count ~ x1 + 1 | site)", ["unbalanced ')'"]),
    ("count ~ x1 + ((1 | site)", ["unbalanced '('"]),
    ("count ~ x1 + 1 | site", ["'1 | site'", "must be in parentheses", "'(1 | site)'"]),
    ("count ~ x1 + (1 | site) * x2", ["(1 | site) * x2", "must stand alone"]),
    ("count ~ x1 - (1 | site)", ["(1 | site)", "cannot be removed"]),
    ("count ~ x1 + (1 | site + year)", ["'site + year'", "must be a column name"]),
    ("count ~ x1 + (1 | log(site))", ["'log(site)'", "must be a column name"]),
    ("count ~ x1 + (1 | site/)", ["(1 | site/)", "must be a column name"]),
    ("count ~ x1 + ()", ["empty parentheses"]),
    ("count ~ x1 + + (1 | site)", ["stray '+'"]),
    ("count ~ x1 + (1 | site) +", ["stray '+'"]),
    ("count ~ ", ["no terms right of '~'"]),
    ("~ x1 + (1 | site)", ["no response"]),
    ("count ~ x1 ~ (1 | site)", ["exactly one '~'"]),
    ("count", ["exactly one '~'"]),
    ("count ~ x1 + offset() + (1 | site)", ["offset()", "empty"]),
    ("count ~ x1 +* x2 + (1 | site)", ["fixed-effects", "x1 + * x2"]),
    ("count ~ x1 + (x1 + | site)", ["random-effect term", "x1 +"]),
    ("count ~ x1 + (0 | site)", ["(0 | site)", "no columns"]),
])
def test_malformed_formula(counts, formula, fragments):
    with raises(FormulaError, *fragments) as ei:
        fit(formula, counts)
    assert "\x1b[" not in str(ei.value)  # no terminal colour codes from formulaic


def test_no_random_terms(counts):
    with raises(FormulaError, "no random-effect terms", "(1 | group)", "groups="):
        fit("count ~ x1 + x2", counts)


def test_formula_not_a_string(counts):
    with raises(FormulaError, "formula must be a string"):
        fit(3, counts)


@pytest.mark.parametrize("kw, fragments", [
    ({"groups": 3}, ["groups=", "int"]),
    ({"groups": []}, ["groups= is empty"]),
    ({"groups": [1]}, ["groups= entries", "1"]),
    ({"random": 1}, ["random=", "int"]),
    ({"random": [2]}, ["random= entries"]),
    ({"random": "x1"}, ["malformed random-effect term 'x1'"]),
    ({"random": "1 |"}, ["'1 |'", "no grouping factor"]),
])
def test_bad_groups_and_random(counts, kw, fragments):
    with raises(FormulaError, *fragments):
        fit("count ~ x1", counts, **kw)


def test_valid_spellings_still_parse(counts):
    """What the stricter parser must keep accepting (and agree on)."""
    ref = fit("count ~ x1 + (1 | site)", counts)
    for f in ["count ~ x1 + ((1 | site))", "count ~ (x1) + (1|site)", "count~x1+(1|site)",
              "count ~ x1 + x2 - x2 + (1 | site)"]:
        assert abs(fit(f, counts).llf - ref.llf) < 1e-8, f
    no_int = fit("count ~ x1 + (1 | site) - 1", counts)
    assert list(no_int.fe_params.index) == ["x1"]
    no_int2 = fit("count ~ -1 + x1 + (1 | site)", counts)
    assert abs(no_int.llf - no_int2.llf) < 1e-8
    d = counts.rename(columns={"x1": "x 1"})
    assert abs(fit("count ~ `x 1` + (1 | site)", d).llf - ref.llf) < 1e-8


# -- data that is not a data frame ---------------------------------------------------------
@pytest.mark.parametrize("data", [None, np.zeros((5, 3)), {"count": [1, 2], "x1": [0.1, 0.2]},
                                  [[1, 2]], "counts.csv"])
def test_data_not_a_dataframe(data):
    with raises(DataError, "data must be a pandas DataFrame", type(data).__name__):
        fit("count ~ x1 + (1 | site)", data)


# -- non-plugin objects and extreme scales (gaps the validation layer found, fixed in core) --
def test_optimizer_that_is_not_an_optimizer(counts):
    with raises(PluginError, "optimizer", "bobyqa", "lbfgsb", "got 3"):
        fit("count ~ x1 + (1 | site)", counts, optimizer=3)
    with raises(PluginError, "optimizer"):
        fit("count ~ x1 + (1 | site)", counts, optimizer=int)


def test_covariate_on_a_large_scale(counts):
    ref = fit("count ~ x1 + (1 | site)", counts)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InterlaceWarning)
        r = fit("count ~ big + (1 | site)", counts.assign(big=counts["x1"] * 1e6))
    assert abs(r.llf - ref.llf) < 1e-6
    assert r.fe_params["big"] * 1e6 == pytest.approx(ref.fe_params["x1"], rel=1e-5)
