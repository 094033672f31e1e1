"""Adaptive Gauss-Hermite quadrature (``nAGQ > 1``, integrator "agq").

References:
- tests/reference/lme4_agq.json, written by tests/reference/lme4_agq.R (lme4 1.1-31): each fit
  with lme4's default control and with tight control ("tight": bobyqa, tolPwrss = 1e-12,
  rhoend = 1e-10). lme4's default PIRLS tolerance leaves errors up to ~1e-3 relative in its
  estimates, so parity at 1e-4 (fixed effects) / 1e-3 (variance) is against the tight fit; the
  default fit is checked at a looser tolerance (2e-3 / 5e-3).
- lme4's logLik for nAGQ > 1 omits the saturated log-likelihood (binomial coefficients, log y!
  ...); the JSON's "loglik_full" adds it back, and interlace's llf must equal that.
- An independent evaluation of each group's integral with scipy.integrate.quad (no PIRLS, no
  quadrature rule of ours), for convergence of the AGQ log-likelihood to the exact integral.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import integrate, optimize

import interlace
from interlace import NegativeBinomial2Family
from interlace.errors import InterlaceError, UnsupportedModelError
from interlace.glmm.pirls import pirls
from interlace.glmm.resolve import resolve_family
from interlace.integrators.agq import AGQIntegrator, ProductAGQIntegrator
from interlace.integrators.laplace import LaplaceIntegrator
from interlace.model.context import ModelContext
from interlace.model.design import build_design
from interlace.model.formula import parse_formula
from interlace.registry import resolve

REF_DIR = Path(__file__).parent / "reference"
REF = json.loads((REF_DIR / "lme4_agq.json").read_text())["fixtures"]

FE_TOL, VAR_TOL = 1e-4, 1e-3  # vs lme4 tight
FE_TOL_DEFAULT, VAR_TOL_DEFAULT = 2e-3, 5e-3  # vs lme4 default control

CBPP_F = "cbind(incidence, size - incidence) ~ period + (1 | herd)"
SPARSE_F = "y ~ x + (1 | g)"
COUNTS_F = "count ~ x1 + x2 + (1 | site)"


def sparse_binary() -> pd.DataFrame:
    return pd.read_csv(REF_DIR / "data" / "sparse_binary.csv", dtype={"g": str})


MODELS = {
    "cbpp": (CBPP_F, lambda: interlace.load_dataset("cbpp"), "binomial"),
    "sparse_binary": (SPARSE_F, sparse_binary, "binomial"),
    "poisson_counts": (COUNTS_F, lambda: interlace.load_dataset("seed_counts"), "poisson"),
    "nb2_counts": (COUNTS_F, lambda: interlace.load_dataset("seed_counts"),
                   lambda: NegativeBinomial2Family(theta=2.0)),
    "scalar_slope": ("y ~ x + (0 + x | g)",
                     lambda: pd.read_csv(REF_DIR / "data" / "binom_slopes.csv", dtype={"g": str}),
                     "binomial"),
}


@cache
def fitted(key: str, nagq: int, integrator: str | None = None):
    formula, data, family = MODELS[key]
    fam = family() if callable(family) else family
    return interlace.glmer(formula, data(), family=fam, nAGQ=nagq, integrator=integrator)


def lme4(key: str, nagq: int, tight: bool = True) -> dict:
    rec = REF[key]["fits"][f"nAGQ_{nagq}"]
    return rec["tight"] if tight else rec


def rel(a, b) -> np.ndarray:
    a, b = np.asarray(a, float), np.asarray(b, float)
    return np.abs(a - b) / np.maximum(np.abs(b), 1e-300)


def check_parity(r, ref: dict, fe_tol: float, var_tol: float) -> None:
    fe = r.fe_params.to_numpy()
    fe_ref = np.array(list(ref["fixef"].values()))
    assert fe.shape == fe_ref.shape  # same columns in the same order (names differ: period2
    # in R is period[T.2] here)
    assert np.all(rel(fe, fe_ref) < fe_tol), (fe, fe_ref, rel(fe, fe_ref))
    var, var_ref = r.theta[0] ** 2, ref["theta"][0] ** 2
    assert rel(var, var_ref) < var_tol, (var, var_ref)


# ---------------------------------------------------------------------------------------------
# Independent reference: each group's integral by adaptive quadrature (scipy.integrate.quad)
# ---------------------------------------------------------------------------------------------
def quad_group_logliks(ctx, theta, beta, fp) -> np.ndarray:
    """log of  integral prod_{i in j} p(y_i | u) N(u; 0, 1) du  per group, by scipy quad.

    Uses only the family's density and the design; the integrand is centred at its own maximum
    (found by scipy) so that quad sees a peak of height 1.
    """
    d, fam, link = ctx.design, ctx.family, ctx.link
    term = d.terms[0]
    zl = term.ZLambda(np.asarray(theta))[:, 0]
    eta0 = d.offset + d.X @ beta
    out = np.empty(term.nlevels)
    for j in range(term.nlevels):
        rows = term.codes == j
        y, w, e0, z = d.y[rows], d.weights[rows], eta0[rows], zl[rows]

        def g(u, y=y, w=w, e0=e0, z=z):
            return float(np.sum(fam.loglik(y, link.inverse(e0 + z * u), w, fp))) - 0.5 * u * u

        c = optimize.minimize_scalar(lambda u, g=g: -g(u), bracket=(-1.0, 1.0)).x
        gc = g(c)
        # the peak's width: 1 / sqrt(curvature), below 1 when the data dominate the prior
        # (a Poisson group with counts in the thousands has a peak ~0.003 wide, which quad
        # over +-40 does not see); the integrand is log-concave, so +-40 widths hold it all
        e = 1e-4
        curv = -(g(c + e) - 2.0 * gc + g(c - e)) / e**2
        half = 40.0 * min(1.0, 1.0 / np.sqrt(max(curv, 1e-12)))
        val, _ = integrate.quad(lambda u, g=g, gc=gc: np.exp(g(u) - gc), c - half, c + half,
                                points=[c], epsabs=0.0, epsrel=1e-13, limit=500)
        out[j] = gc + np.log(val) - 0.5 * np.log(2.0 * np.pi)
    return out


def agq_group_logliks(ctx, theta, beta, fp, nagq: int) -> np.ndarray:
    res = pirls(ctx, np.asarray(theta), beta, fp, np.zeros(ctx.system.q))
    return AGQIntegrator(nagq).group_logliks(ctx, np.asarray(theta), beta, fp, res.u,
                                             res.factor.L0)


def at_fit(r):
    return r.context, r.theta_absolute, r.fe_params.to_numpy(), r.family_params


# ---------------------------------------------------------------------------------------------
# Registration
# ---------------------------------------------------------------------------------------------
def test_agq_is_registered_with_alias():
    assert "agq" in interlace.list_plugins()["integrator"]
    a = resolve("integrator", "adaptive_gauss_hermite", nAGQ=7)
    assert isinstance(a, AGQIntegrator) and a.nAGQ == 7


def test_nagq_above_one_selects_agq():
    r = fitted("cbpp", 25)
    assert r.integrator == "agq" and r.nAGQ == 25


# ---------------------------------------------------------------------------------------------
# Parity with lme4
# ---------------------------------------------------------------------------------------------
def test_cbpp_nagq25_matches_lme4_tight():
    # reference: lme4 glmer(cbind(incidence, size - incidence) ~ period + (1 | herd), cbpp,
    # binomial, nAGQ = 25) with tight control
    check_parity(fitted("cbpp", 25), lme4("cbpp", 25), FE_TOL, VAR_TOL)


def test_cbpp_nagq25_matches_lme4_default():
    # reference: the same lme4 fit with default control (looser: lme4's PIRLS tolerance)
    check_parity(fitted("cbpp", 25), lme4("cbpp", 25, tight=False),
                 FE_TOL_DEFAULT, VAR_TOL_DEFAULT)


@pytest.mark.parametrize("nagq", [5, 10, 20, 25])
def test_sparse_binary_matches_lme4_tight(nagq):
    # reference: lme4 glmer(y ~ x + (1 | g), data/sparse_binary.csv, binomial, nAGQ = nagq),
    # tight control; 300 groups of 2-5 Bernoulli observations, random-intercept sd 2
    check_parity(fitted("sparse_binary", nagq), lme4("sparse_binary", nagq), FE_TOL, VAR_TOL)


def test_sparse_binary_nagq20_matches_lme4_default():
    # reference: lme4 default control, nAGQ = 20
    check_parity(fitted("sparse_binary", 20), lme4("sparse_binary", 20, tight=False),
                 FE_TOL_DEFAULT, VAR_TOL_DEFAULT)


def test_poisson_nagq10_matches_lme4_tight():
    # reference: lme4 glmer(count ~ x1 + x2 + (1 | site), seed_counts, poisson, nAGQ = 10), tight
    check_parity(fitted("poisson_counts", 10), lme4("poisson_counts", 10), FE_TOL, VAR_TOL)
    check_parity(fitted("poisson_counts", 10), lme4("poisson_counts", 10, tight=False),
                 FE_TOL_DEFAULT, VAR_TOL_DEFAULT)


def test_nb2_family_nagq10_matches_lme4_tight():
    # reference: lme4 glmer(count ~ x1 + x2 + (1 | site), seed_counts,
    # MASS::negative.binomial(theta = 2), nAGQ = 10), tight: a family beyond binomial/Poisson
    check_parity(fitted("nb2_counts", 10), lme4("nb2_counts", 10), FE_TOL, VAR_TOL)


def test_scalar_random_slope_nagq10_matches_lme4_tight():
    # reference: lme4 glmer(y ~ x + (0 + x | g), data/binom_slopes.csv, binomial, nAGQ = 10),
    # tight: a single random slope is a scalar term too, so lme4 and interlace accept nAGQ > 1
    check_parity(fitted("scalar_slope", 10), lme4("scalar_slope", 10), FE_TOL, VAR_TOL)


@pytest.mark.parametrize("key,nagq", [("cbpp", 25), ("sparse_binary", 20), ("sparse_binary", 5),
                                      ("poisson_counts", 10), ("nb2_counts", 10),
                                      ("scalar_slope", 10)])
def test_loglik_equals_lme4_with_constants_restored(key, nagq):
    # reference: lme4's logLik plus the saturated log-likelihood it omits for nAGQ > 1
    # ("loglik_full"); at (nearly) the same optimum the values agree to rounding
    r, ref = fitted(key, nagq), lme4(key, nagq)
    assert abs(r.llf - ref["loglik_full"]) < 1e-6, (r.llf, ref["loglik_full"], ref["loglik"])


def test_se_close_to_lme4():
    # reference: lme4 tight, Hessian-based standard errors (both numerical Hessians: 1e-3)
    for key, nagq in [("cbpp", 25), ("sparse_binary", 20), ("poisson_counts", 10)]:
        r, ref = fitted(key, nagq), lme4(key, nagq)
        se_ref = np.array(list(ref["se"].values()))
        assert np.all(rel(r.fe_bse.to_numpy(), se_ref) < 1e-3), (key, r.fe_bse, se_ref)


# ---------------------------------------------------------------------------------------------
# nAGQ = 1 is the Laplace approximation
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("key", ["cbpp", "sparse_binary", "poisson_counts"])
def test_agq_with_one_node_is_laplace(key):
    lap = fitted(key, 1)
    ctx, theta, beta, fp = at_fit(lap)
    u0 = np.zeros(ctx.system.q)
    ll_lap = LaplaceIntegrator().integrate(ctx, theta, beta, fp, u0).loglik
    ll_agq = AGQIntegrator(1).integrate(ctx, theta, beta, fp, u0).loglik
    assert abs(ll_agq - ll_lap) < 1e-10 * max(1.0, abs(ll_lap))
    # and a whole fit through the agq integrator at nAGQ = 1 reaches the Laplace optimum
    r = fitted(key, 1, "agq")
    assert r.integrator == "agq"
    assert abs(r.llf - lap.llf) < 1e-8
    np.testing.assert_allclose(r.fe_params.to_numpy(), lap.fe_params.to_numpy(), rtol=1e-5)


def test_gaussian_response_is_exact_for_any_nagq():
    # a Gaussian integrand: Laplace and every Gauss-Hermite rule are exact
    df = interlace.load_dataset("sleepstudy")
    r = interlace.glmer("Reaction ~ Days + (1 | Subject)", df, family="gaussian")
    ctx, theta, beta, fp = at_fit(r)
    u0 = np.zeros(ctx.system.q)
    lap = LaplaceIntegrator().integrate(ctx, theta, beta, fp, u0).loglik
    for k in (2, 3, 7, 20):
        assert abs(AGQIntegrator(k).integrate(ctx, theta, beta, fp, u0).loglik - lap) < 1e-8


# ---------------------------------------------------------------------------------------------
# Convergence to the exact integral
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("key,nagq", [("cbpp", 25), ("sparse_binary", 20), ("poisson_counts", 10)])
def test_converges_to_quad_integral(key, nagq):
    # reference: scipy quad of every group's integral at interlace's fitted parameters
    ctx, theta, beta, fp = at_fit(fitted(key, nagq))
    exact = quad_group_logliks(ctx, theta, beta, fp)
    errs = {}
    for k in (1, 5, 10, 25, 50):
        gl = agq_group_logliks(ctx, theta, beta, fp, k)
        errs[k] = abs(gl.sum() - exact.sum())
        if k == 50:
            np.testing.assert_allclose(gl, exact, rtol=0, atol=1e-8)
    assert errs[50] < 1e-6
    # the error shrinks as nAGQ grows (until it reaches quad's own rounding)
    ks = sorted(errs)
    for a, b in zip(ks, ks[1:]):
        assert errs[b] < errs[a] or errs[b] < 1e-9, errs
    # the integrator's total (kernel + data-only constant) equals the sum of the groups
    tot = AGQIntegrator(50).integrate(ctx, theta, beta, fp, np.zeros(ctx.system.q)).loglik
    assert abs(tot - exact.sum()) < 1e-6


def test_sparse_binary_laplace_error_is_large_agq_is_not():
    # where Laplace is visibly off: 2-5 binary observations per group, sd 2
    ctx, theta, beta, fp = at_fit(fitted("sparse_binary", 20))
    exact = quad_group_logliks(ctx, theta, beta, fp).sum()
    assert abs(agq_group_logliks(ctx, theta, beta, fp, 1).sum() - exact) > 1.0
    assert abs(agq_group_logliks(ctx, theta, beta, fp, 20).sum() - exact) < 1e-3


# ---------------------------------------------------------------------------------------------
# The exact gradient (used by the optimizer and for the Hessian)
# ---------------------------------------------------------------------------------------------
def fd_check_gradient(ctx, theta, beta, fp, nagq, est=(), rel_tol=1e-6):
    """The integrator's gradient of -2 log L vs central differences of -2 log L."""
    integ = AGQIntegrator(nagq)
    params = ctx.family.parameters
    x = np.concatenate([theta, beta, [params[k].to_unconstrained(fp[k]) for k in est]])
    u0 = np.zeros(ctx.system.q)

    def unpack(x):
        f = dict(fp)
        for i, k in enumerate(est):
            f[k] = params[k].from_unconstrained(x[theta.size + beta.size + i])
        return x[: theta.size], x[theta.size: theta.size + beta.size], f

    def dev(x):
        return -2.0 * integ.integrate(ctx, *unpack(x), u0).loglik

    t, b, f = unpack(x)
    g = integ.gradient(ctx, t, b, f, integ.integrate(ctx, t, b, f, u0), list(est))
    gfd = np.empty_like(x)
    for i in range(x.size):
        h = 1e-5 * max(1.0, abs(x[i]))
        e = np.zeros_like(x)
        e[i] = h
        gfd[i] = (dev(x + e) - dev(x - e)) / (2 * h)
    scale = max(1.0, abs(dev(x)) * 1e-3)
    np.testing.assert_allclose(g, gfd, rtol=0, atol=rel_tol * scale)
    return g


