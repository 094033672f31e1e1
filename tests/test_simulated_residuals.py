"""DHARMa's simulated residuals (``simulateResiduals`` and its tests), checked by laws:
DHARMa is not installed here (``apt-get install r-cran-dharma``: no such package), so there is
no R reference. The laws: a response drawn from the same simulator as the simulations is
exchangeable with them, so the simulation tests' p-values (dispersion, zero inflation, the
binomial outlier test) are uniform, and with conditional draws (independent rows) so is the KS
test's; refits of simulated responses give conservative tests (as DHARMa's are); an
overdispersed Poisson fit is flagged. Rejection rates are compared with alpha within three
binomial standard errors over the replicates."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import interlace
from interlace.checks.residuals import SimulatedResiduals, scaled_residuals
from interlace.errors import InterlaceError

ALPHA = 0.1


def poisson_data(seed: int = 1, ng: int = 25, per: int = 6, extra_sd: float = 0.0):
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(ng), per)
    x = rng.normal(size=ng * per)
    eta = 0.5 + 0.4 * x + rng.normal(scale=0.5, size=ng)[g] + rng.normal(scale=extra_sd,
                                                                        size=ng * per)
    return pd.DataFrame({"g": [f"g{i}" for i in g], "x": x, "y": rng.poisson(np.exp(eta))})


@pytest.fixture(scope="module")
def fit():
    return interlace.glmer("y ~ x + (1|g)", poisson_data(), family="poisson")


def rejection_rates(fit, conditional: bool, reps: int = 200, nsim: int = 99) -> np.ndarray:
    """Share of p <= ALPHA of (KS, dispersion, zeros, binomial outliers) over ``reps``
    responses drawn from the fit and scored against ``nsim`` further draws."""
    draws = fit.simulate(reps * (nsim + 1), seed=5, conditional=conditional)
    draws = draws.reshape(reps, nsim + 1, -1)
    fitted = np.asarray(fit.predict(type="response", include_re=False), dtype=float)
    p = np.empty((reps, 4))
    for k in range(reps):
        r = SimulatedResiduals(draws[k, 0], draws[k, 1:], fitted, np.random.default_rng(k))
        p[k] = [r.test_uniformity().p_value, r.test_dispersion().p_value,
                r.test_zero_inflation().p_value, r.test_outliers(method="binomial").p_value]
    return (p <= ALPHA).mean(axis=0)


def test_simulation_tests_are_calibrated_on_draws_from_the_model(fit):
    reps = 200
    se = np.sqrt(ALPHA * (1 - ALPHA) / reps)
    unconditional = rejection_rates(fit, conditional=False, reps=reps)
    # dispersion and zeros: exact (exchangeable); KS is not (rows share random effects)
    assert np.all(np.abs(unconditional[1:3] - ALPHA) < 3 * se), unconditional
    conditional = rejection_rates(fit, conditional=True, reps=reps)
    assert np.all(np.abs(conditional[:3] - ALPHA) < 3 * se), conditional
    assert conditional[3] < ALPHA + 3 * se  # outliers: conservative for counts


def test_refitted_draws_give_conservative_tests(fit):
    """Responses simulated from the fit and refitted: no test rejects more than alpha."""
    reps = 60
    se = np.sqrt(ALPHA * (1 - ALPHA) / reps)
    p = []
    for k in range(reps):
        refit = fit.refit(fit.simulate(1, seed=1000 + k)[0])
        r = refit.simulated_residuals(nsim=100, seed=k)
        p.append([t.p_value for t in r.tests().values()])
    rates = (np.asarray(p) <= ALPHA).mean(axis=0)
    assert np.all(rates < ALPHA + 3 * se), rates


def test_overdispersed_poisson_is_flagged():
    m = interlace.glmer("y ~ x + (1|g)", poisson_data(seed=3, ng=30, per=10, extra_sd=1.0),
                        family="poisson")
    r = m.simulated_residuals(nsim=250, seed=2)
    disp = r.test_dispersion()
    assert disp.statistic > 1 and disp.p_value < 0.05
    assert r.test_uniformity().p_value < 0.05


def test_residuals_are_pit_values_and_reproducible(fit):
    a = fit.simulated_residuals(nsim=50, seed=7)
    b = fit.simulated_residuals(nsim=50, seed=7)
    assert np.array_equal(a.residuals, b.residuals)
    assert a.simulated.shape == (50, fit.nobs)
    lo = (a.simulated < a.observed).mean(axis=0)
    hi = (a.simulated <= a.observed).mean(axis=0)
    assert np.all((lo <= a.residuals) & (a.residuals <= hi))


def test_continuous_pit_is_the_empirical_cdf():
    sims = np.arange(10.0)[:, None] + np.zeros((10, 3))
    r = scaled_residuals(np.array([-1.0, 4.5, 20.0]), sims, np.random.default_rng(0))
    assert np.allclose(r, [0.0, 0.5, 1.0])


def test_lmm_and_binomial_and_plot(fit):
    sleep = interlace.fit("Reaction ~ Days + (Days | Subject)", interlace.load_dataset("sleepstudy"))
    r = sleep.simulated_residuals(nsim=100, seed=1)
    assert 0 <= r.test_uniformity().p_value <= 1
    cbpp = interlace.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)",
                           interlace.load_dataset("cbpp"), family="binomial")
    rb = cbpp.simulated_residuals(nsim=100, seed=1)
    assert set(rb.tests()) == {"uniformity", "dispersion", "zero_inflation", "outliers"}
    pytest.importorskip("matplotlib")
    import matplotlib
    matplotlib.use("Agg")
    fig = rb.plot()
    assert len(fig.axes) == 2
    matplotlib.pyplot.close(fig)


def test_bad_arguments_name_themselves(fit):
    with pytest.raises(InterlaceError, match="nsim"):
        fit.simulated_residuals(nsim=0)
    r = fit.simulated_residuals(nsim=20, seed=1)
    with pytest.raises(InterlaceError, match="alternative"):
        r.test_dispersion(alternative="both")
    with pytest.raises(InterlaceError, match="method"):
        r.test_outliers(method="exact")


def test_ordinal_responses_use_category_codes():
    wine = interlace.load_dataset("wine")
    m = interlace.clmm("rating ~ temp + contact + (1|judge)", wine)
    r = m.simulated_residuals(nsim=60, seed=3)
    assert set(np.unique(r.simulated)) <= set(np.unique(m.design.y))
    assert r.fitted.shape == (m.nobs,) and 0 <= r.test_uniformity().p_value <= 1


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 30), st.integers(2, 40), st.integers(0, 2 ** 32 - 1))
def test_pit_lies_between_the_empirical_cdf_bounds(n, nsim, seed):
    """Law: each residual lies in [share below, share at or below] its observation, in [0, 1]."""
    rng = np.random.default_rng(seed)
    draws = rng.poisson(2.0, size=(nsim + 1, n)).astype(float)
    r = scaled_residuals(draws[0], draws[1:], rng)
    lo = (draws[1:] < draws[0]).mean(axis=0)
    hi = (draws[1:] <= draws[0]).mean(axis=0)
    assert np.all((lo <= r) & (r <= hi)) and np.all((r >= 0) & (r <= 1))
