"""Covariance structures, part 2: ``ou`` and ``homcs`` parity with R.

References (tests/reference/covstruct2.R -> covstruct2.json; data written by the script to
tests/reference/data/covstruct_ou.csv):
- ``ou``: glmmTMB 1.1.5 ``glmmTMB(y ~ x + t + ou(times + 0 | group), REML = FALSE / TRUE)`` and
  ``glmmTMB(count ~ x + ou(times + 0 | group), family = poisson)`` (Laplace), ``times =
  numFactor(t)`` over 8 irregular times; the rate read from the fitted correlation of the first
  two times, -log(rho12) / |t2 - t1|.
- ``homcs``: glmmTMB has no homogeneous compound symmetry, so the reference is lme4 1.1.31's
  equivalent ``lmer(y ~ x + tnum + (1 | id) + (1 | id:time), REML = FALSE / TRUE)`` on the balanced
  covstruct_long.csv: s^2 = var(id) + var(id:time), rho = var(id) / s^2.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from fixtures import REF_DIR, load_reference
from hypothesis import given, settings
from hypothesis import strategies as st

import interlace
from interlace.inference.parameters import natural_parameters
from interlace.registry import resolve

REF = load_reference("covstruct2.json")
CASES = {  # name: (formula, fitter, options, data)
    "lmm_ou_ml": ("y ~ x + t + ou(0 + times | group)", "fit", {"method": "ML"}, "ou"),
    "lmm_ou_reml": ("y ~ x + t + ou(0 + times | group)", "fit", {"method": "REML"}, "ou"),
    "pois_ou": ("count ~ x + ou(0 + times | group)", "glmer", {"family": "poisson"}, "ou"),
    "lmm_homcs_ml": ("y ~ x + tnum + homcs(0 + time | id)", "fit", {"method": "ML"}, "long"),
    "lmm_homcs_reml": ("y ~ x + tnum + homcs(0 + time | id)", "fit", {"method": "REML"}, "long"),
}


def load(which: str) -> pd.DataFrame:
    d = pd.read_csv(REF_DIR / "data" / f"covstruct_{which}.csv")
    if which == "ou":
        d["times"] = interlace.num_factor(d["t"])  # glmmTMB's numFactor(t)
        d["group"] = d["id"]
    else:
        d["time"] = d["time"].astype("category")
    return d


def own_params(res) -> np.ndarray:
    """The structure's natural parameters: its SD and its rate (ou) or rho (homcs)."""
    nat = natural_parameters(res)
    return nat[[n for n in nat.index if n.startswith(("sd__", "rate__", "rho__"))]].to_numpy(float)


@pytest.mark.parametrize("case", sorted(CASES))
def test_parity_with_r(case):
    formula, fitter, opts, which = CASES[case]
    ref = REF[case]
    res = getattr(interlace, fitter)(formula, load(which), **opts)
    assert res.converged
    assert abs(res.llf - ref["loglik"]) < 1e-4, (res.llf, ref["loglik"])
    np.testing.assert_allclose(res.fe_params[list(ref["fixef"])].to_numpy(),
                               list(ref["fixef"].values()), rtol=2e-3, atol=2e-3)
    np.testing.assert_allclose(own_params(res), ref["structure_params"], rtol=2e-3, atol=2e-3)
    if ref.get("sigma"):
        assert abs(res.family_params["sigma"] - ref["sigma"]) < 2e-3 * ref["sigma"]


@settings(max_examples=30, deadline=None)
@given(k=st.integers(2, 6), s=st.floats(0.05, 5.0), c=st.floats(-3.0, 3.0))
def test_homcs_is_cs_with_equal_sds(k, s, c):
    """homcs's factor is cs's with every SD equal; its derivatives match central differences."""
    homcs, cs = resolve("covariance", "homcs"), resolve("covariance", "cs")
    theta = np.array([s, c])
    np.testing.assert_allclose(homcs.factor(theta, k), cs.factor(np.append(np.full(k, s), c), k),
                               atol=1e-12)
    dL = homcs.factor_derivatives(theta, k)
    for j in range(2):
        h = np.zeros(2)
        h[j] = 1e-6
        num = (homcs.factor(theta + h, k) - homcs.factor(theta - h, k)) / 2e-6
        np.testing.assert_allclose(dL[j], num, atol=1e-6)