@pytest.mark.parametrize("formula,data,family,link,nagq", [
    (CBPP_F, "cbpp", "binomial", "logit", 25),
    (CBPP_F, "cbpp", "binomial", "probit", 10),  # non-canonical: observed != expected info
    (CBPP_F, "cbpp", "binomial", "cloglog", 10),
    (SPARSE_F, "sparse", "binomial", "logit", 20),
    (COUNTS_F, "seed_counts", "poisson", "sqrt", 10),
    (COUNTS_F, "seed_counts", "nbinom2", "log", 10),  # NB2 shape estimated: a family parameter
])
def test_gradient_matches_finite_differences(formula, data, family, link, nagq):
    df = sparse_binary() if data == "sparse" else interlace.load_dataset(data)
    fam = resolve_family(family, link)
    ctx = ModelContext.build(build_design(parse_formula(formula), df, fam), fam)
    rng = np.random.default_rng(7)
    est = [k for k, p in fam.parameters.items() if not p.fixed]
    fp = fam.parameter_values()
    beta = rng.normal(scale=0.3, size=ctx.design.p)
    beta[0] = -1.0 if family == "binomial" else 0.8
    if link == "sqrt":
        beta[0] = 1.5
    fd_check_gradient(ctx, np.array([0.9]), beta, fp, nagq, est)


