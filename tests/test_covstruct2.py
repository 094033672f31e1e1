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
- ``rr``: glmmTMB 1.1.5 ``glmmTMB(y ~ 0 + trait + rr(0 + trait | id, d = 2), REML = FALSE / TRUE)``,
  the same with ``d = 1``, and ``glmmTMB(count ~ 0 + trait + rr(0 + trait | id, d = 2),
  family = poisson)`` on simulated data (4 traits x 120 individuals, long format,
  tests/reference/data/covstruct_rr.csv). Loadings are identified only up to rotation and sign,
  so the implied covariance Lambda Lambda' (glmmTMB's VarCorr) is compared, not the loadings.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from fixtures import REF_DIR, load_reference
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import interlace
from interlace.covariance.reduced_rank import ReducedRank
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


RR_CASES = {  # name: (formula, fitter, options)
    "lmm_rr_ml": ("y ~ 0 + trait + rr(0 + trait | id, d = 2)", "fit", {"method": "ML"}),
    "lmm_rr_reml": ("y ~ 0 + trait + rr(0 + trait | id, d = 2)", "fit", {"method": "REML"}),
    "lmm_rr1_ml": ("y ~ 0 + trait + rr(0 + trait | id, d = 1)", "fit", {"method": "ML"}),
    "pois_rr": ("count ~ 0 + trait + rr(0 + trait | id, d = 2)", "glmer", {"family": "poisson"}),
}


def load(which: str) -> pd.DataFrame:
    d = pd.read_csv(REF_DIR / "data" / f"covstruct_{which}.csv")
    if which == "ou":
        d["times"] = interlace.num_factor(d["t"])  # glmmTMB's numFactor(t)
        d["group"] = d["id"]
    else:
        col = "trait" if which == "rr" else "time"
        d[col] = d[col].astype("category")
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


@pytest.mark.parametrize("case", sorted(RR_CASES))
def test_rr_parity_with_glmmtmb(case):
    formula, fitter, opts = RR_CASES[case]
    ref = REF[case]
    res = getattr(interlace, fitter)(formula, load("rr"), **opts)
    assert res.converged
    assert abs(res.llf - ref["loglik"]) < 1e-4, (res.llf, ref["loglik"])
    fe = res.fe_params.to_numpy()  # trait[tr1] ... in glmmTMB's order traittr1 ...
    np.testing.assert_allclose(fe, list(ref["fixef"].values()), rtol=2e-3, atol=2e-3)
    (term,) = res.context.design.terms
    S = term.covariance(res.theta_absolute[res.context.theta_slices()[0]])
    np.testing.assert_allclose(S, ref["covariance"], rtol=2e-3, atol=2e-3)
    assert np.linalg.matrix_rank(S, tol=1e-8) == int(formula.split("d = ")[1][0])
    if ref.get("sigma"):
        assert abs(res.family_params["sigma"] - ref["sigma"]) < 2e-3 * ref["sigma"]


def test_rr_names_a_loading_each_and_refuses_profile_intervals():
    """One natural parameter per loading of the lower trapezoid (k d - d (d - 1) / 2 of them);
    profile intervals name the alternative, Wald."""
    res = interlace.fit("y ~ 0 + trait + rr(0 + trait | id, d = 2)", load("rr"), method="ML")
    nat = natural_parameters(res)
    loads = [n for n in nat.index if n.startswith("loading__")]
    assert len(loads) == 4 * 2 - 1
    assert loads[0] == "loading__trait[tr1].1|id" and "loading__trait[tr1].2|id" not in loads
    with pytest.raises(interlace.InterlaceError, match="use method='wald'"):
        res.conf_int(method="profile")


