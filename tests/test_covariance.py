"""Covariance structures (the ``covariance`` plugin kind, interlace.covariance): the contract's
laws, parity with glmmTMB, a third-party structure, and bad input.

Reference: tests/reference/covstruct.R -> covstruct.json, glmmTMB 1.1.5:
``glmmTMB(y ~ x + tnum + ar1(0 + time | id), data, family, REML = ...)`` and the same with
``cs(0 + time | id)`` and ``toep(0 + time | id)`` (its lag correlations from the fitted
correlation matrix); Poisson GLMMs by Laplace; spatial Poisson GLMMs
``exp(pos + 0 | group)``, ``gau(...)`` and ``mat(...)`` with ``pos = numFactor(x, y)`` over
60 points (the range from the fitted correlation of the first two points; for mat that
correlation itself); sleepstudy with
``cs(1 + Days | Subject)``.
The simulated data are written by the script to tests/reference/data/covstruct_long.csv and
covstruct_spatial.csv.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from fixtures import REF_DIR, load_reference
from hypothesis import given, settings
from hypothesis import strategies as st

import interlace
from interlace.errors import FormulaError
from interlace.registry import resolve

REF = load_reference("covstruct.json")
CASES = {  # name: (formula, fitter, options)
    "lmm_ar1_ml": ("y ~ x + tnum + ar1(0 + time | id)", "fit", {"method": "ML"}),
    "lmm_ar1_reml": ("y ~ x + tnum + ar1(0 + time | id)", "fit", {"method": "REML"}),
    "lmm_cs_ml": ("y2 ~ x + tnum + cs(0 + time | id)", "fit", {"method": "ML"}),
    "lmm_cs_reml": ("y2 ~ x + tnum + cs(0 + time | id)", "fit", {"method": "REML"}),
    "pois_ar1": ("count ~ x + ar1(0 + time | id)", "glmer", {"family": "poisson"}),
    "pois_cs": ("count2 ~ x + cs(0 + time | id)", "glmer", {"family": "poisson"}),
    "pois_toep": ("count ~ x + toep(0 + time | id)", "glmer", {"family": "poisson"}),
    "pois_exp": ("count ~ z + exp(0 + pos | group)", "glmer", {"family": "poisson"}),
    "pois_mat": ("count ~ z + mat(0 + pos | group)", "glmer", {"family": "poisson"}),
    "pois_gau": ("count ~ z + gau(0 + pos | group)", "glmer", {"family": "poisson"}),
    "sleep_cs_ml": ("Reaction ~ Days + cs(1 + Days | Subject)", "fit", {"method": "ML"}),
    "sleep_cs_reml": ("Reaction ~ Days + cs(1 + Days | Subject)", "fit", {"method": "REML"}),
}


def long_data() -> pd.DataFrame:
    d = pd.read_csv(REF_DIR / "data" / "covstruct_long.csv")
    d["time"] = d["time"].astype("category")
    return d


def spatial_data() -> pd.DataFrame:
    d = pd.read_csv(REF_DIR / "data" / "covstruct_spatial.csv")
    d["pos"] = interlace.num_factor(d["x"], d["y"])  # glmmTMB's numFactor(x, y)
    return d


def data_for(case: str) -> pd.DataFrame:
    if case.startswith("sleep"):
        return interlace.load_dataset("sleepstudy")
    return spatial_data() if case in ("pois_exp", "pois_gau", "pois_mat") else long_data()


def fit_case(case: str):
    formula, fitter, opts = CASES[case]
    return getattr(interlace, fitter)(formula, data_for(case), **opts)


def structure_params(res) -> np.ndarray:
    """The structure's natural parameters (SDs, rho) as conf_int names them."""
    nat = res.natural_params if hasattr(res, "natural_params") else None
    if nat is None:
        from interlace.inference.parameters import natural_parameters
        nat = natural_parameters(res)
    own = ("sd__", "rho", "range__", "smoothness__")  # SDs, rho / rho1 ... (toep), mat
    return nat[[n for n in nat.index if n.startswith(own)]].to_numpy(float)