def test_gradient_at_one_node_is_laplace_gradient():
    r = fitted("cbpp", 1)
    ctx, theta, beta, fp = at_fit(r)
    theta, beta = theta * 1.3, beta + 0.05
    u0 = np.zeros(ctx.system.q)
    lap = LaplaceIntegrator()
    g_lap = lap.gradient(ctx, theta, beta, fp, lap.integrate(ctx, theta, beta, fp, u0), [])
    agq = AGQIntegrator(1)
    g_agq = agq.gradient(ctx, theta, beta, fp, agq.integrate(ctx, theta, beta, fp, u0), [])
    np.testing.assert_allclose(g_agq, g_lap, rtol=1e-10, atol=1e-10)


def test_gradient_vanishes_at_the_agq_optimum():
    for key, nagq in [("cbpp", 25), ("sparse_binary", 20), ("poisson_counts", 10)]:
        r = fitted(key, nagq)
        ctx, theta, beta, fp = at_fit(r)
        integ = AGQIntegrator(nagq)
        out = integ.integrate(ctx, theta, beta, fp, np.zeros(ctx.system.q))
        assert np.max(np.abs(integ.gradient(ctx, theta, beta, fp, out, []))) < 1e-3


# ---------------------------------------------------------------------------------------------
# The log-likelihood keeps every constant
# ---------------------------------------------------------------------------------------------
def test_loglik_comparable_with_laplace():
    lap, agq = fitted("cbpp", 1), fitted("cbpp", 25)
    assert abs(agq.llf - lap.llf) < 0.1
    # lme4's nAGQ = 25 logLik drops the binomial coefficients: it is ~40 away from its Laplace
    lme4_gap = abs(lme4("cbpp", 25)["loglik"] - lme4("cbpp", 1)["loglik"])
    assert lme4_gap > 10.0
    # AIC/BIC follow from the same llf, with the same parameter count as Laplace
    assert agq.aic == pytest.approx(-2 * agq.llf + 2 * 5)
    assert agq.df_modelwc == lap.df_modelwc


