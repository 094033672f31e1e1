"""Every built-in family's closed-form derivatives (``loglik_derivatives``, ``info_derivatives``)
against central differences of its own ``loglik`` (and of the closed forms one order down).

Reference: the definitions, d^k loglik / d mu^k and d/dpsi on the parameter's natural scale
(interlace/families/derivatives.py). Differences use steps of 1e-5 relative (first order:
error ~1e-10 relative, rounding ~1e-11 / 1e-5), so 2e-6 relative (with an absolute floor
scaled to the row's size) separates a wrong formula (errors of order 1) from rounding. Each
family is checked at data and parameter values that exercise every branch (zeros and positive
counts, the ends of a zero-one-inflated beta, per-row parameters as a formula gives them).
"""

from __future__ import annotations

import numpy as np
import pytest

import interlace
from interlace.registry import registry

RNG = np.random.default_rng(20240607)
N = 40


def _counts(mu):
    y = RNG.poisson(mu * RNG.gamma(2.0, 0.5, mu.size)).astype(float)
    y[:5] = 0.0
    y[5:8] = [1.0, 2.0, 7.0]
    return y


def _zi(name):
    return registry().get_class("family", name)().with_zero_part()


def _cases():
    """(label, family instance, y, mu, weights, params)."""
    mu_c = RNG.uniform(0.3, 6.0, N)
    ones = np.ones(N)
    w = RNG.uniform(0.5, 2.0, N)
    y_c = _counts(mu_c)
    mu_p = RNG.uniform(0.1, 0.9, N)
    y_cont = RNG.gamma(2.0, 1.0, N) + 0.05
    out = [
        ("poisson", "poisson", y_c, mu_c, w, {}),
        ("binomial", "binomial", RNG.integers(0, 6, N) / 5.0, mu_p, np.full(N, 5.0), {}),
        ("gaussian", "gaussian", RNG.normal(size=N), RNG.normal(size=N), w, {"sigma": 1.3}),
        ("nbinom2", "nbinom2", y_c, mu_c, w, {"theta": 1.7}),
        ("nbinom2 per-row theta", "nbinom2", y_c, mu_c, w, {"theta": RNG.uniform(0.5, 3, N)}),
        ("nbinom1", "nbinom1", y_c, mu_c, w, {"phi": 0.8}),
        ("gamma", "gamma", y_cont, mu_c, w, {"shape": 2.5}),
        ("beta", "beta", np.clip(RNG.beta(2, 3, N), 1e-3, 1 - 1e-3), mu_p, w, {"phi": 6.0}),
        ("zoib", "zoib", np.r_[0.0, 0.0, 1.0, 1.0, np.clip(RNG.beta(2, 3, N - 4), 1e-3, 0.999)],
         mu_p, w, {"phi": 5.0, "zoi": 0.2, "coi": 0.6}),
        ("zipoisson", "zipoisson", y_c, mu_c, w, {"zi": 0.3}),
        ("zinbinom2", "zinbinom2", y_c, mu_c, w, {"theta": 1.4, "zi": 0.25}),
        ("hurdle_poisson", "hurdle_poisson", y_c, mu_c, w, {"zi": 0.4}),
        ("hurdle_nbinom2", "hurdle_nbinom2", y_c, mu_c, w, {"theta": 2.1, "zi": 0.4}),
        ("hurdle_nbinom1", "hurdle_nbinom1", y_c, mu_c, w, {"phi": 0.7, "zi": 0.4}),
        ("zinbinom1", "zinbinom1", y_c, mu_c, w, {"phi": 1.2, "zi": 0.2}),
        ("zigamma", "zigamma", np.where(np.arange(N) < 6, 0.0, y_cont), mu_c, w,
         {"shape": 1.8, "zi": 0.3}),
        ("tweedie", "tweedie", np.where(np.arange(N) < 6, 0.0, y_cont), mu_c, w,
         {"phi": 1.3, "power": 1.45}),
        ("tweedie per-row phi", "tweedie", np.where(np.arange(N) < 6, 0.0, y_cont), mu_c, w,
         {"phi": RNG.uniform(0.5, 2.0, N), "power": 1.7}),
        ("t", "t", RNG.standard_t(4, N) * 1.5 + 0.3, RNG.normal(size=N), w,
         {"sigma": 1.4, "df": 3.5}),
        ("lognormal", "lognormal", y_cont, mu_c, w, {"sigma": 1.1}),
        ("genpois", "genpois", y_c, mu_c, w, {"phi": 1.8}),
        ("genpois underdispersed", "genpois", y_c, mu_c, w, {"phi": 0.9}),
        ("compois", "compois", y_c, mu_c, w, {"phi": 1.6}),
        ("compois underdispersed", "compois", y_c, mu_c, w, {"phi": 0.4}),
        ("betabinomial", "betabinomial", RNG.integers(0, 9, N) / 8.0, mu_p, np.full(N, 8.0),
         {"phi": 3.0}),
        ("truncated_poisson", "truncated_poisson", np.maximum(y_c, 1.0), mu_c, w, {}),
        ("truncated_nbinom1", "truncated_nbinom1", np.maximum(y_c, 1.0), mu_c, w, {"phi": 0.9}),
        ("truncated_nbinom2", "truncated_nbinom2", np.maximum(y_c, 1.0), mu_c, w,
         {"theta": 1.3}),
        ("truncated_genpois", "truncated_genpois", np.maximum(y_c, 1.0), mu_c, w, {"phi": 1.5}),
        ("truncated_compois", "truncated_compois", np.maximum(y_c, 1.0), mu_c, w, {"phi": 1.5}),
        ("zi genpois (ziformula)", _zi("genpois"), y_c, mu_c, w, {"phi": 1.5, "zi": 0.3}),
        ("zi compois (ziformula)", _zi("compois"), y_c, mu_c, w, {"phi": 0.8, "zi": 0.3}),
        ("zi betabinomial (ziformula)", _zi("betabinomial"), RNG.integers(0, 6, N) / 5.0, mu_p,
         np.full(N, 5.0), {"phi": 4.0, "zi": 0.2}),
        ("zi binomial (ziformula)", _zi("binomial"), RNG.integers(0, 6, N) / 5.0, mu_p,
         np.full(N, 5.0), {"zi": 0.2}),
        ("zi tweedie (ziformula)", _zi("tweedie"), np.where(np.arange(N) < 6, 0.0, y_cont), mu_c,
         w, {"phi": 1.1, "power": 1.3, "zi": 0.15}),
        ("zi lognormal (ziformula)", _zi("lognormal"), np.where(np.arange(N) < 6, 0.0, y_cont),
         mu_c, w, {"sigma": 0.9, "zi": 0.3}),
        ("zipoisson per-row zi", "zipoisson", y_c, mu_c, w, {"zi": RNG.uniform(0.05, 0.6, N)}),
    ]
    del ones
    return out


