"""The families of issue 16 beyond parity (tests/test_families_parity2.py): glmmTMB's meaning
of ``ziformula``, the errors, configs, and the laws each distribution must obey.

References: the definitions. Conway-Maxwell-Poisson sums and Tweedie series are checked against
brute-force sums over 0..30000 (scipy's logsumexp); each discrete density must sum to one with
mean mu (and its variance), each continuous one must integrate to one (scipy's quad), zero
truncation and zero parts must move probability exactly as their definitions say.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.integrate import quad
from scipy.optimize import brentq
from scipy.special import gammaln, logsumexp

import interlace
from interlace.config import loads
from interlace.config.runner import run_fit
from interlace.errors import DataError, UnsupportedModelError
from interlace.families.compois_moments import solve
from interlace.families.tweedie import series_terms
from interlace.model.param_formulas import zero_part_family
from interlace.registry import registry

SAL_F = "count ~ mined + spp + (1 | site)"


@pytest.fixture(scope="module")
def sal():
    return interlace.load_dataset("Salamanders")


def family(name, **params):
    return registry().get_class("family", name)(**params)


# -- glmmTMB's meaning of ziformula ----------------------------------------------------------
def test_ziformula_gives_poisson_its_zero_inflation(sal):
    """glmmTMB(count ~ ..., family = poisson, ziformula = ~1) is the zero-inflated Poisson."""
    a = interlace.glmer(SAL_F, sal, family="poisson", ziformula="~1")
    b = interlace.glmer(SAL_F, sal, family="zipoisson")
    assert a.family.name == "zipoisson"
    assert abs(a.llf - b.llf) < 1e-8
    plain = interlace.glmer(SAL_F, sal, family="poisson", ziformula="~0")
    assert plain.family.name == "poisson" and plain.llf < a.llf - 50


@pytest.mark.parametrize("base,ziname", [("truncated_poisson", "hurdle_poisson"),
                                          ("truncated_nbinom2", "hurdle_nbinom2"),
                                          ("nbinom2", "zinbinom2"), ("gamma", "zigamma"),
                                          ("genpois", "zigenpois"), ("betabinomial",
                                                                     "zibetabinomial")])
def test_zero_part_names_follow_glmmtmb(base, ziname):
    fam = zero_part_family(family(base), "~1")
    assert fam.name == ziname and fam.zi_parameter == "zi"


@pytest.mark.parametrize("name", ["gaussian", "beta", "t", "zoib"])
def test_ziformula_on_a_family_that_cannot_have_a_zero_part_says_so(sal, name):
    d = interlace.load_dataset("sleepstudy")
    with pytest.raises(UnsupportedModelError, match=f"family '{name}' cannot be zero-inflated"):
        interlace.glmer("Reaction ~ Days + (1 | Subject)", d, family=name, ziformula="~ Days")


def test_truncated_family_rejects_zeros_and_points_to_the_hurdle(sal):
    with pytest.raises(DataError, match="ziformula='~1'"):
        interlace.glmer(SAL_F, sal, family="truncated_poisson")
    h = interlace.glmer(SAL_F, sal, family="truncated_poisson", ziformula="~1")
    ref = interlace.glmer(SAL_F, sal, family="hurdle_poisson")
    assert abs(h.llf - ref.llf) < 1e-8


def test_hurdle_splits_into_a_binomial_and_a_truncated_count(sal):
    """The hurdle's log-likelihood is the zero/non-zero Bernoulli's plus the zero-truncated
    count model's on the positive rows: with no random effect both parts are separate fits."""
    f = "count ~ mined + spp"
    hur = interlace.glmer(f + " + (1 | site)", sal, family="hurdle_poisson")
    pos = sal[sal["count"] > 0]
    trunc = interlace.glmer(f + " + (1 | site)", pos, family="truncated_poisson")
    n0, n = int((sal["count"] == 0).sum()), len(sal)
    p = n0 / n
    bern = n0 * np.log(p) + (n - n0) * np.log1p(-p)
    assert abs(hur.llf - (trunc.llf + bern)) < 1e-5
    assert abs(hur.family_params["zi"] - p) < 1e-5