def test_loglik_increases_towards_exact_on_sparse_binary():
    # Laplace underestimates the marginal likelihood here; AGQ values agree among nAGQ >= 10
    lls = {k: fitted("sparse_binary", k).llf for k in (1, 5, 10, 20, 25)}
    assert lls[1] < lls[5] - 1.0
    assert abs(lls[20] - lls[25]) < 1e-3 and abs(lls[10] - lls[25]) < 0.05


# ---------------------------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------------------------
def test_two_grouping_factors_refused():
    df = interlace.load_dataset("seed_counts")
    with pytest.raises(UnsupportedModelError, match="nAGQ") as e:
        interlace.glmer("count ~ x1 + x2", df, family="poisson", groups=["site", "year"], nAGQ=5)
    msg = str(e.value)
    assert "independent one-dimensional integrals" in msg and "nAGQ=1" in msg


def test_random_slope_refused():
    df = pd.read_csv(REF_DIR / "data" / "binom_slopes.csv", dtype={"g": str})
    with pytest.raises(UnsupportedModelError, match="nAGQ") as e:
        interlace.glmer("y ~ x + (1 + x | g)", df, family="binomial", nAGQ=10)
    msg = str(e.value)
    assert "nAGQ^d" in msg and "10^2 = 100" in msg and "Laplace" in msg
    assert isinstance(e.value, NotImplementedError)  # also caught as NotImplementedError