@pytest.mark.parametrize("case", sorted(CASES))
def test_parity_with_glmmtmb(case):
    ref = REF[case]
    res = fit_case(case)
    assert res.converged
    assert abs(res.llf - ref["loglik"]) < 1e-4, (res.llf, ref["loglik"])
    fe = res.fe_params
    np.testing.assert_allclose(fe[list(ref["fixef"])].to_numpy(), list(ref["fixef"].values()),
                               rtol=2e-3, atol=2e-3)
    ours = structure_params(res)
    if case == "pois_mat":  # R gives the correlation of its first two points, d apart
        from interlace.covariance.spatial import matern_correlation
        d12 = ref["structure_params"][2]
        ours = [ours[0], float(matern_correlation(np.array([d12]), ours[1], ours[2])[0]), d12]
    np.testing.assert_allclose(ours, ref["structure_params"], rtol=2e-3, atol=2e-3)
    if ref.get("sigma"):
        assert abs(res.family_params["sigma"] - ref["sigma"]) < 2e-3 * ref["sigma"]


# -- the plugin kind --------------------------------------------------------------------------
def test_structures_are_a_plugin_kind():
    listed = interlace.list_plugins()["covariance"]
    assert {"us", "diag", "ar1", "cs"} <= set(listed)
    from interlace.covariance.base import CovarianceStructure
    from interlace.registry import base_class
    assert base_class("covariance") is CovarianceStructure


def test_bars_use_the_registry_defaults():
    """(x | g) and (x || g) are the registered us and diag; naming them changes nothing."""
    sleep = interlace.load_dataset("sleepstudy")
    bare = interlace.fit("Reaction ~ Days + (Days | Subject)", sleep)
    named = interlace.fit("Reaction ~ Days + us(Days | Subject)", sleep)
    assert [t.structure.name for t in bare.context.design.terms] == ["us"]
    np.testing.assert_allclose(named.llf, bare.llf, rtol=0, atol=1e-9)
    diag = interlace.fit("Reaction ~ Days + (Days || Subject)", sleep)
    assert diag.context.design.terms[0].structure.name == "diag"
    assert diag.context.design.terms[0].ntheta == 2


# -- the contract's laws ----------------------------------------------------------------------
@settings(max_examples=40, deadline=None)
@given(name=st.sampled_from(["ar1", "cs", "toep"]), k=st.integers(2, 6),
       s=st.floats(0.05, 5.0), c=st.floats(-3.0, 3.0))
def test_factor_is_the_structure_and_derivatives_match_differences(name, k, s, c):
    """Lambda Lambda' / s^2 is the structure's correlation matrix (unit diagonal; ar1: rho^lag,
    cs: one rho, toep: rho_lag); factor_derivatives matches central differences of factor."""
    st_ = resolve("covariance", name)
    theta = {"ar1": np.array([s, c]), "cs": np.append(np.full(k, s), c),
             "toep": np.append(np.full(k, s), np.full(k - 1, c))}[name]
    L = st_.factor(theta, k)
    assert np.allclose(L, np.tril(L))
    R = L @ L.T / s**2
    np.testing.assert_allclose(np.diag(R), 1.0, atol=1e-10)
    nat = st_.natural_values(theta, k)
    lag = np.abs(np.subtract.outer(np.arange(k), np.arange(k)))
    want = {"ar1": lambda: nat[-1]**lag, "cs": lambda: np.where(lag == 0, 1.0, nat[-1]),
            "toep": lambda: np.append(1.0, nat[k:])[lag]}[name]()
    np.testing.assert_allclose(R, want, atol=1e-10)
    D = st_.factor_derivatives(theta, k)
    for j in range(theta.size):
        # Richardson's extrapolation of two central differences (error O(h^4)): a plain central
        # difference at h = 1e-5 loses ~4e-6 to rounding when the lag correlations approach -1
        def central(h, j=j):
            up, dn = theta.copy(), theta.copy()
            up[j] += h
            dn[j] -= h
            return (st_.factor(up, k) - st_.factor(dn, k)) / (2 * h)
        rich = (4 * central(5e-4) - central(1e-3)) / 3
        np.testing.assert_allclose(D[j], rich, atol=1e-6)
    scaled = st_.scale_theta(theta, 3.0, k)
    np.testing.assert_allclose(st_.factor(scaled, k), 3.0 * L, atol=1e-12)