CASES = _cases()


def _family(name):
    if not isinstance(name, str):
        return name
    return registry().get_class("family", name)()


def _close(a, b, scale, tol=2e-6):
    a, b = np.broadcast_to(a, np.shape(scale)), np.broadcast_to(b, np.shape(scale))
    err = np.abs(a - b) / (np.abs(b) + scale)
    assert np.max(err) < tol, f"max relative error {np.max(err):.3g} at row {np.argmax(err)}"


def _mu_diff(f, mu):
    h = 1e-5 * np.minimum(np.abs(mu), 1.0)
    return (f(mu + h) - f(mu - h)) / (2 * h)


def _param_diff(fam, f, params, name):
    p = fam.parameters[name]
    v = np.asarray(params[name], float)
    h = 1e-5 * np.maximum(np.abs(v), 1e-3)
    h = np.minimum(h, 0.5 * np.minimum(np.abs(v - getattr(p, "low", -np.inf)),
                                       np.abs(getattr(p, "high", np.inf) - v)))
    up, dn = dict(params), dict(params)
    up[name], dn[name] = v + h, v - h
    return (f(up) - f(dn)) / (2 * h)


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_loglik_derivatives_match_differences(case):
    label, name, y, mu, w, params = case
    fam = _family(name)
    params = {**fam.parameter_values(), **params}
    wrt = tuple(params)
    D = fam.loglik_derivatives(y, mu, w, params, wrt=wrt, third=True)
    ll = fam.loglik(y, mu, w, params)
    scale = 1e-3 * (1.0 + np.abs(ll))

    def deriv(p, order):
        return fam.loglik_derivatives(y, mu_of(p), w, p, wrt=(), third=True)

    def mu_of(p):
        return mu

    _close(D.d1, _mu_diff(lambda m: fam.loglik(y, m, w, params), mu), scale)
    _close(D.d2, _mu_diff(lambda m: fam.loglik_derivatives(y, m, w, params).d1, mu), scale)
    _close(D.d3, _mu_diff(lambda m: fam.loglik_derivatives(y, m, w, params).d2, mu), scale)
    # the contract's per-row methods agree with the bundle
    _close(fam.score_mu(y, mu, w, params), D.d1, scale)
    _close(fam.obs_info_mu(y, mu, w, params), -D.d2, scale)
    for pname in wrt:
        _close(D.dp[pname], _param_diff(fam, lambda p: fam.loglik(y, mu, w, p), params, pname),
               scale)
        _close(D.dp1[pname], _param_diff(
            fam, lambda p: fam.loglik_derivatives(y, mu, w, p).d1, params, pname), scale)
        _close(D.dp2[pname], _param_diff(
            fam, lambda p: fam.loglik_derivatives(y, mu, w, p).d2, params, pname), scale)


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_info_derivatives_match_differences(case):
    label, name, y, mu, w, params = case
    fam = _family(name)
    params = {**fam.parameter_values(), **params}
    wrt = tuple(params)
    dmu, dpsi = fam.info_derivatives(y, mu, w, params, wrt)
    info = fam.info_mu(y, mu, w, params)
    scale = 1e-3 * (1.0 + np.abs(info))
    _close(dmu, _mu_diff(lambda m: fam.info_mu(y, m, w, params), mu), scale)
    for pname in wrt:
        _close(dpsi[pname], _param_diff(fam, lambda p: fam.info_mu(y, mu, w, p), params, pname),
               scale)