def test_agq_integrator_refuses_multiple_terms_even_at_one_node():
    df = interlace.load_dataset("seed_counts")
    with pytest.raises(UnsupportedModelError, match="nAGQ"):
        interlace.glmer("count ~ x1 + x2", df, family="poisson", groups=["site", "year"],
                        nAGQ=1, integrator="agq")


@pytest.mark.parametrize("bad", [0, -1, 2.5, 1000, True, "5"])
def test_bad_nagq_values(bad):
    df = interlace.load_dataset("cbpp")
    with pytest.raises(InterlaceError, match="nAGQ"):
        interlace.glmer(CBPP_F, df, family="binomial", nAGQ=bad)


def test_integral_float_nagq_accepted():
    r = interlace.glmer(CBPP_F, interlace.load_dataset("cbpp"), family="binomial", nAGQ=25.0)
    assert r.nAGQ == 25 and abs(r.llf - fitted("cbpp", 25).llf) < 1e-8


def test_sqrt_link_nodes_outside_domain():
    # Poisson with sqrt link: outer nodes can reach eta <= 0 and must just contribute nothing
    df = interlace.load_dataset("seed_counts")
    r = interlace.glmer(COUNTS_F, df, family="poisson", link="sqrt", nAGQ=10)
    lap = interlace.glmer(COUNTS_F, df, family="poisson", link="sqrt")
    assert np.isfinite(r.llf) and abs(r.llf - lap.llf) < 0.5
    ctx, theta, beta, fp = at_fit(r)
    res = pirls(ctx, theta, beta, fp, np.zeros(ctx.system.q))
    big = AGQIntegrator(60).group_logliks(ctx, theta * 4.0, beta, fp, res.u, res.factor.L0)
    assert np.all(np.isfinite(big))


