"""The example third-party plugin package (examples/interlace-poilog), installed with pip.

The package is installed into the running environment exactly as a user would install a
published plugin (``pip install ./examples/interlace-poilog``); when CI or a developer has
already installed it the install step is skipped. Its family is then used by name from Python
and from a YAML config run with the ``interlace`` command.
"""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import interlace

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "examples" / "interlace-poilog"
CONFIG = PACKAGE / "configs" / "counts_poilog.yaml"
FORMULA = "count ~ x1 + x2"


def _registered() -> bool:
    return any(ep.name == "poilog" and ep.value == "interlace_poilog.plugin"
               for ep in entry_points(group="interlace"))


@pytest.fixture(scope="module")
def installed():
    """Install the example package with pip unless it already is, then rediscover plugins."""
    if not _registered():
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", str(PACKAGE)],
                       check=True, capture_output=True, text=True, timeout=600)
        importlib.invalidate_caches()
    assert _registered(), "pip install did not register the 'poilog' entry point"
    interlace.reload_plugins()
    yield
    interlace.reload_plugins()


@pytest.fixture(scope="module")
def counts():
    return interlace.load_dataset("seed_counts")


def test_installed_as_a_distribution(installed):
    from importlib.metadata import distribution

    dist = distribution("interlace-poilog")
    assert dist.version == "0.1.0"
    assert "poilog" in interlace.list_plugins()["family"]
    assert interlace.plugin_errors() == []


def test_fit_by_name_from_python(installed, counts):
    fit = interlace.glmer(FORMULA, counts, family="poilog", groups="site")
    assert type(fit.family).__module__ == "interlace_poilog.plugin"
    assert fit.converged and np.isfinite(fit.llf)
    sigma = fit.family_params["sigma"]
    assert sigma > 0.5  # the seed counts are overdispersed
    pois = interlace.glmer(FORMULA, counts, family="poisson", groups="site")
    assert fit.llf > pois.llf + 100  # overdispersion is worth far more than one parameter
    # an alias works, and a tiny sigma is the Poisson GLMM
    tiny = interlace.glmer(FORMULA, counts, family=type(fit.family)(sigma=1e-6), groups="site")
    np.testing.assert_allclose(tiny.llf, pois.llf, rtol=0, atol=1e-6)
    np.testing.assert_allclose(tiny.fe_params, pois.fe_params, atol=1e-5)
    alias = interlace.glmer(FORMULA, counts, family="Poisson_Lognormal", groups="site")
    np.testing.assert_allclose(alias.llf, fit.llf, rtol=0, atol=1e-8)
    sims = fit.simulate(nsim=1, seed=1)
    assert np.all(np.asarray(sims) >= 0)


def test_fit_by_name_from_yaml_config(installed, tmp_path, counts):
    out = tmp_path / "poilog.json"
    proc = subprocess.run([sys.executable, "-m", "interlace", "run", str(CONFIG),
                           "--output", str(out)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "Family: poilog" in proc.stdout
    record = json.loads(out.read_text())
    assert record["status"] == "ok"
    direct = interlace.glmer(FORMULA, counts, family="poilog", groups="site")
    assert record["result"]["family_params"]["sigma"] > 0.5
    np.testing.assert_allclose(record["result"]["fit"]["llf"], direct.llf, rtol=0, atol=1e-6)


# -- the property tests a plugin author writes for a family (see docs/plugins.md) ----------
@settings(max_examples=20, deadline=None)
@given(mu=st.floats(0.05, 40.0), sigma=st.floats(0.05, 0.8))
def test_density_sums_to_one_with_mean_mu_and_its_variance(installed, mu, sigma):
    from interlace_poilog import PoissonLognormalFamily

    fam = PoissonLognormalFamily(sigma=sigma)
    y = np.arange(0.0, 8000.0)  # past the mean of the mixture's last node
    p = np.exp(fam.loglik(y, np.full_like(y, mu), np.ones_like(y), {"sigma": sigma}))
    assert abs(p.sum() - 1.0) < 1e-9
    mean = float((p * y).sum())
    assert abs(mean - mu) < 1e-7 * max(1.0, mu)
    var = float(fam.variance(np.array([mu]), {"sigma": sigma})[0])
    assert abs(float((p * (y - mean) ** 2).sum()) - var) < 1e-6 * max(1.0, var)
    # the closed-form score and observed information are the derivatives of the density
    yy = np.array([0.0, 1.0, 3.0, 10.0])
    m = np.full(4, mu)
    h = 1e-5 * mu
    ll = [fam.loglik(yy, m + d, np.ones(4), {"sigma": sigma}) for d in (-h, h)]
    np.testing.assert_allclose(fam.score_mu(yy, m, np.ones(4), {"sigma": sigma}),
                               (ll[1] - ll[0]) / (2 * h), rtol=1e-5, atol=1e-7)
    sc = [fam.score_mu(yy, m + d, np.ones(4), {"sigma": sigma}) for d in (-h, h)]
    np.testing.assert_allclose(fam.obs_info_mu(yy, m, np.ones(4), {"sigma": sigma}),
                               -(sc[1] - sc[0]) / (2 * h), rtol=1e-5, atol=1e-7)
