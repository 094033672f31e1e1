"""Property tests of the Poisson-lognormal family and a fit by name (needs the package
installed: pip install ./examples/interlace-poilog)."""

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st
from interlace_poilog import PoissonLognormalFamily

import interlace


@settings(max_examples=30, deadline=None)
@given(mu=st.floats(0.05, 30.0), sigma=st.floats(0.05, 1.0))
def test_density_mean_variance(mu, sigma):
    fam = PoissonLognormalFamily(sigma=sigma)
    y = np.arange(0.0, 30000.0)  # the mixture's far tail (the largest node's mean) included
    p = np.exp(fam.loglik(y, np.full_like(y, mu), np.ones_like(y), {"sigma": sigma}))
    assert abs(p.sum() - 1) < 1e-9
    assert abs((p * y).sum() - mu) < 1e-7 * max(1, mu)
    var = float(fam.variance(np.array([mu]), {"sigma": sigma})[0])
    assert abs((p * (y - mu) ** 2).sum() - var) < 1e-6 * max(1, var)


def test_registered_and_fits_by_name():
    assert "poilog" in interlace.list_plugins()["family"]
    counts = interlace.load_dataset("seed_counts")
    fit = interlace.glmer("count ~ x1 + x2", counts, family="poilog", groups="site")
    assert fit.converged and fit.family_params["sigma"] > 0.1


def test_recovers_sigma_from_simulated_data():
    rng = np.random.default_rng(7)
    fam = PoissonLognormalFamily(sigma=0.6)
    g = np.repeat(np.arange(60), 25)
    x = rng.normal(size=g.size)
    mu = np.exp(0.8 + 0.4 * x + rng.normal(0, 0.3, 60)[g])
    df = pd.DataFrame({"y": fam.simulate(mu, np.ones_like(mu), {"sigma": 0.6}, rng), "x": x,
                       "g": g.astype(str)})
    fit = interlace.glmer("y ~ x + (1 | g)", df, family="poilog")
    assert abs(fit.family_params["sigma"] - 0.6) < 0.12
    assert abs(fit.fe_params["x"] - 0.4) < 0.06