@settings(max_examples=30, deadline=None)
@given(k=st.integers(2, 6), d=st.integers(1, 6), seed=st.integers(0, 2**31 - 1))
def test_rr_factor_is_lower_trapezoidal_of_rank_d(k, d, seed):
    """rr's k x k factor has its loadings in the lower trapezoid of the first d columns (zero
    elsewhere), so Lambda Lambda' has rank min(d, k); its start from a covariance S of rank d
    reproduces S (whose d leading eigenvalues are above the start's floor)."""
    rr = ReducedRank(d=d)
    rng = np.random.default_rng(seed)
    theta = rng.normal(size=rr.ntheta(k)) + 0.1
    L = rr.factor(theta, k)
    assert np.allclose(L, np.tril(L)) and not L[:, min(d, k):].any()
    assert np.linalg.matrix_rank(L @ L.T) == np.linalg.matrix_rank(L[:, :min(d, k)])
    F = rng.normal(size=(k, min(d, k)))
    S = F @ F.T
    # the start floors eigenvalues at 1e-4 (a start off the boundary): laws for S above it
    assume(np.linalg.eigvalsh(S)[-min(d, k):].min() > 1e-3)
    L0 = rr.factor(rr.start_from_covariance(S, k), k)
    np.testing.assert_allclose(L0 @ L0.T, S, atol=1e-8 * max(1.0, np.abs(S).max()))


def test_rr_bad_rank_names_the_term():
    d = load("rr")
    with pytest.raises(interlace.errors.FormulaError, match=r"rank d = 5 but only 4 columns"):
        interlace.fit("y ~ 0 + trait + rr(0 + trait | id, d = 5)", d)
    with pytest.raises(interlace.errors.FormulaError, match="whole number >= 1"):
        interlace.fit("y ~ 0 + trait + rr(0 + trait | id, d = 0)", d)


def test_rr_loadings_have_wald_intervals_of_either_sign():
    """Loadings take any sign: their Wald intervals are on the identity scale (a log scale
    gave NaN for the negative ones), contain the estimate and widen with the level."""
    r = interlace.fit("y ~ 0 + trait + rr(0 + trait | id, d = 2)", load("rr"), method="ML")
    est = r.natural_params
    loadings = [n for n in est.index if n.startswith("loading__")]
    assert (est[loadings] < 0).any()
    ci95, ci99 = r.conf_int(parm="loading"), r.conf_int(parm="loading", level=0.99)
    assert np.all(np.isfinite(ci95.to_numpy()))
    assert np.all((ci95["lower"] < est[loadings]) & (est[loadings] < ci95["upper"]))
    assert np.all((ci99["lower"] < ci95["lower"]) & (ci95["upper"] < ci99["upper"]))


def test_ou_with_one_observation_per_visit_fits():
    """ou over irregular times: more random effects (levels x distinct times) than rows, but
    two parameters; glmmTMB fits it, and lme4's rows-vs-random-effects check is for us/diag."""
    rng = np.random.default_rng(3)
    times = np.sort(rng.uniform(0, 10, 8))
    ids = np.repeat(np.arange(60), 5)
    t = np.concatenate([np.sort(rng.choice(times, 5, replace=False)) for _ in range(60)])
    b = rng.normal(scale=0.8, size=60)[ids]
    df = pd.DataFrame({"y": 1.0 + b + rng.normal(scale=0.5, size=ids.size), "t": t,
                       "group": [f"s{i}" for i in ids]})
    df["times"] = interlace.num_factor(df["t"])
    r = interlace.fit("y ~ 1 + ou(0 + times | group)", df, method="ML")
    assert len(df) < 60 * 8 and np.isfinite(r.llf) and r.converged
    with pytest.raises(interlace.DataError, match="number of observations"):
        interlace.fit("y ~ 1 + (0 + times | group)", df, method="ML")


def test_summary_reports_a_structures_own_parameters():
    """summary() prints each structured term's own parameters (rho, rate, loadings) as
    conf_int names them; a model with only | and || terms prints no such section."""
    r = interlace.fit("y ~ x + t + ou(0 + times | group)", load("ou"), method="ML")
    text = str(r.summary())
    nat = r.natural_params
    own = [n for n in nat.index if n.endswith("|group")]
    assert "Covariance structures:" in text
    for name in own:
        assert f"{name} = {nat[name]:.4g}" in text
    plain = interlace.fit("Reaction ~ Days + (Days | Subject)", interlace.load_dataset("sleepstudy"))
    assert "Covariance structures" not in str(plain.summary())
