"""Laws of likelihood profiles (hypothesis): what must hold for every data set.

* A deviance exactly quadratic in a parameter has a linear zeta and profile intervals equal to
  Wald's. Exactly true for a GLMM with a normal response, known sigma and a covariate that sums
  to 0 within every group: then Z'x = 0 and X'x = 0, so V^-1 x = x / sigma^2 whatever the
  random-effect variance, and the deviance is dev(theta, beta_-x, b_hat) + (b - b_hat)^2
  |x|^2 / sigma^2 with b_hat = x'y / |x|^2 fixed: zeta(b) = (b - b_hat) |x| / sigma.
* zeta is 0 at the estimate and increasing; a wider level's interval contains a narrower
  one's, and every interval contains the estimate.
* The SD/correlation map behind the profiles inverts natural_params' map, and its Jacobian is
  the derivative of theta.
"""

from __future__ import annotations

import os
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import stats

import interlace
from interlace.errors import InterlaceWarning
from interlace.families import GaussianFamily
from interlace.inference.parameters import random_parameter_values
from interlace.inference.profile_walk import walk
from interlace.inference.sdcor import SdcorMap
from interlace.model.terms import RandomTerm

_EXPLORE = os.environ.get("INTERLACE_HYPOTHESIS_EXAMPLES")
SETTINGS = settings(max_examples=int(_EXPLORE or 12), deadline=None, print_blob=True,
                    derandomize=_EXPLORE is None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
LEVELS = (0.5, 0.8, 0.95, 0.99)


@SETTINGS
@given(st.integers(4, 12), st.integers(2, 6), st.floats(0.2, 3.0), st.floats(0.0, 2.0),
       st.integers(0, 2**31 - 1))
def test_quadratic_deviance_gives_wald_intervals(ngroups, size, sigma, sd_group, seed):
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(ngroups), size)
    x = rng.normal(size=g.size)
    x = x - (np.bincount(g, x) / size)[g]  # sums to 0 in every group
    y = 1.0 + 0.5 * x + sd_group * rng.normal(size=ngroups)[g] + sigma * rng.normal(size=g.size)
    data = pd.DataFrame({"y": y, "x": x, "g": g.astype(str)})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InterlaceWarning)
        fit = interlace.glmer("y ~ x + (1 | g)", data, family=GaussianFamily(sigma=sigma))
    pr = fit.profile(which="x")
    b_hat, se = x @ y / (x @ x), sigma / np.sqrt(x @ x)
    assert fit.fe_params["x"] == pytest.approx(b_hat, rel=1e-7, abs=1e-9)
    table = pr.zeta("x")
    np.testing.assert_allclose(table["zeta"], (table["value"] - b_hat) / se, atol=2e-6)
    for level in LEVELS:
        z = stats.norm.ppf(0.5 + level / 2)
        ci = pr.conf_int(level).loc["x"]
        assert ci["lower"] == pytest.approx(b_hat - z * se, abs=2e-6 * se)
        assert ci["upper"] == pytest.approx(b_hat + z * se, abs=2e-6 * se)


@st.composite
def lmm_data(draw):
    """A random-intercept-and-slope LMM's data with random sizes and spreads."""
    ngroups, size = draw(st.integers(6, 14)), draw(st.integers(4, 8))
    sds = draw(st.tuples(st.floats(0.0, 2.0), st.floats(0.0, 1.0), st.floats(0.3, 2.0)))
    seed = draw(st.integers(0, 2**31 - 1))
    slope = draw(st.booleans())
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(ngroups), size)
    x = rng.normal(size=g.size)
    b0, b1 = sds[0] * rng.normal(size=ngroups), sds[1] * rng.normal(size=ngroups)
    y = 1.0 + 0.5 * x + b0[g] + b1[g] * x + sds[2] * rng.normal(size=g.size)
    formula = "y ~ x + (1 + x | g)" if slope else "y ~ x + (1 | g)"
    return formula, pd.DataFrame({"y": y, "x": x, "g": [f"g{i}" for i in g]})


