"""A predictor held as text whose every value reads as a number is fitted as a factor (as R
fits text) with a warning naming the column; declared factors (categoricals, the shipped data
sets, a config's ``factors:``) fit without one, and give the same fit as text labels."""

import warnings

import numpy as np
import pandas as pd
import pytest

import interlace
from interlace.config.data import declare_factors
from interlace.errors import InterlaceWarning

CBPP = "incidence / size ~ period + (1 | herd)"


def _fit_warnings(formula, data, **kw):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit = interlace.glmer(formula, data, family="binomial", **kw)
    return fit, [str(w.message) for w in caught if issubclass(w.category, InterlaceWarning)]


def test_text_numbers_warn_and_name_the_column():
    cbpp = interlace.load_dataset("cbpp")
    text = cbpp.assign(period=cbpp["period"].astype(str), herd=cbpp["herd"].astype(str))
    fit, msgs = _fit_warnings(CBPP, text)
    assert len(msgs) == 1 and "'period'" in msgs[0] and "pd.to_numeric" in msgs[0]
    assert "4 levels" in msgs[0]
    declared, none = _fit_warnings(CBPP, cbpp)  # categorical: declared a factor, no warning
    assert none == []
    np.testing.assert_allclose(fit.fe_params, declared.fe_params, rtol=1e-10)
    assert fit.llf == pytest.approx(declared.llf, rel=1e-12)


def test_grouping_ids_and_real_text_do_not_warn():
    cbpp = interlace.load_dataset("cbpp")
    words = {"1": "one", "2": "two", "3": "three", "4": "four"}
    data = cbpp.assign(period=cbpp["period"].astype(str).map(words),
                       herd=cbpp["herd"].astype(str))  # herd: numeric labels, but a grouping
    _, msgs = _fit_warnings(CBPP, data)
    assert msgs == []


def test_categorical_fast_path_matches_formulaic_coding():
    """Categories in their own order (not sorted) set the reference level, as formulaic/R."""
    cbpp = interlace.load_dataset("cbpp")
    order = ["3", "1", "2", "4"]
    data = cbpp.assign(period=pd.Categorical(cbpp["period"].astype(str), categories=order))
    fit, _ = _fit_warnings(CBPP, data)
    assert list(fit.fe_params.index) == ["(Intercept)", "period[T.1]", "period[T.2]",
                                         "period[T.4]"]
    ref, _ = _fit_warnings(CBPP, cbpp)
    # the same model in another coding: the fitted probabilities agree
    np.testing.assert_allclose(fit.fittedvalues, ref.fittedvalues, rtol=1e-6)


def test_config_factors_are_categoricals_in_numeric_order():
    df = pd.DataFrame({"period": [10, 2, np.nan, 2], "g": ["b", "a", None, "b"]})
    out = declare_factors(df, ["period", "g"])
    assert list(out["period"].cat.categories) == ["2", "10"]  # R's factor(): numeric order
    assert list(out["g"].cat.categories) == ["a", "b"]
    assert out["period"].isna().tolist() == [False, False, True, False]
    assert df["period"].dtype == float  # the caller's frame is untouched


def test_shipped_factors_are_categorical():
    cbpp = interlace.load_dataset("cbpp")
    assert isinstance(cbpp["period"].dtype, pd.CategoricalDtype)
    assert list(cbpp["period"].cat.categories) == ["1", "2", "3", "4"]
