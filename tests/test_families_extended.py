"""Unit checks of the extended families: analytic derivatives against numerical ones, the
densities sum/integrate to one, names resolve, bad input gives clear errors, simulate works."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import integrate

import interlace
from interlace.families.base import Family
from interlace.registry import resolve

CASES = [
    ("nbinom1", {"phi": 1.7}, np.array([0.0, 1, 3, 8]), "log"),
    ("nbinom1", {"phi": 1.7}, np.array([0.0, 3, 80, 200]), "log"),  # polygamma path
    ("gamma", {"shape": 2.5}, np.array([0.3, 1.2, 4.0, 9.0]), "log"),
    ("beta", {"phi": 6.0}, np.array([0.05, 0.3, 0.6, 0.95]), "logit"),
    ("zipoisson", {"zi": 0.3}, np.array([0.0, 1, 3, 8]), "log"),
    ("zinbinom2", {"zi": 0.3, "theta": 1.4}, np.array([0.0, 1, 3, 8]), "log"),
    ("hurdle_poisson", {"zi": 0.4}, np.array([0.0, 1, 3, 8]), "log"),
    ("hurdle_nbinom2", {"zi": 0.4, "theta": 1.3}, np.array([0.0, 1, 3, 8]), "log"),
    ("zoib", {"phi": 5.0, "zoi": 0.2, "coi": 0.4}, np.array([0.0, 0.3, 0.7, 1.0]), "logit"),
]


def _fam(name, params):
    return resolve("family", name, **params)


@pytest.mark.parametrize("name,params,y,link", CASES)
def test_analytic_derivatives_match_numerical(name, params, y, link):
    fam = _fam(name, params)
    assert fam.link.name == link
    mu = np.full(y.shape, 0.42) if link == "logit" else np.full(y.shape, 2.3)
    w = np.ones_like(y)
    fp = fam.parameter_values()
    num_s = Family.score_mu(fam, y, mu, w, fp)
    num_i = Family.obs_info_mu(fam, y, mu, w, fp)
    assert np.allclose(fam.score_mu(y, mu, w, fp), num_s, rtol=1e-6, atol=1e-7)
    # structural 0/1 rows report a negligible positive information instead of exactly 0
    assert np.allclose(fam.obs_info_mu(y, mu, w, fp), num_i, rtol=1e-4, atol=1e-5)
    assert np.all(fam.info_mu(y, mu, w, fp) > 0)


@pytest.mark.parametrize("name,params", [(c[0], c[1]) for c in CASES if c[0] not in
                                         ("gamma", "beta", "zoib")])
def test_count_densities_sum_to_one_and_match_simulation(name, params):
    fam = _fam(name, params)
    mu = np.array([0.7, 3.0])
    ys = np.arange(0, 400.0)
    for m in mu:
        p = np.exp(fam.loglik(ys, np.full_like(ys, m), np.ones_like(ys), fam.parameter_values()))
        assert abs(p.sum() - 1) < 1e-10
        mean = float(ys @ p)
        var = float((ys - mean) ** 2 @ p)
        # E[y] of fitted values and predictions is the density's own mean
        assert abs(mean / fam.mean(np.array([m]), fam.parameter_values())[0] - 1) < 1e-10
        assert abs(var / fam.variance(np.array([m]), fam.parameter_values())[0] - 1) < 1e-8
        draws = fam.simulate(np.full(20000, m), np.ones(20000), fam.parameter_values(),
                             np.random.default_rng(1))
        assert abs(draws.mean() - mean) < 5 * np.sqrt(var / 20000)


@pytest.mark.parametrize("name,params", [("gamma", {"shape": 2.5}), ("beta", {"phi": 6.0}),
                                         ("zoib", {"phi": 5.0, "zoi": 0.2, "coi": 0.4})])
def test_continuous_densities_integrate_to_one(name, params):
    fam = _fam(name, params)
    fp = fam.parameter_values()
    m = 0.35 if name != "gamma" else 1.8
    hi = 1.0 if name != "gamma" else np.inf

    def dens(t):
        return float(np.exp(fam.loglik(np.array([t]), np.array([m]), np.ones(1), fp))[0])

    total = integrate.quad(dens, 0, hi, limit=200)[0]
    if name == "zoib":
        total += dens(0.0) + dens(1.0)
    assert abs(total - 1) < 1e-7
    draws = fam.simulate(np.full(20000, m), np.ones(20000), fp, np.random.default_rng(2))
    v = fam.variance(np.array([m]), fp)[0]
    mean = fam.mean(np.array([m]), fp)[0]
    first = integrate.quad(lambda t: t * dens(t), 0, hi, limit=200)[0]
    if name == "zoib":
        first += dens(1.0)
    assert abs(first / mean - 1) < 1e-7  # E[y] is the density's own mean
    assert abs(draws.mean() - mean) < 5 * np.sqrt(v / 20000)


@pytest.mark.parametrize("name", ["negativebinomial", "nbinom2", "nb2"])
def test_nbinom2_string_names(name):
    d = interlace.load_dataset("seed_counts")
    fam = resolve("family", name)
    assert isinstance(fam, interlace.NegativeBinomial2Family)
    assert not fam.parameters["theta"].fixed
    assert resolve("family", name, theta=2.0).parameters["theta"].value == 2.0
    assert d is not None


@pytest.mark.parametrize("name,kw,y,match", [
    ("nbinom1", {}, [0.0, 1.5, 2], "non-negative integer"),
    ("zipoisson", {}, [0.0, -1, 2], "non-negative integer"),
    ("hurdle_poisson", {}, [0.0, 1, 2.5], "non-negative integer"),
    ("gamma", {}, [0.0, 1.0, 2.0], r"positive \(valid range y > 0\)"),
    ("beta", {}, [0.2, 1.0, 0.5], "zoib"),
    ("beta", {}, [0.2, 1.5, 0.5], r"strictly inside \(0, 1\)"),
    ("zoib", {}, [0.2, 1.5, 0.5], r"\[0, 1\]"),
])
def test_bad_response(name, kw, y, match):
    d = pd.DataFrame({"y": np.tile(y, 4), "g": np.repeat(list("abcd"), len(y))})
    with pytest.raises(interlace.DataError, match=match):
        interlace.glmer("y ~ 1 + (1|g)", d, family=name)


@pytest.mark.parametrize("name,kw,match", [
    ("nbinom1", {"phi": -1.0}, "positive"),
    ("gamma", {"shape": 0.0}, "positive"),
    ("zipoisson", {"zi": 1.0}, r"zipoisson.*zi.*\[0, 1\).*1\.0"),
    ("zinbinom2", {"zi": -0.1}, r"\[0, 1\)"),
    ("hurdle_poisson", {"zi": 1.5}, r"\[0, 1\)"),
])
def test_bad_fixed_parameter(name, kw, match):
    with pytest.raises(interlace.PluginError, match=match):
        resolve("family", name, **kw)


def test_zip_without_zeros_warns_and_fits():
    rng = np.random.default_rng(3)
    g = np.repeat(np.arange(10), 8).astype(str)
    y = rng.poisson(6, size=80) + 1.0
    d = pd.DataFrame({"y": y, "g": g})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        r = interlace.glmer("y ~ 1 + (1|g)", d, family="zipoisson")
    assert any("no zeros" in str(w.message) for w in caught)
    assert r.family_params["zi"] < 1e-3


@pytest.mark.filterwarnings("ignore::interlace.ConvergenceWarning")
def test_fixed_parameters_are_held():
    d = interlace.load_dataset("Salamanders")
    r = interlace.glmer("count ~ mined + (1|site)", d, family=interlace.ZeroInflatedPoissonFamily(zi=0.2))
    assert r.family_params["zi"] == 0.2
    assert r.df_modelwc == 1 + 2
