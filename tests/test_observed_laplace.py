"""Laplace with the observed information (glmmTMB's definition) for non-canonical links.

References: tests/reference/glmmtmb_core.json (glmmtmb_core.R) for a Gaussian GLMM with a log
link, and the glmmTMB fits recorded in lme4_core.json (lme4_core.R) for the probit, cloglog
and sqrt-link fixtures. glmmTMB differentiates exactly, so 1e-4 relative on estimates and
standard errors, 1e-6 absolute on the log-likelihood.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fixtures import fit_fixture, load_reference

import interlace
from interlace.glmm.objective import Layout, Objective
from interlace.integrators.laplace import LaplaceIntegrator
from interlace.linalg.differences import fd_gradient

REFDIR = Path(__file__).parent / "reference"
TMB = json.loads((REFDIR / "glmmtmb_core.json").read_text())["fixtures"]
CORE = load_reference()["fixtures"]


def rel(a, b):
    a, b = np.asarray(a, float), np.asarray(b, float)
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-2)))


def test_gaussian_log_link_matches_glmmtmb():
    R = TMB["gauss_log"]
    d = pd.read_csv(REFDIR / R["data"])
    r = interlace.glmer(R["formula"], d, family="gaussian", link="log",
                        integrator=LaplaceIntegrator(information="observed"))
    assert r.converged
    assert rel(r.fe_params, list(R["fixef"].values())) < 1e-4
    assert rel(r.fe_bse, list(R["se"].values())) < 1e-4
    assert abs(r.family_params["sigma"] / R["sigma"] - 1) < 1e-4
    assert abs(r.variance_components["g"].iloc[0, 0] / R["variance"] - 1) < 1e-3
    assert abs(r.llf - R["loglik"]) < 1e-6


@pytest.mark.parametrize("key", ["cbpp_probit", "cbpp_cloglog", "counts_site_sqrt"])
def test_noncanonical_links_match_glmmtmb(key):
    r = fit_fixture(key, integrator=LaplaceIntegrator(information="observed"))
    E = CORE[key]["glmmTMB"]
    assert rel(r.fe_params, list(E["fixef"].values())) < 1e-4
    assert rel(r.fe_bse, list(E["se"].values())) < 1e-4
    assert abs(r.llf - E["loglik"]) < 1e-5


@pytest.mark.parametrize("key", ["cbpp_probit", "counts_site_sqrt"])
def test_observed_gradient_is_exact(key):
    """The exact gradient with observed information agrees with central differences."""
    r = fit_fixture(key, integrator=LaplaceIntegrator(information="observed"))
    ctx = r.context
    integ = LaplaceIntegrator(information="observed")
    obj = Objective(ctx, integ, Layout(ctx.ntheta, ctx.design.p, []), r.fe_params.to_numpy())
    x = np.concatenate([r.theta_absolute * 1.2 + 0.05, r.fe_params.to_numpy() + 0.03])
    f0 = obj(x)
    ga = obj.gradient(x)
    gn = fd_gradient(obj, x, f0, np.full(x.size, -np.inf))
    assert np.max(np.abs(ga - gn) / np.maximum(1, np.abs(gn))) < 1e-6


def test_information_option_is_checked():
    with pytest.raises(interlace.PluginError, match="information"):
        LaplaceIntegrator(information="hessian")


def test_poisson_identity_link_matches_glmmtmb():
    """lme4's PIRLS fails on this model (NaN); glmmTMB's fit is the reference."""
    R = TMB["pois_identity"]
    d = pd.read_csv(REFDIR / R["data"])
    r = interlace.glmer(R["formula"], d, family="poisson", link="identity",
                        integrator=LaplaceIntegrator(information="observed"))
    assert r.converged
    assert rel(r.fe_params, list(R["fixef"].values())) < 1e-4
    assert rel(r.fe_bse, list(R["se"].values())) < 1e-4
    assert abs(r.variance_components["g"].iloc[0, 0] / R["variance"] - 1) < 1e-3
    assert abs(r.llf - R["loglik"]) < 1e-6
