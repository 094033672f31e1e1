"""Property tests (hypothesis) over random small data sets and random model formulas.

* Robustness: ``glmer`` returns a result or raises a documented error type
  (:class:`interlace.InterlaceError` and subclasses), also on corrupted data; never another
  exception.
* Invariance: permuting the rows, or relabelling the group levels, changes neither the
  log-likelihood nor the fixed effects, and the random effects follow the relabelling.
* Laws of the result: response = inverse link of the linear predictor; prediction on the
  training data = fitted values; ``include_re=False`` = X beta; AIC and BIC from llf.

20 derandomized examples per test by default (fast, deterministic); set
INTERLACE_HYPOTHESIS_EXAMPLES=<n> for a longer random search.
"""

from __future__ import annotations

import os
import string
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import interlace

# By default the examples are derandomized (the same on every run, so the suite is
# deterministic); setting INTERLACE_HYPOTHESIS_EXAMPLES=<n> runs n fresh random examples.
_EXPLORE = os.environ.get("INTERLACE_HYPOTHESIS_EXAMPLES")
SETTINGS = settings(max_examples=int(_EXPLORE or 20), deadline=None, print_blob=True,
                    derandomize=_EXPLORE is None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# formula templates: {y} is the response (y, s / n or cbind(s, f))
FORMULAS = {
    "intercept": "{y} ~ x + (1 | g)",
    "slope": "{y} ~ x + (1 + x | g)",
    "uncorrelated": "{y} ~ x + (1 + x || g)",
    "crossed": "{y} ~ x + (1 | g) + (1 | h)",
    "only_intercept": "{y} ~ 1 + (1 | g)",
}


@st.composite
def models(draw):
    """(formula, data frame, family name, info) for a random small GLMM."""
    family = draw(st.sampled_from(["binomial", "poisson"]))
    ng = draw(st.integers(3, 12))
    sizes = draw(st.lists(st.integers(2, 10), min_size=ng, max_size=ng))
    kind = draw(st.sampled_from(sorted(FORMULAS)))
    response = "y"
    if family == "binomial":
        response = draw(st.sampled_from(["y", "s / n", "cbind(s, f)"]))
    sd = draw(st.sampled_from([0.0, 0.4, 1.2]))
    beta = draw(st.tuples(st.floats(-1.0, 1.0), st.floats(-1.0, 1.0)))
    seed = draw(st.integers(0, 2**31 - 1))

    rng = np.random.default_rng(seed)
    gi = np.repeat(np.arange(ng), sizes)
    n = gi.size
    x = np.round(rng.normal(size=n), 3)
    eta = beta[0] + beta[1] * x + sd * rng.normal(size=ng)[gi]
    if kind in ("slope", "uncorrelated"):
        eta += 0.5 * sd * rng.normal(size=ng)[gi] * x
    nh = int(rng.integers(2, 5))
    hi = rng.integers(0, nh, n)
    hi[:nh] = np.arange(nh)  # every level of h appears
    if kind == "crossed":
        eta += sd * rng.normal(size=nh)[hi]
    df = pd.DataFrame({"x": x, "g": [f"G{i:02d}" for i in gi], "h": [f"H{i}" for i in hi]})
    if family == "poisson":
        df["y"] = rng.poisson(np.exp(np.clip(eta, -5, 4)))
    else:
        trials = rng.integers(1, 8, n) if response != "y" else np.ones(n, int)
        s = rng.binomial(trials, 1 / (1 + np.exp(-eta)))
        df["y"], df["s"], df["n"], df["f"] = s, s, trials, trials - s
    formula = FORMULAS[kind].format(y=response)
    return formula, df, family, {"kind": kind, "ng": ng, "n": n}


def fit(formula, df, family, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence/singularity warnings are allowed here
        return interlace.glmer(formula, df, family=family, **kw)


def fit_or_error(formula, df, family, **kw):
    """The result, or the documented error it raised (anything else propagates)."""
    try:
        return fit(formula, df, family, **kw)
    except interlace.InterlaceError as exc:
        return exc


# -- robustness ----------------------------------------------------------------------------
CORRUPTIONS = ["none", "none", "nan_x", "inf_x", "negative_y", "fractional_y", "one_level",
               "text_x", "zero_weight", "all_same_y", "missing_column", "tiny_group"]


def corrupt(df: pd.DataFrame, how: str, family: str, rng: np.random.Generator):
    df = df.copy()
    kw: dict = {}
    i = int(rng.integers(0, len(df)))
    if how == "nan_x":
        df.loc[i, "x"] = np.nan
    elif how == "inf_x":
        df.loc[i, "x"] = -np.inf
    elif how == "negative_y":
        df["y"] = df["y"].astype(int)
        df.loc[i, "y"] = -1
        df["s"] = df["y"]
    elif how == "fractional_y":
        df["y"] = df["y"].astype(float)
        df.loc[i, "y"] = 0.5 if family == "poisson" else 1.5
        df["s"] = df["y"]
    elif how == "one_level":
        df["g"] = "G00"
    elif how == "text_x":
        df["x"] = np.where(rng.random(len(df)) < 0.5, "lo", "hi")
    elif how == "zero_weight":
        w = np.ones(len(df))
        w[i] = 0.0
        kw["weights"] = w
    elif how == "all_same_y":
        df["y"] = 0
        df["s"] = 0
        df["f"] = df["n"] if "n" in df else 1
    elif how == "missing_column":
        df = df.drop(columns=["x"])
    elif how == "tiny_group":
        df = df.groupby("g", group_keys=False).head(1)
    return df, kw


@SETTINGS
@given(models(), st.sampled_from(CORRUPTIONS), st.integers(0, 2**31 - 1))
def test_result_or_documented_error(model, how, seed):
    formula, df, family, _ = model
    df, kw = corrupt(df, how, family, np.random.default_rng(seed))
    out = fit_or_error(formula, df, family, **kw)
    if isinstance(out, Exception):
        assert str(out), "error without a message"
        if how == "none":  # clean data: only a model the data cannot identify may be refused
            assert isinstance(out, interlace.DataError), out
        return
    assert np.isfinite(out.llf)
    assert np.all(np.isfinite(out.fe_params))
    assert out.nobs <= len(df)


# -- invariance ----------------------------------------------------------------------------
def _labels():
    return st.text(alphabet=string.ascii_letters + string.digits + "_-. ", min_size=1,
                   max_size=8)


@SETTINGS
@given(models(), st.integers(0, 2**31 - 1), st.lists(_labels(), min_size=12, max_size=12,
                                                     unique=True))
def test_invariant_to_row_order_and_level_labels(model, perm_seed, new_labels):
    formula, df, family, info = model
    base = fit_or_error(formula, df, family)
    perm = np.random.default_rng(perm_seed).permutation(len(df))
    shuffled = df.iloc[perm].reset_index(drop=True)
    levels = sorted(df["g"].unique())
    mapping = dict(zip(levels, new_labels))
    relabelled = df.assign(g=df["g"].map(mapping))
    if isinstance(base, Exception):  # the same data in another order fails the same way
        for other in (shuffled, relabelled):
            again = fit_or_error(formula, other, family)
            assert type(again) is type(base), (base, again)
        return
    # Under (quasi-)complete separation the MLE is at infinity: the estimates stop wherever the
    # optimizer's tolerance does, so they are not comparable; such fits are left out.
    assume(base.converged and not any("separation" in m for m in base.messages))
    assume(np.all(np.abs(base.fe_params.to_numpy()) < 15))
    for other in (shuffled, relabelled):
        r = fit(formula, other, family)
        assert abs(r.llf - base.llf) < 1e-6, (formula, base.llf, r.llf)
        np.testing.assert_allclose(r.fe_params.to_numpy(), base.fe_params.to_numpy(),
                                   rtol=0, atol=1e-4)
        assert list(r.fe_params.index) == list(base.fe_params.index)
    # the random effects follow the relabelling
    r = fit(formula, relabelled, family)
    b0 = base.random_effects["g"]
    b1 = r.random_effects["g"]
    assert sorted(b1.index) == sorted(mapping[lv] for lv in b0.index)
    moved = b1.loc[[mapping[lv] for lv in b0.index]].to_numpy()
    np.testing.assert_allclose(moved, b0.to_numpy(), rtol=0, atol=1e-3)
    # and row order only permutes the fitted values
    s = fit(formula, shuffled, family)
    np.testing.assert_allclose(s.fittedvalues.to_numpy(), base.fittedvalues.to_numpy()[perm],
                               rtol=0, atol=1e-4)


# -- laws of the result --------------------------------------------------------------------
@SETTINGS
@given(models())
def test_prediction_and_information_criteria_laws(model):
    formula, df, family, info = model
    r = fit_or_error(formula, df, family)
    assume(not isinstance(r, Exception))
    link = r.link
    eta = r.predict(type="link")
    mu = r.predict(type="response")
    np.testing.assert_allclose(mu, link.inverse(eta), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(mu, r.fittedvalues.to_numpy(), rtol=1e-9, atol=1e-12)
    # newdata = the training data reproduces the fitted values and linear predictor
    np.testing.assert_allclose(r.predict(newdata=df), r.fittedvalues.to_numpy(),
                               rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(r.predict(newdata=df, type="link"), eta, rtol=1e-8, atol=1e-8)
    # without random effects: X beta
    if info["kind"] == "only_intercept":
        X = np.ones((len(df), 1))
    else:
        X = np.column_stack([np.ones(len(df)), df["x"].to_numpy()])
    xb = X @ r.fe_params.to_numpy()
    np.testing.assert_allclose(r.predict(type="link", include_re=False), xb, rtol=1e-10,
                               atol=1e-10)
    np.testing.assert_allclose(r.predict(newdata=df, type="link", include_re=False), xb,
                               rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(r.predict(newdata=df, include_re=False), link.inverse(xb),
                               rtol=1e-10, atol=1e-12)
    # unseen levels get zero random effects (when allowed)
    unseen = df.assign(g="never-seen", h="never-seen")
    np.testing.assert_allclose(r.predict(newdata=unseen, type="link", allow_new_levels=True),
                               xb, rtol=1e-10,
                               atol=1e-10)
    # AIC/BIC with k = fixed effects + covariance parameters (no family parameters here)
    k = len(r.fe_params) + len(np.atleast_1d(r.theta))
    assert r.nobs == len(df)
    assert r.aic == pytest.approx(-2 * r.llf + 2 * k, rel=1e-12, abs=1e-9)
    assert r.bic == pytest.approx(-2 * r.llf + np.log(r.nobs) * k, rel=1e-12, abs=1e-9)
    assert r.deviance == pytest.approx(-2 * r.llf, rel=1e-12, abs=1e-9)


# -- cases the random search found ---------------------------------------------------------
def test_found_tiny_crossed_model_singular_schur():
    """One observation per level of g plus a crossed h: the fixed-effect information is
    singular, which once escaped as numpy's LinAlgError from the standard errors."""
    df = pd.DataFrame({"x": [-1.120, 0.052, -1.597, -0.136], "g": ["G00", "G01", "G02", "G03"],
                       "h": ["H0", "H1", "H1", "H1"], "y": [0, 2, 0, 0]})
    out = fit_or_error("y ~ x + (1 | g) + (1 | h)", df, "poisson")
    if not isinstance(out, Exception):
        assert np.isfinite(out.llf)
