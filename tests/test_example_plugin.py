"""The example third-party plugin package (examples/interlace-genpois), installed with pip.

The package is installed into the running environment exactly as a user would install a
published plugin (``pip install ./examples/interlace-genpois``); when CI or a developer has
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
PACKAGE = ROOT / "examples" / "interlace-genpois"
CONFIG = PACKAGE / "configs" / "counts_genpois.yaml"
FORMULA = "count ~ x1 + x2"


def _registered() -> bool:
    return any(ep.name == "genpois" and ep.value == "interlace_genpois.plugin"
               for ep in entry_points(group="interlace"))


@pytest.fixture(scope="module")
def installed():
    """Install the example package with pip unless it already is, then rediscover plugins."""
    if not _registered():
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", str(PACKAGE)],
                       check=True, capture_output=True, text=True, timeout=600)
        importlib.invalidate_caches()
    assert _registered(), "pip install did not register the 'genpois' entry point"
    interlace.reload_plugins()
    yield
    interlace.reload_plugins()


@pytest.fixture(scope="module")
def counts():
    return interlace.load_dataset("seed_counts")


def test_installed_as_a_distribution(installed):
    from importlib.metadata import distribution

    dist = distribution("interlace-genpois")
    assert dist.version == "0.1.0"
    assert "genpois" in interlace.list_plugins()["family"]
    assert interlace.plugin_errors() == []


def test_fit_by_name_from_python(installed, counts):
    fit = interlace.glmer(FORMULA, counts, family="genpois", groups="site")
    assert type(fit.family).__module__ == "interlace_genpois.plugin"
    assert fit.converged and np.isfinite(fit.llf)
    phi = fit.family_params["phi"]
    assert phi > 1.5  # the seed counts are overdispersed
    pois = interlace.glmer(FORMULA, counts, family="poisson", groups="site")
    assert fit.llf > pois.llf + 100  # overdispersion is worth far more than one parameter
    # an alias works, and phi fixed at 1 is exactly the Poisson GLMM
    fixed = interlace.glmer(FORMULA, counts, family=type(fit.family)(phi=1.0), groups="site")
    np.testing.assert_allclose(fixed.llf, pois.llf, rtol=0, atol=1e-6)
    np.testing.assert_allclose(fixed.fe_params, pois.fe_params, atol=1e-5)
    alias = interlace.glmer(FORMULA, counts, family="Generalized_Poisson", groups="site")
    np.testing.assert_allclose(alias.llf, fit.llf, rtol=0, atol=1e-8)
    sims = fit.simulate(nsim=1, seed=1)
    assert np.all(np.asarray(sims) >= 0)


def test_fit_by_name_from_yaml_config(installed, tmp_path, counts):
    out = tmp_path / "genpois.json"
    proc = subprocess.run([sys.executable, "-m", "interlace", "run", str(CONFIG),
                           "--output", str(out)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "Family: genpois" in proc.stdout
    record = json.loads(out.read_text())
    assert record["status"] == "ok"
    direct = interlace.glmer(FORMULA, counts, family="genpois", groups="site")
    assert record["result"]["family_params"]["phi"] > 1.5
    np.testing.assert_allclose(record["result"]["fit"]["llf"], direct.llf, rtol=0, atol=1e-6)


# -- the property tests a plugin author writes for a family (see docs/plugins.md) ----------
@settings(max_examples=40, deadline=None)
@given(mu=st.floats(0.05, 40.0), phi=st.floats(1.0, 6.0))
def test_density_sums_to_one_with_mean_mu_and_variance_phi_mu(installed, mu, phi):
    from interlace_genpois import GeneralizedPoissonFamily

    fam = GeneralizedPoissonFamily(phi=phi)
    y = np.arange(0.0, 4000.0)
    p = np.exp(fam.loglik(y, np.full_like(y, mu), np.ones_like(y), {"phi": phi}))
    assert abs(p.sum() - 1.0) < 1e-9
    mean = float((p * y).sum())
    assert abs(mean - mu) < 1e-7 * max(1.0, mu)
    assert abs(float((p * (y - mean) ** 2).sum()) - phi * mu) < 1e-6 * max(1.0, phi * mu)
    # the closed-form information is the expectation of -d^2 loglik / d mu^2
    info = fam.info_mu(np.array([1.0]), np.array([mu]), np.array([1.0]), {"phi": phi})[0]
    h = 1e-4 * mu
    ll = [fam.loglik(y, np.full_like(y, m), np.ones_like(y), {"phi": phi})
          for m in (mu - h, mu, mu + h)]
    expected = float((p * -(ll[2] - 2 * ll[1] + ll[0]) / h**2).sum())
    assert abs(info - expected) < 1e-4 * info