# ---------------------------------------------------------------------------------------------
# Property test: random scalar-intercept data sets
# ---------------------------------------------------------------------------------------------
def build_ctx(formula: str, df: pd.DataFrame, family: str) -> ModelContext:
    fam = resolve_family(family)
    return ModelContext.build(build_design(parse_formula(formula), df, fam), fam)


@st.composite
def datasets(draw):
    family = draw(st.sampled_from(["bernoulli", "binomial", "poisson"]))
    seed = draw(st.integers(0, 2**31 - 1))
    ngroups = draw(st.integers(2, 8))
    sizes = draw(st.lists(st.integers(1, 6), min_size=ngroups, max_size=ngroups))
    sd = draw(st.floats(0.05, 3.0))
    b0 = draw(st.floats(-1.5, 1.5))
    b1 = draw(st.floats(-1.0, 1.0))
    rng = np.random.default_rng(seed)
    g = np.repeat([f"g{i}" for i in range(ngroups)], sizes)
    x = rng.normal(size=g.size)
    eta = b0 + b1 * x + sd * rng.normal(size=ngroups)[np.repeat(np.arange(ngroups), sizes)]
    df = pd.DataFrame({"g": g, "x": x})
    if family == "poisson":
        df["y"] = rng.poisson(np.exp(eta))
        formula = "y ~ x + (1 | g)"
    elif family == "binomial":
        n = rng.integers(1, 8, size=g.size)
        df["k"] = rng.binomial(n, 1 / (1 + np.exp(-eta)))
        df["n"] = n
        formula = "cbind(k, n - k) ~ x + (1 | g)"
    else:
        df["y"] = rng.binomial(1, 1 / (1 + np.exp(-eta)))
        formula = "y ~ x + (1 | g)"
    fam = "poisson" if family == "poisson" else "binomial"
    return build_ctx(formula, df, fam), np.array([sd]), np.array([b0, b1])


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(datasets())
def test_property_one_node_is_laplace_and_many_nodes_are_exact(data):
    ctx, theta, beta = data
    u0 = np.zeros(ctx.system.q)
    lap = LaplaceIntegrator().integrate(ctx, theta, beta, {}, u0).loglik
    one = AGQIntegrator(1).integrate(ctx, theta, beta, {}, u0).loglik
    assert abs(one - lap) < 1e-10 * max(1.0, abs(lap))
    exact = quad_group_logliks(ctx, theta, beta, {})
    # The hardest integrands here are groups of Poisson zeros (or Bernoulli ones) with a
    # large sd: the likelihood exp(-exp(eta)) is a one-sided plateau, far from a Gaussian, and
    # Gauss-Hermite converges slowly. Scanning sd <= 3 and |eta| <= 6, the largest per-group
    # error was 7.3e-5 at 40 nodes and 6.8e-7 at 100 nodes; typical errors are far smaller.
    many = agq_group_logliks(ctx, theta, beta, {}, 40)
    np.testing.assert_allclose(many, exact, rtol=0, atol=2e-4)
    most = agq_group_logliks(ctx, theta, beta, {}, 100)
    np.testing.assert_allclose(most, exact, rtol=0, atol=2e-6)
    assert np.max(np.abs(most - exact)) <= np.max(np.abs(many - exact)) + 1e-9
    total = AGQIntegrator(100).integrate(ctx, theta, beta, {}, u0).loglik
    assert abs(total - most.sum()) < 1e-9 * max(1.0, abs(total))  # kernel + constant = sum