@pytest.mark.parametrize("kind", ["fit", "glmer", "clmm"])
def test_cs_of_two_columns_is_the_unstructured_term(kind):
    """With two columns, cs is a reparametrisation of us: the same maximum likelihood."""
    sleep = interlace.load_dataset("sleepstudy").assign(Days=lambda d: d["Days"] / 3)
    y = {"fit": "Reaction", "glmer": "fast", "clmm": "band"}[kind]
    sleep["fast"] = (sleep["Reaction"] < 280).astype(int)
    sleep["band"] = pd.Categorical(pd.cut(sleep["Reaction"], [0, 250, 300, 1e9],
                                          labels=["a", "b", "c"]), ordered=True)
    opts = {"fit": {"method": "ML"}, "glmer": {"family": "binomial"}, "clmm": {}}[kind]
    fitter = getattr(interlace, kind)
    us = fitter(f"{y} ~ Days + (1 + Days | Subject)", sleep, **opts)
    cs = fitter(f"{y} ~ Days + cs(1 + Days | Subject)", sleep, **opts)
    np.testing.assert_allclose(cs.llf, us.llf, rtol=0, atol=1e-5)


# -- configs and the command line -------------------------------------------------------------
def _config(tmp_path, formula: str, extra: str = "") -> str:
    path = REF_DIR / "data" / "covstruct_long.csv"
    return (f"data: {{path: {path}, factors: [time]}}\nmodel: lmm\nmethod: ML\n"
            f"formula: {formula}\n{extra}")


def test_config_and_cli_fit_a_structure(tmp_path, capsys):
    import json

    from interlace.cli import main
    from interlace.config import loads, run_fit
    (spec,) = loads(_config(tmp_path, "y ~ x + tnum + ar1(0 + time | id)"))
    rec = run_fit(spec)
    assert rec["status"] == "ok"
    assert rec["result"]["fit"]["llf"] == pytest.approx(REF["lmm_ar1_ml"]["loglik"], abs=1e-4)
    cfg = tmp_path / "ar1.yaml"
    cfg.write_text(_config(tmp_path, "y ~ x + tnum + ar1(0 + time | id)"))
    out = tmp_path / "ar1.json"
    assert main(["run", str(cfg), "--output", str(out), "--quiet"]) == 0
    got = json.loads(out.read_text())["result"]
    assert got["fit"]["llf"] == pytest.approx(REF["lmm_ar1_ml"]["loglik"], abs=1e-4)


def test_config_names_an_unknown_structure():
    from interlace.config import check_formula
    problems = check_formula("y ~ x + arone(0 + time | id)").problems
    assert problems and "arone" in problems[0] and "ar1, cs" in problems[0]


# -- bad input --------------------------------------------------------------------------------
@pytest.mark.parametrize("formula, match", [
    ("y ~ x + foo(0 + time | id)", r"unknown covariance structure 'foo' in .*foo\(0 \+ time \| "
                                   r"id\); registered structures: .*ar1, cs, diag.*us"),
    ("y ~ x + ar1(0 + tnum | id)", r"'ar1' in ar1\(0 \+ tnum \| id\) runs over the ordered "
                                   r"levels of a factor.*got the column\(s\) tnum"),
    ("y ~ x + ar1(1 + time | id)", r"ar1\(1 \+ time \| id\).*an intercept left in"),
    ("y ~ x + cs(1 | id)", r"'cs' in cs\(1 \| id\) needs at least 2 columns"),
    ("y ~ x + ar1(0 + time || id)", r"single bar"),
])
def test_bad_structures_name_the_term(formula, match):
    with pytest.raises(FormulaError, match=match):
        interlace.fit(formula, long_data())


def test_more_parameters_than_levels():
    d = long_data()
    d = d[d["id"].isin(["s01", "s02", "s03"])]
    with pytest.raises(interlace.DataError, match=r"'cs' in cs\(0 \+ time \| id\) has 7 "
                                                   r"parameters but .* only 3 levels"):
        interlace.fit("y2 ~ x + cs(0 + time | id)", d)


# -- a third-party structure ------------------------------------------------------------------
def _random_walk_plugin():
    """A first-order random walk over a factor's ordered levels: b_1 ~ N(0, s^2), b_t = b_{t-1}
    + N(0, s^2), so Cov(b_i, b_j) = s^2 min(i, j) and Lambda = s * (lower triangle of ones)."""
    import types

    from interlace.covariance import CovarianceStructure

    class RandomWalk(CovarianceStructure):
        name = "rw1"

        def ntheta(self, k, nlevels=0):
            return 1

        def factor(self, theta, k):
            return float(theta[0]) * np.tril(np.ones((k, k)))

        def lower_bounds(self, k):
            return np.zeros(1)

        def start(self, k):
            return np.ones(1)

        def parameter_names(self, group, columns):
            return [f"{group}.rw1.sd"]

        def parameter_kinds(self, k):
            return ["sd"]

        def natural_names(self, group, columns):
            return [f"sd__rw1|{group}"]

        def natural_values(self, theta, k):
            return np.array([float(theta[0])])

    mod = types.ModuleType("my_rw1_plugin")

    @interlace.hookimpl
    def interlace_covariances():
        return [RandomWalk]

    mod.interlace_covariances = interlace_covariances
    return mod


