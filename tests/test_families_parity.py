"""Parity of the extended families with glmmTMB (and lme4's glmer.nb for NB2).

References: tests/reference/glmmtmb_families.json, written by glmmtmb_families.R (Salamanders
and Owls from interlace/datasets; simulated sets in tests/reference/data/fam_*.csv).

Tolerances: glmmTMB optimises the same Laplace objective (observed information) with exact
derivatives, so both land on the same optimum up to optimizer noise: fixed effects and their
standard errors within 1e-4 relative, the random-effect variance within 1e-3 (it is flatter),
family parameters within 1e-4 on glmmTMB's internal (log / logit) scale and their standard
errors within 1e-3 (both codes take the Hessian of the profile by differences), and the
log-likelihood within 1e-6 absolute: every density carries all its constants, so AICs are
comparable with glmmTMB's across families.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from fixtures import data_for
from fixtures import max_rel as rel

import interlace
from interlace.families.extended import ProbabilityParameter
from interlace.integrators.laplace import LaplaceIntegrator

REFDIR = Path(__file__).parent / "reference"
REF = json.loads((REFDIR / "glmmtmb_families.json").read_text())["fixtures"]


def fit(key, **kw):
    R = REF[key]
    return interlace.glmer(R["formula"], data_for(R["data"]), family=R["family"], link=R.get("link"), **kw)


def family_internal(r):
    """Estimated family parameters on glmmTMB's scale, with standard errors from the Hessian."""
    names = list(r.hessian.index)
    cov = 2.0 * np.linalg.inv(r.hessian.to_numpy())
    out = {}
    for k, p in r.family.parameters.items():
        if p.fixed:
            continue
        i = names.index(f"{k} (unconstrained)")
        out[k] = (p.to_unconstrained(r.family_params[k]), float(np.sqrt(cov[i, i])))
    return out


DISP = {"nbinom2": "theta", "nbinom1": "phi", "gamma": "shape", "beta": "phi",
        "hurdle_nbinom2": "theta", "zinbinom2": "theta"}


def check(r, R, est_tol=1e-4, fam_tol=1e-4, ll_tol=1e-6, se_tol=None):
    se_tol = est_tol if se_tol is None else se_tol
    assert r.converged
    assert rel(r.fe_params, list(R["fixef"].values())) < est_tol
    assert rel(r.fe_bse, list(R["se"].values())) < se_tol
    vc = next(iter(r.variance_components.values())).iloc[0, 0]
    assert abs(vc / R["variance"] - 1) < 10 * est_tol
    fam = family_internal(r)
    if "disp" in R:
        z, se = fam[DISP[R["family"]]]
        assert abs(z - R["disp"]) < fam_tol * max(1.0, abs(R["disp"]))
        assert abs(se / R["disp_se"] - 1) < max(10 * fam_tol, se_tol)
    if "zi" in R:
        z, se = fam["zi"]
        assert abs(z - R["zi"]) < fam_tol * max(1.0, abs(R["zi"]))
        assert abs(se / R["zi_se"] - 1) < max(10 * fam_tol, se_tol)
    assert abs(r.llf - R["loglik"]) < ll_tol
    assert abs(r.aic - R["aic"]) < 2 * ll_tol


def test_nbinom2_salamanders_matches_glmmtmb():
    R = REF["sal_nb2"]
    r = fit("sal_nb2", integrator=LaplaceIntegrator(information="observed"))
    check(r, R)


def test_nbinom2_salamanders_matches_glmer_nb():
    """glmer.nb alternates theta and the GLMM fit (lme4's expected-information Laplace), so it
    stops short of the joint optimum: 1e-4 relative on estimates, theta within 1e-4, and our
    log-likelihood no lower than glmer.nb's minus 1e-6. Its standard errors hold theta fixed
    (the last glmer fit), ours do not: they differ by up to 1.7e-3 relative, hence 3e-3."""
    G = REF["sal_nb2"]["glmer_nb"]
    r = interlace.glmer(REF["sal_nb2"]["formula"], interlace.load_dataset("Salamanders"),
                        family="negativebinomial")
    assert r.converged
    assert rel(r.fe_params, list(G["fixef"].values())) < 1e-4
    assert rel(r.fe_bse, list(G["se"].values())) < 3e-3
    assert abs(r.family_params["theta"] / G["theta"] - 1) < 1e-4
    assert abs(r.variance_components["site"].iloc[0, 0] / G["variance"] - 1) < 1e-3
    assert r.llf > G["loglik"] - 1e-6
    assert abs(r.llf - G["loglik"]) < 1e-4


@pytest.mark.parametrize("key", ["sal_hurdle", "sal_hurdle_nb2", "gamma_log", "gamma_inverse",
                                 "beta"])
def test_family_matches_glmmtmb(key):
    check(fit(key), REF[key])


@pytest.mark.parametrize("key", ["sal_zip", "zinb2_sim", "owls_nb1", "nb1_sim"])
def test_zero_inflated_and_nb1_match_glmmtmb(key):
    """Zero-inflated rows with zi * mu > P(0), and NB1 rows with small counts and a large phi,
    have a negative observed information. PIRLS patches such rows with Fisher's information
    while far from the mode and finishes with exact Newton steps (see core/pirls.py), so the
    mode is exact and these match glmmTMB like the rest (measured: 7.2e-5 relative on
    Salamanders ZIP estimates, SEs within 6e-6, log-likelihood never below glmmTMB's)."""
    check(fit(key), REF[key])


def test_probability_parameter_scale():
    p = ProbabilityParameter("zi")
    assert abs(p.from_unconstrained(p.to_unconstrained(0.3)) - 0.3) < 1e-15