def test_large_counts_many_nodes_are_exact():
    """A Poisson group with counts near 20,000 (found by the property test above): its
    posterior is ~0.003 wide, and 100 adaptive nodes still give the exact integral."""
    rng = np.random.default_rng(4)
    sizes, sd, b0, b1 = [3, 3, 3, 3], 3.0, 1.5, 1.0
    g = np.repeat([f"g{i}" for i in range(4)], sizes)
    x = rng.normal(size=g.size)
    eta = b0 + b1 * x + sd * rng.normal(size=4)[np.repeat(np.arange(4), sizes)]
    df = pd.DataFrame({"g": g, "x": x, "y": rng.poisson(np.exp(eta))})
    assert df["y"].max() > 10_000
    ctx = build_ctx("y ~ x + (1 | g)", df, "poisson")
    exact = quad_group_logliks(ctx, np.array([sd]), np.array([b0, b1]), {})
    most = agq_group_logliks(ctx, np.array([sd]), np.array([b0, b1]), {}, 100)
    np.testing.assert_allclose(most, exact, rtol=0, atol=2e-6)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(datasets(), st.sampled_from([1, 3, 10, 25]))
def test_property_gradient_matches_finite_differences(data, nagq):
    ctx, theta, beta = data
    fd_check_gradient(ctx, theta, beta, {}, nagq)


# ---------------------------------------------------------------------------------------------
# Product rule for a vector random effect (integrator "agq_product"; beyond lme4)
# ---------------------------------------------------------------------------------------------
SLOPES_F = "y ~ x + (1 + x | g)"


def binom_slopes() -> pd.DataFrame:
    return pd.read_csv(REF_DIR / "data" / "binom_slopes.csv", dtype={"g": str})


@cache
def slopes_laplace():
    return interlace.glmer(SLOPES_F, binom_slopes(), family="binomial")


def grid_group_logliks_2d(ctx, theta, beta, fp, groups, half_width=8.0, step=0.04):
    """Each group's 2-D integral by the trapezoidal rule on a fine square grid around its own
    maximum (found by scipy): exponentially accurate for these smooth, fast-decaying integrands
    and independent of PIRLS and of Gauss-Hermite rules."""
    d, fam, link = ctx.design, ctx.family, ctx.link
    t = d.terms[0]
    zl = t.ZLambda(np.asarray(theta))
    eta0 = d.offset + d.X @ beta
    out = []
    for j in groups:
        rows = t.codes == j
        y, w, e0, z = d.y[rows], d.weights[rows], eta0[rows], zl[rows]

        def g(u, y=y, w=w, e0=e0, z=z):
            return float(np.sum(fam.loglik(y, link.inverse(e0 + z @ u), w, fp))) - 0.5 * u @ u

        c = optimize.minimize(lambda u, g=g: -g(u), np.zeros(2), method="BFGS",
                              options={"gtol": 1e-10}).x
        gc = g(c)
        a1 = c[0] + np.arange(-half_width, half_width + step / 2, step)
        a2 = c[1] + np.arange(-half_width, half_width + step / 2, step)
        U1, U2 = np.meshgrid(a1, a2, indexing="ij")
        E = e0[:, None, None] + z[:, 0, None, None] * U1 + z[:, 1, None, None] * U2
        ll = np.sum(fam.loglik(y[:, None, None], link.inverse(E), w[:, None, None], fp), axis=0)
        f = np.exp(ll - 0.5 * (U1**2 + U2**2) - gc)
        out.append(gc + np.log(f.sum() * step * step) - np.log(2.0 * np.pi))
    return np.array(out)


