"""ZOIB has no glmmTMB counterpart: its marginal log-likelihood is checked against direct
numerical integration (scipy.integrate.quad) of each group's one-dimensional integral at the
fitted parameters, and its estimates by recovery on simulated data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import integrate, stats

import interlace


def simulate_zoib(seed=5, ngroups=30, per=15):
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(ngroups), per)
    x = rng.uniform(size=g.size)
    b = rng.normal(0.0, 0.5, ngroups)[g]
    mu = 1 / (1 + np.exp(-(-0.4 + 1.0 * x + b)))
    fam = interlace.ZeroOneInflatedBetaFamily()
    y = fam.simulate(mu, np.ones_like(mu), {"phi": 6.0, "zoi": 0.15, "coi": 0.3}, rng)
    return pd.DataFrame({"y": y, "x": x, "g": [f"g{i:02d}" for i in g]})


@pytest.fixture(scope="module")
def zoib_data():
    return simulate_zoib()


def quad_loglik(r, d):
    """sum over groups of log int prod_i p(y_i | b) N(b; 0, s^2) db, by adaptive quadrature."""
    fam, fp = r.family, r.family_params
    s = float(np.sqrt(r.variance_components["g"].iloc[0, 0]))
    eta_fixed = r.context.design.X @ r.fe_params.to_numpy()
    y = d["y"].to_numpy()
    total = 0.0
    for _, idx in d.groupby("g").indices.items():
        yi, ei = y[idx], eta_fixed[idx]
        # scale the integrand by its value at the mode so quad works near 1
        def logf(bv, yi=yi, ei=ei):
            mu = 1 / (1 + np.exp(-(ei + bv)))
            return float(np.sum(fam.loglik(yi, mu, np.ones_like(yi), fp))) + stats.norm.logpdf(bv, 0, s)
        grid = np.linspace(-6 * s, 6 * s, 241)
        m = max(logf(v) for v in grid)
        val = integrate.quad(lambda v, m=m, logf=logf: np.exp(logf(v) - m), -10 * s, 10 * s, limit=200,
                             epsabs=0, epsrel=1e-11)[0]
        total += m + np.log(val)
    return total


def test_zoib_agq_loglik_equals_direct_integration(zoib_data):
    """Adaptive Gauss-Hermite with 25 nodes integrates these smooth one-dimensional integrals
    to ~1e-8; quad to 1e-11 relative: the two agree within 1e-6."""
    r = interlace.glmer("y ~ x + (1|g)", zoib_data, family="zoib", nAGQ=25)
    assert r.converged
    assert abs(r.llf - quad_loglik(r, zoib_data)) < 1e-6


def test_zoib_laplace_loglik_close_to_direct_integration(zoib_data):
    """The Laplace approximation of each group's integral is not exact: with 15 rows per group
    its error on the total log-likelihood (30 groups) is measured at 0.15, so 0.3."""
    r = interlace.glmer("y ~ x + (1|g)", zoib_data, family="zoib")
    assert r.converged
    assert abs(r.llf - quad_loglik(r, zoib_data)) < 0.3
    fp = r.family_params
    assert abs(fp["zoi"] - np.mean((zoib_data.y == 0) | (zoib_data.y == 1))) < 1e-6
    ends = zoib_data.y[(zoib_data.y == 0) | (zoib_data.y == 1)]
    assert abs(fp["coi"] - np.mean(ends == 1)) < 1e-6
