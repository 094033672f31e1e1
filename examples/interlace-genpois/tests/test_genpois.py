"""Property tests of the generalised Poisson family and a fit by name (needs the package
installed: pip install ./examples/interlace-genpois)."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from interlace_genpois import GeneralizedPoissonFamily

import interlace


@settings(max_examples=30, deadline=None)
@given(mu=st.floats(0.05, 30.0), phi=st.floats(1.0, 5.0))
def test_density_mean_variance(mu, phi):
    fam = GeneralizedPoissonFamily(phi=phi)
    y = np.arange(0.0, 3000.0)
    p = np.exp(fam.loglik(y, np.full_like(y, mu), np.ones_like(y), {"phi": phi}))
    assert abs(p.sum() - 1) < 1e-9
    assert abs((p * y).sum() - mu) < 1e-7 * max(1, mu)
    assert abs((p * (y - mu) ** 2).sum() - phi * mu) < 1e-6 * max(1, phi * mu)


def test_registered_and_fits_by_name():
    assert "genpois" in interlace.list_plugins()["family"]
    counts = interlace.load_dataset("seed_counts")
    fit = interlace.glmer("count ~ x1 + x2", counts, family="genpois", groups="site")
    assert fit.converged and fit.family_params["phi"] > 1


def test_recovers_phi_from_simulated_data():
    rng = np.random.default_rng(7)
    fam = GeneralizedPoissonFamily(phi=2.5)
    g = np.repeat(np.arange(60), 25)
    x = rng.normal(size=g.size)
    mu = np.exp(0.5 + 0.4 * x + rng.normal(0, 0.3, 60)[g])
    import pandas as pd

    df = pd.DataFrame({"y": fam.simulate(mu, np.ones_like(mu), {"phi": 2.5}, rng), "x": x,
                       "g": g.astype(str)})
    fit = interlace.glmer("y ~ x + (1 | g)", df, family="genpois")
    assert abs(fit.family_params["phi"] - 2.5) < 0.4
    assert abs(fit.fe_params["x"] - 0.4) < 0.08
