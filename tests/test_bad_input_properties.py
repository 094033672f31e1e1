"""Bad input, generated: every outcome is a trustworthy fit or an InterlaceError naming the input.

Hypothesis builds a small data set (a response, a numeric predictor ``x``, a grouping factor
``g``) and damages one thing at a time: missing or infinite values, numbers far too large or
small, numbers stored as text, a one-level or empty grouping factor, a constant response, a
duplicated column, no rows. The laws, for ``glmer`` (binomial and Poisson), ``fit`` and
``clmm`` alike:

* the call ends in a fit or in an ``interlace.InterlaceError``; never another exception type;
* a fit that says it converged has finite estimates and a finite log-likelihood;
* an error about a damaged column names that column.

``predict`` on damaged new data (the same damages, an unseen group, a missing column, a word in
a numeric column) gives one finite value per row or an ``InterlaceError`` naming the column.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import interlace
from interlace import InterlaceError

# damage -> the column it concerns (None: the whole frame)
DAMAGES = {
    "none": None,
    "nan_x": "x",
    "inf_x": "x",
    "all_nan_x": "x",
    "huge_x": "x",
    "tiny_x": "x",
    "text_numbers_x": "x",
    "nan_y": "y",
    "inf_y": "y",
    "constant_y": "y",
    "one_level_g": "g",
    "nan_g": "g",
    "duplicated_x": "x",
    "no_rows": None,
}
KINDS = ("binomial", "poisson", "lmm", "clmm")


def _frame(kind: str, n: int, ngroups: int, seed: int) -> pd.DataFrame:
    """A well-formed data set for the model kind."""
    rng = np.random.default_rng(seed)
    g = rng.integers(0, ngroups, n)
    x = rng.normal(size=n)
    eta = 0.5 * x + rng.normal(scale=0.7, size=ngroups)[g]
    if kind == "binomial":
        y = (rng.random(n) < 1 / (1 + np.exp(-eta))).astype(float)
    elif kind == "poisson":
        y = rng.poisson(np.exp(eta)).astype(float)
    elif kind == "lmm":
        y = 3.0 + eta + rng.normal(size=n)
    else:
        y = np.digitize(eta + rng.logistic(size=n), [-1.0, 0.0, 1.0]).astype(int)
    return pd.DataFrame({"y": y, "x": x, "g": [f"g{v}" for v in g]})


def _damage(df: pd.DataFrame, damage: str, rng: np.random.Generator) -> pd.DataFrame:
    """The frame with one thing broken."""
    df = df.copy()
    i = int(rng.integers(0, len(df)))
    if damage == "nan_x":
        df.loc[i, "x"] = np.nan
    elif damage == "inf_x":
        df.loc[i, "x"] = np.inf
    elif damage == "all_nan_x":
        df["x"] = np.nan
    elif damage == "huge_x":
        df["x"] = df["x"] * 1e200
    elif damage == "tiny_x":
        df["x"] = df["x"] * 1e-200
    elif damage == "text_numbers_x":
        df["x"] = df["x"].round(2).astype(str)
    elif damage == "nan_y":
        df["y"] = df["y"].astype(float)
        df.loc[i, "y"] = np.nan
    elif damage == "inf_y":
        df["y"] = df["y"].astype(float)
        df.loc[i, "y"] = np.inf
    elif damage == "constant_y":
        df["y"] = df["y"].iloc[0]
    elif damage == "one_level_g":
        df["g"] = "g0"
    elif damage == "nan_g":
        df.loc[i, "g"] = None
    elif damage == "duplicated_x":
        df = pd.concat([df, df[["x"]]], axis=1)
    elif damage == "no_rows":
        df = df.iloc[:0]
    return df


def _fit(kind: str, df: pd.DataFrame):
    if kind in ("binomial", "poisson"):
        return interlace.glmer("y ~ x + (1 | g)", df, family=kind)
    if kind == "lmm":
        return interlace.fit("y ~ x + (1 | g)", df)
    return interlace.clmm("y ~ x + (1 | g)", df)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(kind=st.sampled_from(KINDS), damage=st.sampled_from(sorted(DAMAGES)),
       n=st.integers(12, 60), ngroups=st.integers(2, 6), seed=st.integers(0, 2**31 - 1))
def test_bad_input_gives_a_trustworthy_fit_or_a_named_error(kind, damage, n, ngroups, seed):
    df = _damage(_frame(kind, n, ngroups, seed), damage, np.random.default_rng(seed + 1))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # warnings are allowed; wrong answers are not
            res = _fit(kind, df)
    except InterlaceError as exc:
        column = DAMAGES[damage]
        message = str(exc)
        assert message.strip(), (kind, damage)
        if column is not None and damage not in ("constant_y",):
            assert repr(column) in message or f"`{column}`" in message or column in message, (
                kind, damage, message)
        return
    if res.converged:
        assert np.isfinite(res.llf), (kind, damage, res.llf)
        assert np.all(np.isfinite(res.fe_params.to_numpy())), (kind, damage, res.fe_params)


@pytest.mark.parametrize("kind", KINDS)
def test_undamaged_data_fits(kind):
    """The generator's data are ordinary: every kind fits them."""
    res = _fit(kind, _frame(kind, 60, 6, 1))
    assert np.isfinite(res.llf) and np.all(np.isfinite(res.fe_params.to_numpy()))


