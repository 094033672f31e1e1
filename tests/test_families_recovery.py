"""Recovery: simulate() from a fitted model, refit, and the estimates fall within a few
standard errors of the values simulated from (the fit's own parameters).

A fixed effect outside 4 standard errors has probability ~6e-5 under a correct model, so a
failure here points to a wrong density, simulate() or standard error, not to chance; the
family parameter is checked on its estimation scale with the same rule."""

from __future__ import annotations

import warnings
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import interlace

REFDIR = Path(__file__).parent / "reference"
CASES = {
    "nbinom2": ("Salamanders", "count ~ mined + (1 | site)"),
    "hurdle_poisson": ("Salamanders", "count ~ mined + (1 | site)"),
    "gamma": ("data/fam_gamma.csv", "y ~ x + (1 | g)"),
    "beta": ("data/fam_beta.csv", "y ~ x + (1 | g)"),
    "zoib": ("simulated", "y ~ x + (1 | g)"),
}


def _data(src):
    if src == "Salamanders":
        return interlace.load_dataset(src)
    if src == "simulated":
        from test_families_zoib import simulate_zoib

        return simulate_zoib()
    return pd.read_csv(REFDIR / src, dtype={"g": str})


@cache
def _truth(family):
    src, formula = CASES[family]
    d = _data(src)
    return d, formula, interlace.glmer(formula, d, family=family)


def _se_of(r, name):
    names = list(r.hessian.index)
    i = names.index(f"{name} (unconstrained)")
    return float(np.sqrt(2.0 * np.linalg.inv(r.hessian.to_numpy())[i, i]))


@pytest.mark.parametrize("family", sorted(CASES))
@settings(max_examples=2, deadline=None, derandomize=True)
@given(seed=st.integers(0, 2**31 - 1))
def test_simulate_refit_recovers_parameters(family, seed):
    d, formula, truth = _truth(family)
    y = truth.simulate(seed=seed)[0]
    resp = formula.split("~")[0].strip()
    d2 = d.copy()
    d2[resp] = y
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = interlace.glmer(formula, d2, family=family)
    z = (r.fe_params - truth.fe_params) / r.fe_bse
    assert np.all(np.abs(z) < 4), z
    for name, p in r.family.parameters.items():
        if p.fixed:
            continue
        zt = (p.to_unconstrained(r.family_params[name])
              - p.to_unconstrained(truth.family_params[name])) / _se_of(r, name)
        assert abs(zt) < 4, (name, zt)