@SETTINGS
@given(lmm_data())
def test_zeta_is_increasing_and_intervals_nest(case):
    formula, data = case
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InterlaceWarning)  # singular fits and their profiles
        fit = interlace.fit(formula, data)
        pr = fit.profile()
        tables = {lv: pr.conf_int(lv) for lv in LEVELS}
    sds = pr.estimates[[n.startswith("sd__") for n in pr.estimates.index]]
    for name in pr.names:
        if name.startswith("cor__") and (sds < 1e-6).any():
            continue  # a correlation with a zero SD is not identified: its profile is flat
        z = pr.zeta(name)
        est = pr.estimates[name]
        assert (np.diff(z["value"]) > 0).all()
        assert (np.diff(z["zeta"]) >= -1e-7).all(), name
        at_est = z.loc[z["value"] == est, "zeta"]
        assert len(at_est) == 1 and at_est.item() == 0.0
        for narrow, wide in zip(LEVELS, LEVELS[1:]):
            a, b = tables[narrow].loc[name], tables[wide].loc[name]
            assert b["lower"] <= a["lower"] + 1e-9 and a["upper"] <= b["upper"] + 1e-9
        ci = tables[0.5].loc[name]
        assert ci["lower"] <= est + 1e-9 and est <= ci["upper"] + 1e-9


def test_walk_of_a_quadratic_deviance_is_linear():
    """The walk alone (no model): a deviance (w - 2)^2 / 0.3^2 above its minimum."""

    class Quadratic:
        estimate, lower, upper, se = 2.0, -np.inf, np.inf, 0.3
        start, slope = np.zeros(0), np.zeros(0)

        def refit(self, w, start):
            return 10.0 + ((w - 2.0) / 0.3) ** 2, start, np.array([w])

    trace = walk("w", Quadratic(), 10.0, np.array([2.0]), cutoff=2.6, delta=0.3)
    np.testing.assert_allclose(trace.zeta, (trace.values - 2.0) / 0.3, atol=1e-12)
    assert trace.zeta[-1] > 2.6 and trace.zeta[0] < -2.6
    assert not (trace.at_lower or trace.at_upper)


def test_walk_warns_when_it_finds_a_lower_deviance():
    class Lower:
        estimate, lower, upper, se = 0.0, -np.inf, np.inf, 1.0
        start, slope = np.zeros(0), np.zeros(0)

        def refit(self, w, start):
            return 5.0 + (w - 0.5) ** 2, start, np.array([w])

    with pytest.warns(InterlaceWarning, match="not at the optimum"):
        walk("w", Lower(), 5.25, np.array([0.0]), cutoff=2.0, delta=0.25)


def term(k: int, correlated: bool = True) -> RandomTerm:
    return RandomTerm("g", [f"c{i}" for i in range(k)], np.zeros(1, int), np.array(["a"]),
                      np.ones((1, k)), correlated)


@SETTINGS
@given(st.integers(2, 4), st.lists(st.floats(-2.0, 2.0), min_size=10, max_size=10),
       st.lists(st.floats(0.1, 3.0), min_size=4, max_size=4))
def test_sdcor_map_inverts_natural_parameters(k, entries, diag):
    t = term(k)
    L = np.zeros((k, k))
    L[np.tril_indices(k, -1)] = entries[: k * (k - 1) // 2]
    L[np.diag_indices(k)] = diag[:k]
    theta = L[t.tri_rows, t.tri_cols]
    sl = [slice(0, theta.size)]
    values = random_parameter_values([t], sl, theta)
    m = SdcorMap([t], sl)
    np.testing.assert_allclose(m.theta(values), theta, rtol=1e-9, atol=1e-12)
    g = np.linspace(1.0, 2.0, theta.size)  # J'g against differences of theta(values)
    num = np.empty(theta.size)
    for i in range(theta.size):
        h = 1e-6 * max(1.0, abs(values[i]))
        e = np.zeros(theta.size)
        e[i] = h
        up, down = m.theta(values + e), m.theta(values - e)
        if up is None or down is None:  # a correlation next to the edge of validity
            return
        num[i] = g @ (up - down) / (2 * h)
    np.testing.assert_allclose(m.jacobian_t_dot(values, g), num, rtol=1e-4, atol=1e-6)