NEWDATA_DAMAGES = {
    "none": None, "nan_x": "x", "inf_x": "x", "huge_x": "x", "text_numbers_x": "x",
    "nan_g": "g", "one_level_g": "g", "duplicated_x": "x", "no_rows": None,
    "unseen_g": "g", "missing_x": "x", "words_x": "x",
}


def _damage_newdata(df: pd.DataFrame, damage: str, rng: np.random.Generator) -> pd.DataFrame:
    """New data for predict with one thing broken (the fit's damages and a few of predict's own)."""
    if damage == "unseen_g":
        df = df.copy()
        df.loc[int(rng.integers(0, len(df))), "g"] = "g_new"
        return df
    if damage == "missing_x":
        return df.drop(columns="x")
    if damage == "words_x":
        df = df.copy()
        df["x"] = df["x"].astype(object)
        df.loc[int(rng.integers(0, len(df))), "x"] = "twelve"
        return df
    return _damage(df, damage, rng)


@pytest.fixture(scope="module")
def fitted():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return {kind: _fit(kind, _frame(kind, 60, 6, 1)) for kind in KINDS}


@settings(max_examples=80, deadline=None, suppress_health_check=[
    HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(kind=st.sampled_from(KINDS), damage=st.sampled_from(sorted(NEWDATA_DAMAGES)),
       n=st.integers(1, 30), seed=st.integers(0, 2**31 - 1))
def test_predict_on_bad_newdata_gives_finite_values_or_a_named_error(fitted, kind, damage, n,
                                                                      seed):
    """predict on damaged new data: one finite prediction per row, or an InterlaceError naming
    the damaged column; never another exception type, never a NaN passed off as a prediction."""
    new = _damage_newdata(_frame(kind, n, 6, seed), damage, np.random.default_rng(seed + 1))
    res = fitted[kind]
    try:
        pred = np.asarray(res.predict(newdata=new), dtype=float)
    except InterlaceError as exc:
        column = NEWDATA_DAMAGES[damage]
        assert str(exc).strip(), (kind, damage)
        if column is not None:
            assert repr(column) in str(exc) or column in str(exc), (kind, damage, str(exc))
        return
    assert damage not in ("nan_x", "nan_g", "unseen_g", "missing_x", "words_x"), (
        kind, damage, "predicted without complaint")
    assert pred.shape[0] == len(new), (kind, damage, pred.shape)
    assert np.all(np.isfinite(pred)), (kind, damage)