# -- configs ---------------------------------------------------------------------------------
def _config(text):
    return loads(text)[0]


def test_new_family_names_work_from_yaml():
    cfg = _config("""
data: {dataset: sleepstudy}
formula: Reaction ~ Days + (1 | Subject)
family: t
family_params: {df: 5}
""")
    record = run_fit(cfg)
    assert record["status"] == "ok"
    assert record["result"]["family_params"]["df"] == 5.0
    direct = interlace.glmer("Reaction ~ Days + (1 | Subject)", interlace.load_dataset(
        "sleepstudy"), family=interlace.TFamily(df=5))
    assert abs(record["result"]["fit"]["llf"] - direct.llf) < 1e-8


@pytest.mark.parametrize("fam,ok", [("gaussian", False), ("beta", False), ("poisson", True),
                                    ("tweedie", True), ("truncated_nbinom1", True)])
def test_validate_checks_that_the_family_can_be_zero_inflated(fam, ok):
    text = f"""
data: {{dataset: Salamanders}}
formula: count ~ mined + (1 | site)
family: {fam}
ziformula: ~ mined
"""
    if ok:
        assert _config(text)
    else:
        with pytest.raises(interlace.InterlaceError, match="cannot be zero-inflated"):
            _config(text)


# -- the distributions' laws -----------------------------------------------------------------
def _brute_compois(mu, nu):
    y = np.arange(0, 30000, dtype=float)
    lf = gammaln(y + 1.0)

    def mean_gap(a):
        t = a * y - nu * lf
        return np.exp(logsumexp(t, b=y) - logsumexp(t)) - mu

    a = brentq(mean_gap, -60.0, 60.0, xtol=1e-14, rtol=1e-15)
    t = a * y - nu * lf
    lz = logsumexp(t)
    p = np.exp(t - lz)
    m = float((p * y).sum())
    return a, lz, float((p * (y - m) ** 2).sum())


@pytest.mark.parametrize("mu,nu", [(1e-5, 0.7), (0.3, 0.5), (3.0, 0.1), (3.0, 5.0),
                                   (50.0, 0.3), (20.0, 0.02), (1000.0, 0.05), (5000.0, 2.0),
                                   (0.5, 30.0)])
def test_compois_constant_rate_and_variance_over_the_range(mu, nu):
    st_ = solve(np.array([mu]), np.array([nu]))
    a, lz, v = _brute_compois(mu, nu)
    assert abs(st_.a[0] - a) < 1e-10 * max(1.0, abs(a))
    assert abs(st_.logz[0] - lz) < 1e-10 * max(1.0, abs(lz))
    assert abs(st_.var[0] / v - 1) < 1e-9


@pytest.mark.parametrize("y,phi,p", [(1e-3, 0.3, 1.2), (0.5, 2.0, 1.5), (3.0, 0.3, 1.8),
                                     (50.0, 2.0, 1.01), (1000.0, 20.0, 1.99), (7.0, 0.01, 1.5)])
def test_tweedie_series_matches_the_brute_force_sum(y, phi, p):
    a = (2 - p) / (1 - p)
    j = np.arange(1, 200000, dtype=float)
    t = (j * (-a * np.log(y) + a * np.log(p - 1) - (1 - a) * np.log(phi) - np.log(2 - p))
         - gammaln(j + 1) - gammaln(-j * a))
    ref = logsumexp(t) - np.log(y)
    got = series_terms(np.array([y]), phi, p)[0][0]
    assert abs(got - ref) < 1e-10 * max(1.0, abs(ref))


@settings(max_examples=15, deadline=None)
@given(mu=st.floats(0.1, 25.0), phi=st.floats(0.3, 4.0),
       name=st.sampled_from(["genpois", "compois", "nbinom1", "truncated_poisson",
                             "truncated_nbinom2", "truncated_compois"]))