def test_every_builtin_family_is_checked():
    builtin = {r.cls.name for r in registry().registrations("family").values() if r.source.builtin}
    names = {c[1] for c in CASES if isinstance(c[1], str)}
    assert builtin <= names, sorted(builtin - names)


def test_natural_derivative_is_the_transform_derivative():
    for fam in (interlace.NegativeBinomial2Family(), _family("zipoisson")):
        for p in fam.parameters.values():
            for v in (0.2, 0.7):
                z = p.to_unconstrained(v)
                fd = (p.from_unconstrained(z + 1e-6) - p.from_unconstrained(z - 1e-6)) / 2e-6
                assert abs(p.natural_derivative(v) - fd) < 1e-8


@pytest.mark.parametrize("case", [c for c in CASES if "zi" in c[5]], ids=lambda c: c[0])
def test_second_derivative_in_the_zero_probability(case):
    """d2 loglik / dzi2 (random effects in ziformula need it) against differences of dl/dzi."""
    label, name, y, mu, w, params = case
    fam = _family(name)
    params = {**fam.parameter_values(), **params}
    got = fam.param_second_derivative(y, mu, w, params, "zi")
    ll = fam.loglik(y, mu, w, params)
    _close(got, _param_diff(fam, lambda p: fam.loglik_derivatives(y, mu, w, p, ("zi",)).dp["zi"],
                            params, "zi"), 1e-3 * (1.0 + np.abs(ll)))
