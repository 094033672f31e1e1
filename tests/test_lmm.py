"""interlace.fit() against lme4::lmer and lmerTest (tests/reference/lme4_lmm.json, written by
tests/reference/lme4_lmm.R). lmer is exact for these fits, so: estimates 1e-4 relative, REML
criterion / log-likelihood 1e-6 relative, Satterthwaite df 1e-3 relative."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import interlace

REF = json.loads((Path(__file__).parent / "reference" / "lme4_lmm.json").read_text())["fixtures"]
DATA = {
    "sleepstudy": lambda: interlace.load_dataset("sleepstudy"),
    "Penicillin": lambda: interlace.load_dataset("Penicillin"),
    "data/lmm_nested.csv": lambda: pd.read_csv(Path(__file__).parent / "reference" / "data" /
                                               "lmm_nested.csv"),
}
KEYS = ["sleep_reml", "sleep_ml", "sleep_uncorr_reml", "penicillin_reml", "nested_reml"]


def rel(a, b, floor=1e-3):
    a, b = np.asarray(a, float), np.asarray(b, float)
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), floor)))


@pytest.fixture(scope="module")
def fits():
    out = {}
    for key in KEYS:
        R = REF[key]
        out[key] = interlace.fit(R["formula"], DATA[R["data"]](),
                                 method="REML" if R["REML"] else "ML")
    return out


@pytest.mark.parametrize("key", KEYS)
def test_lmer_parity(fits, key):
    r, R = fits[key], REF[key]
    assert r.converged
    assert rel(r.fe_params, list(R["fixef"].values())) < 1e-4
    assert rel(r.fe_bse, list(R["se"].values())) < 1e-4
    # lme4 orders random terms by decreasing number of levels, interlace keeps formula order
    if len(r.theta) == len(R["theta"]) and all(len(v) == 1 for v in r.variance_components.values()):
        assert rel(sorted(r.theta), sorted(R["theta"]), 1e-2) < 1e-4
    else:
        assert rel(r.theta, R["theta"], 1e-2) < 1e-4
    assert abs(np.sqrt(r.scale) / R["sigma"] - 1) < 1e-4
    assert abs(r.llf / R["loglik"] - 1) < 1e-6
    assert abs(r.aic - R["aic"]) < 1e-4 and abs(r.bic - R["bic"]) < 1e-4
    if R["REML"]:
        assert abs(r.reml_criterion / R["reml_criterion"] - 1) < 1e-6
    ours = sorted(v for cov in r.variance_components.values() for v in np.diag(cov))
    want = sorted(v["vcov"] for v in R["varcorr"] if v["var2"] is None and v["grp"] != "Residual")
    assert rel(ours, want) < 1e-4
    assert rel(r.fittedvalues.to_numpy()[:10], R["fitted_head"]) < 1e-5


@pytest.mark.parametrize("key", KEYS)
def test_satterthwaite(fits, key):
    """Degrees of freedom and p-values as lmerTest's summary()."""
    r, R = fits[key], REF[key]
    assert rel(r.fe_df, list(R["df_satterthwaite"].values())) < 1e-3
    assert rel(r.fe_pvalues, list(R["p_satterthwaite"].values()), 1e-300) < 1e-2


def test_conditional_modes(fits):
    r, R = fits["sleep_reml"], REF["sleep_reml"]
    ref = R["ranef"]["Subject"]
    got = r.random_effects["Subject"].loc[ref["levels"]].to_numpy()
    assert np.max(np.abs(got - np.array(ref["values"]))) < 1e-3


def test_anova_refits_with_ml():
    s = interlace.load_dataset("sleepstudy")
    m0 = interlace.fit("Reaction ~ Days + (Days || Subject)", s)
    m1 = interlace.fit("Reaction ~ Days + (Days | Subject)", s)
    with pytest.warns(interlace.InterlaceWarning, match="refitting"):
        tab = interlace.anova(m1, m0)
    A = REF["anova_sleep"]
    assert list(tab["npar"]) == A["npar"]
    assert np.allclose(tab["logLik"], A["logLik"], rtol=1e-7)
    assert tab["Chisq"].iloc[1] == pytest.approx(A["chisq"][1], rel=1e-4)
    assert tab["Pr(>Chisq)"].iloc[1] == pytest.approx(A["p"][1], rel=1e-4)


def test_lmm_equals_gaussian_glmm_ml(fits):
    """fit(method='ML') and glmer(family='gaussian') maximise the same likelihood."""
    s = interlace.load_dataset("sleepstudy")
    g = interlace.glmer("Reaction ~ Days + (Days | Subject)", s, family="gaussian")
    assert abs(g.llf - fits["sleep_ml"].llf) < 1e-6
    assert np.allclose(g.fe_params, fits["sleep_ml"].fe_params, rtol=1e-6)


def test_bad_method():
    with pytest.raises(interlace.InterlaceError, match="REML"):
        interlace.fit("Reaction ~ Days + (1 | Subject)", interlace.load_dataset("sleepstudy"),
                      method="OLS")