def test_count_densities_sum_to_one_with_their_mean(mu, phi, name):
    fam = family(name)
    params = {k: (phi if k != "theta" else 1.0 / phi) for k in fam.parameters}
    if name == "genpois":
        params["phi"] = 1.0 + phi  # Consul's under-dispersed form is truncated (not a law)
    y = np.arange(0.0, 4000.0)
    p = np.exp(fam.loglik(y, np.full_like(y, mu), np.ones_like(y), params))
    assert abs(p.sum() - 1.0) < 1e-9
    mean = float(fam.mean(np.array([mu]), params)[0])
    assert abs((p * y).sum() - mean) < 1e-7 * max(1.0, mean)
    var = float(np.broadcast_to(fam.variance(np.array([mu]), params), (1,))[0])
    assert abs((p * (y - mean) ** 2).sum() - var) < 1e-6 * max(1.0, var)


@settings(max_examples=10, deadline=None)
@given(mu=st.floats(0.05, 0.95), phi=st.floats(0.5, 30.0), n=st.integers(1, 30),
       zi=st.floats(0.0, 0.6))
def test_betabinomial_and_its_zero_inflation_sum_to_one(mu, phi, n, zi):
    s = np.arange(n + 1.0)
    w = np.full_like(s, float(n))
    bb = interlace.BetaBinomialFamily()
    p = np.exp(bb.loglik(s / n, np.full_like(s, mu), w, {"phi": phi}))
    assert abs(p.sum() - 1.0) < 1e-10 and abs((p * s).sum() / n - mu) < 1e-10
    zbb = bb.with_zero_part()
    pz = np.exp(zbb.loglik(s / n, np.full_like(s, mu), w, {"phi": phi, "zi": zi}))
    assert abs(pz.sum() - 1.0) < 1e-10
    assert abs(pz[0] - (zi + (1 - zi) * p[0])) < 1e-12


@pytest.mark.parametrize("name,params,mu", [
    ("tweedie", {"phi": 1.3, "power": 1.4}, 2.0), ("tweedie", {"phi": 0.7, "power": 1.8}, 0.5),
    ("lognormal", {"sigma": 2.0}, 3.0), ("t", {"sigma": 2.0, "df": 5.0}, 1.0),
    ("zigamma", {"shape": 2.0, "zi": 0.3}, 1.5)])
def test_continuous_densities_integrate_to_one_with_mean_mu(name, params, mu):
    fam = family(name)

    def f(y):
        return float(np.exp(fam.loglik(np.array([y]), np.array([mu]), np.ones(1), params))[0])

    lo = -np.inf if name == "t" else 0.0
    atom = f(0.0) if name in ("tweedie", "zigamma") else 0.0  # P(y = 0)
    tot = quad(f, lo, np.inf, limit=400, points=None)[0] if name == "t" else quad(
        f, 1e-300 if atom else 0.0, np.inf, limit=400)[0]
    assert abs(atom + tot - 1.0) < 2e-7
    mean = quad(lambda y: y * f(y), lo, np.inf, limit=400)[0]
    assert abs(mean - float(fam.mean(np.array([mu]), params)[0])) < 1e-6 * max(1.0, mu)


@pytest.mark.parametrize("name,params", [("tweedie", {"phi": 1.0, "power": 1.5}),
                                         ("t", {"sigma": 1.0, "df": 6.0}),
                                         ("lognormal", {"sigma": 0.8}), ("genpois", {"phi": 2.0}),
                                         ("compois", {"phi": 0.6}), ("truncated_nbinom1",
                                                                     {"phi": 1.5}),
                                         ("zigamma", {"shape": 3.0, "zi": 0.25})])
def test_simulate_draws_have_the_family_mean(name, params):
    fam = family(name)
    rng = np.random.default_rng(3)
    mu = np.full(40000, 2.5)
    draws = fam.simulate(mu, np.ones_like(mu), params, rng)
    m = float(fam.mean(mu[:1], params)[0])
    sd = float(np.sqrt(np.broadcast_to(fam.variance(mu[:1], params), (1,))[0]))
    assert abs(draws.mean() - m) < 5 * sd / np.sqrt(mu.size)
