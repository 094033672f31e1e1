"""Laws of predict() (hypothesis): rows drawn from the fitted data (and new groups), columns
typed at random.

* How a factor or grouping column is typed (text, integers, floats, a category, Python
  objects) does not change a prediction or its standard error: they are identical.
* Standard errors are finite and >= 0; a confidence interval contains the fit, and a higher
  level gives an interval at least as wide.
* predict(newdata=the fitted rows) equals predict() on those rows, with and without the random
  effects, standard errors included.
"""

from __future__ import annotations

import os
import warnings
from functools import cache

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import interlace

_EXPLORE = os.environ.get("INTERLACE_HYPOTHESIS_EXAMPLES")
SETTINGS = settings(max_examples=int(_EXPLORE or 40), deadline=None, print_blob=True,
                    derandomize=_EXPLORE is None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# model -> (fit, factor / grouping columns whose values are whole numbers, text-only ones)
MODELS = {
    "cbpp": ("glmer", "cbind(incidence, size - incidence) ~ period + (1 | herd)", "cbpp",
             ("period", "herd"), ()),
    "cbpp_text": ("glmer", "cbind(incidence, size - incidence) ~ period + (1 | herd)", "cbpp",
                  ("period", "herd"), ()),
    "salamanders": ("glmer", "count ~ mined + (1 | site)", "Salamanders", (), ("mined", "site")),
    "sleep_int_subject": ("fit", "Reaction ~ Days + (Days | Subject)", "sleepstudy",
                          ("Subject",), ()),
}
FAMILY = {"cbpp": "binomial", "cbpp_text": "binomial", "salamanders": "poisson"}
NUMBER_TYPINGS = ("str", "int", "float", "category", "category_int", "object")
TEXT_TYPINGS = ("str", "category", "object")


@cache
def model(key: str):
    how, formula, name, _, _ = MODELS[key]
    data = interlace.load_dataset(name)
    if key == "sleep_int_subject":
        data = data.assign(Subject=data["Subject"].astype(int))  # fitted with integer groups
    if key == "cbpp_text":  # fitted with text columns (load_dataset's are categoricals)
        data = data.assign(period=data["period"].astype(str), herd=data["herd"].astype(str))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if how == "fit":
            return interlace.fit(formula, data, method="ML"), data
        return interlace.glmer(formula, data, family=FAMILY[key]), data


def typed(values: pd.Series, typing: str) -> pd.Series:
    """The same values typed another way (whole numbers for the numeric typings)."""
    text = values.astype(str)
    if typing == "str":
        return text
    if typing == "int":
        return text.astype(int)
    if typing == "float":
        return text.astype(float)
    if typing == "category":
        return text.astype("category")
    if typing == "category_int":
        return text.astype(int).astype("category")
    return pd.Series(text.to_numpy(dtype=object), dtype=object)


@st.composite
def cases(draw):
    key = draw(st.sampled_from(sorted(MODELS)))
    r, data = model(key)
    _, _, _, numeric_like, text_only = MODELS[key]
    rows = draw(st.lists(st.integers(0, len(data) - 1), min_size=1, max_size=10))
    nd = data.iloc[rows].reset_index(drop=True)
    group = r.design.terms[0].group
    if draw(st.booleans()):  # a row of a group not seen when fitting
        extra = nd.iloc[[0]].assign(**{group: 9999 if group in numeric_like else "new"})
        nd = pd.concat([nd, extra], ignore_index=True)
    cols = {c: draw(st.sampled_from(NUMBER_TYPINGS)) for c in numeric_like}
    cols.update({c: draw(st.sampled_from(TEXT_TYPINGS)) for c in text_only})
    return key, nd, cols


def predictions(r, nd: pd.DataFrame, re_form, scale: str, level: float) -> pd.DataFrame:
    return r.predict(nd, type=scale, re_form=re_form, allow_new_levels=True,
                     interval="confidence", level=level)


@SETTINGS
@given(cases(), st.sampled_from([None, "~0"]), st.sampled_from(["link", "response"]))
def test_column_typing_does_not_change_predictions(case, re_form, scale):
    key, nd, cols = case
    r, _ = model(key)
    base = predictions(r, nd, re_form, scale, 0.95)
    retyped = nd.assign(**{c: typed(nd[c], t) for c, t in cols.items()})
    pd.testing.assert_frame_equal(predictions(r, retyped, re_form, scale, 0.95), base)


@SETTINGS
@given(cases(), st.sampled_from([None, "~0"]), st.sampled_from(["link", "response"]),
       st.floats(0.5, 0.98), st.floats(0.001, 0.0199))
def test_standard_errors_and_intervals(case, re_form, scale, level, more):
    key, nd, _ = case
    r, _ = model(key)
    a = predictions(r, nd, re_form, scale, level)
    b = predictions(r, nd, re_form, scale, level + more)
    se = a["se_fit"].to_numpy()
    assert np.all(np.isfinite(se)) and np.all(se >= 0)
    assert np.all((a["lower"] <= a["fit"]) & (a["fit"] <= a["upper"]))
    assert np.all((b["lower"] <= a["lower"]) & (a["upper"] <= b["upper"]))
    wider = se > 0
    assert np.all((b["upper"] - b["lower"])[wider] > (a["upper"] - a["lower"])[wider])


@SETTINGS
@given(st.sampled_from(sorted(MODELS)), st.data(), st.booleans(),
       st.sampled_from(["link", "response"]))
def test_fitted_rows_as_newdata_equal_the_fitted_predictions(key, data, include_re, scale):
    r, frame = model(key)
    rows = data.draw(st.lists(st.integers(0, len(frame) - 1), min_size=1, max_size=15))
    new = r.predict(frame.iloc[rows], type=scale, include_re=include_re, se_fit=True)
    own = r.predict(type=scale, include_re=include_re, se_fit=True).iloc[rows]
    np.testing.assert_allclose(new["fit"], own["fit"], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(new["se_fit"], own["se_fit"], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(r.predict(frame.iloc[rows], type=scale, include_re=include_re),
                               r.predict(type=scale, include_re=include_re)[rows],
                               rtol=1e-10, atol=1e-12)