def test_third_party_structure_by_name_from_python_and_yaml(tmp_path):
    from interlace.config import loads, run_fit
    from interlace.registry import registry, reload_plugins
    registry().register(_random_walk_plugin(), name="my_rw1_plugin")
    try:
        assert "rw1" in interlace.list_plugins()["covariance"]
        d = long_data()
        res = interlace.fit("y ~ x + tnum + rw1(0 + time | id)", d, method="ML")
        assert res.converged
        term = res.context.design.terms[0]
        # the same model through its marginal covariance: Z (s^2 sigma^2 K) Z' + sigma^2 I
        s = res.theta_absolute[0]
        assert res.conf_int(method="wald").index[0] == "sd__rw1|id"
        assert np.isfinite(s) and s > 0
        K = np.minimum.outer(np.arange(1, 7), np.arange(1, 7)).astype(float)
        np.testing.assert_allclose(term.covariance(res.theta_absolute), s**2 * K, rtol=1e-12)
        # its log-likelihood is the Gaussian density of y with V = Z G Z' (within id) + sigma^2 I
        sigma = res.family_params["sigma"]
        same = term.codes[:, None] == term.codes[None, :]
        V = (term.Z @ (s**2 * K) @ term.Z.T) * same + sigma**2 * np.eye(len(d))
        r = d["y"].to_numpy() - res.context.design.X @ res.fe_params.to_numpy()
        _, logdet = np.linalg.slogdet(V)
        llf = -0.5 * (len(d) * np.log(2 * np.pi) + logdet + r @ np.linalg.solve(V, r))
        np.testing.assert_allclose(res.llf, llf, rtol=0, atol=1e-8)
        (spec,) = loads(_config(tmp_path, "y ~ x + tnum + rw1(0 + time | id)"))
        rec = run_fit(spec)
        assert rec["status"] == "ok"
        assert rec["result"]["fit"]["llf"] == pytest.approx(res.llf, abs=1e-8)
    finally:
        reload_plugins()
    assert "rw1" not in interlace.list_plugins()["covariance"]


def test_num_factor_levels_and_bad_coordinates():
    f = interlace.num_factor([2, 1, 1.5, 1], [0, 3, 1, 3])
    assert list(f.categories) == ["(1,3)", "(1.5,1)", "(2,0)"]
    assert list(f) == ["(2,0)", "(1,3)", "(1.5,1)", "(1,3)"]
    with pytest.raises(interlace.DataError, match="coordinate 2 has 1 missing or infinite"):
        interlace.num_factor([1.0, 2.0], [0.0, np.nan])


def test_spatial_structure_needs_points():
    d = spatial_data()
    with pytest.raises(FormulaError, match=r"'exp' in exp\(0 \+ z \| group\) runs over points: "
                                           r"write 'exp\(0 \+ pos \| group\)' with pos = "
                                           r"interlace.num_factor"):
        interlace.glmer("count ~ z + exp(0 + z | group)", d, family="poisson")


def test_ou_is_the_exponential_structure_in_one_dimension():
    """ou over times t: correlation exp(-rate |t - s|), the exp structure with range 1/rate."""
    d = long_data()
    d["times"] = interlace.num_factor(d["tnum"] * 0.5)
    ou = interlace.fit("y ~ x + ou(0 + times | id)", d, method="ML")
    ex = interlace.fit("y ~ x + exp(0 + times | id)", d, method="ML")
    np.testing.assert_allclose(ou.llf, ex.llf, rtol=0, atol=1e-8)
    ci_ou = ou.conf_int(method="wald")
    rate = ci_ou.index.get_loc("rate__ou|id")
    from interlace.inference.parameters import natural_parameters
    nat_ou, nat_ex = natural_parameters(ou), natural_parameters(ex)
    np.testing.assert_allclose(nat_ou["rate__ou|id"] * nat_ex["range__exp|id"], 1.0, rtol=1e-6)
    assert rate == 1