def test_product_rule_equals_scalar_agq_on_scalar_models():
    for key, nagq in [("cbpp", 25), ("sparse_binary", 10)]:
        r = fitted(key, nagq)
        rp = fitted(key, nagq, "agq_product")
        assert rp.integrator == "agq_product"
        assert abs(rp.llf - r.llf) < 1e-9
        np.testing.assert_allclose(rp.fe_params.to_numpy(), r.fe_params.to_numpy(), rtol=1e-7)
        ctx, theta, beta, fp = at_fit(r)
        u0 = np.zeros(ctx.system.q)
        a = AGQIntegrator(nagq).integrate(ctx, theta, beta, fp, u0).loglik
        b = ProductAGQIntegrator(nagq).integrate(ctx, theta, beta, fp, u0).loglik
        assert abs(a - b) < 1e-10 * max(1.0, abs(a))


def test_product_rule_one_node_is_laplace_for_slopes():
    ctx, theta, beta, fp = at_fit(slopes_laplace())
    u0 = np.zeros(ctx.system.q)
    lap = LaplaceIntegrator().integrate(ctx, theta, beta, fp, u0).loglik
    one = ProductAGQIntegrator(1).integrate(ctx, theta, beta, fp, u0).loglik
    assert abs(one - lap) < 1e-10 * abs(lap)


def test_product_rule_converges_to_2d_integral():
    # reference: trapezoidal rule on a fine grid per group, at the Laplace estimates
    ctx, theta, beta, fp = at_fit(slopes_laplace())
    res = pirls(ctx, theta, beta, fp, np.zeros(ctx.system.q))
    groups = [0, 1, 2]
    exact = grid_group_logliks_2d(ctx, theta, beta, fp, groups)
    errs = []
    for k in (1, 5, 10, 20):
        gl = ProductAGQIntegrator(k).group_logliks_at(ctx, theta, beta, fp, res)[groups]
        errs.append(np.max(np.abs(gl - exact)))
    assert errs[0] > 1e-3  # Laplace is visibly off per group
    assert errs[-1] < 1e-8
    assert all(b < a for a, b in zip(errs, errs[1:])), errs


def test_product_rule_approaches_laplace_as_spread_shrinks():
    # with smaller random-effect variances each integrand is closer to a Gaussian
    ctx, theta, beta, fp = at_fit(slopes_laplace())
    u0 = np.zeros(ctx.system.q)
    gaps = []
    for f in (1.0, 0.3, 0.1, 0.03):
        th = theta * f
        lap = LaplaceIntegrator().integrate(ctx, th, beta, fp, u0).loglik
        agq = ProductAGQIntegrator(7).integrate(ctx, th, beta, fp, u0).loglik
        gaps.append(abs(agq - lap))
    assert gaps[0] > 0.1 and gaps[-1] < 1e-3
    assert all(b < a for a, b in zip(gaps, gaps[1:])), gaps


def test_product_rule_fit_with_random_slopes():
    lap = slopes_laplace()
    r = interlace.glmer(SLOPES_F, binom_slopes(), family="binomial", nAGQ=5,
                        integrator="agq_product")
    assert r.integrator == "agq_product" and r.nAGQ == 5 and r.converged
    # at its own optimum the product-rule log-likelihood beats the Laplace estimates' value
    ctx, theta, beta, fp = at_fit(lap)
    at_lap = ProductAGQIntegrator(5).integrate(ctx, theta, beta, fp, np.zeros(ctx.system.q))
    assert r.llf >= at_lap.loglik - 1e-8
    # estimates move a little from Laplace, with 25 observations per group
    np.testing.assert_allclose(r.fe_params.to_numpy(), lap.fe_params.to_numpy(), rtol=2e-2)
    np.testing.assert_allclose(r.theta, lap.theta, rtol=5e-2)


def test_product_rule_refuses_crossed_and_huge_grids():
    df = interlace.load_dataset("seed_counts")
    with pytest.raises(UnsupportedModelError, match="nAGQ"):
        interlace.glmer("count ~ x1 + x2", df, family="poisson", groups=["site", "year"],
                        nAGQ=3, integrator="agq_product")
    d = binom_slopes().assign(x2=lambda t: t["x"] ** 2)
    with pytest.raises(UnsupportedModelError, match=r"nAGQ\^3") as e:
        interlace.glmer("y ~ x + (1 + x + x2 | g)", d, family="binomial", nAGQ=30,
                        integrator="agq_product")
    assert "27000" in str(e.value) and "Laplace" in str(e.value)
    # and the scalar integrator still refuses the slope model, pointing at the reason
    with pytest.raises(UnsupportedModelError, match="nAGQ"):
        interlace.glmer(SLOPES_F, binom_slopes(), family="binomial", nAGQ=5)
