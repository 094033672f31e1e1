"""The family contract is the whole contract: a third-party family defined here, registered
through a hook implementation, reads ``s / n``, ``cbind()`` and two-level text responses and
brings its own fused row kernel, and gives the built-in binomial's answers; the base class's
default hooks behave as documented."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit, gammaln, xlogy

import interlace
from interlace.errors import DataError, PluginError
from interlace.families.base import (
    DecodedResponse,
    ExponentialFamily,
    Family,
    RowKernel,
    require_finite,
)
from interlace.glmm.resolve import resolve_family, resolve_integrator
from interlace.glmm.rowkernel import kernel_for, row_kernel
from interlace.model.context import ModelContext
from interlace.model.design import build_design
from interlace.model.formula import parse_formula
from interlace.registry import registry
from interlace.registry.hookspecs import hookimpl

_TINY = np.finfo(float).tiny
_EPS = np.finfo(float).eps / 2


class MyLogitKernel(RowKernel):
    """A fused kernel of the test's own: binomial with the logit link in closed form."""

    fused = True
    built = 0  # kernels made (the hook ran)
    evaluations = 0  # trial points evaluated by this kernel

    def __init__(self, family, y, weights) -> None:
        super().__init__(family, y, weights)
        MyLogitKernel.built += 1
        self.s = self.w * self.y
        self.f = self.w - self.s

    def evaluate(self, eta, fp):
        MyLogitKernel.evaluations += 1
        mu = expit(eta)
        mc = np.clip(mu, _TINY, 1.0 - _EPS)
        return mu, float(self.s @ np.log(mc)) + float(self.f @ np.log1p(-mc))

    def evaluate_checked(self, eta, fp):
        if not np.isfinite(eta).all():
            return None
        return self.evaluate(eta, fp)

    def score_weights(self, eta, mu, fp):
        v = np.maximum(mu * (1.0 - mu), _TINY)
        return self.s - self.w * mu, self.w * v, None, None

    def weights(self, eta, mu, fp):
        return self.w * np.maximum(mu * (1.0 - mu), _TINY)

    def weights_deta(self, eta, mu, W):
        return W * (1.0 - 2.0 * mu)


class MyBinomial(ExponentialFamily):
    """A binomial written as a third party would, opting into the trials and text readings."""

    name = "mybinom"
    links = ("logit", "probit")
    canonical_link = "logit"
    trials_response = True
    two_level_response = True

    def unit_variance(self, mu, params):
        return np.maximum(mu * (1.0 - mu), _TINY)

    def unit_variance_deriv(self, mu, params):
        return 1.0 - 2.0 * mu

    def loglik(self, y, mu, weights, params):
        s = weights * y
        const = gammaln(weights + 1.0) - gammaln(s + 1.0) - gammaln(weights - s + 1.0)
        return const + xlogy(s, mu) + xlogy(weights - s, 1.0 - mu)

    def loglik_kernel(self, y, mu, weights, params):
        s = weights * y
        mu = np.clip(mu, _TINY, 1.0 - _EPS)
        return s * np.log(mu) + (weights - s) * np.log1p(-mu)

    def loglik_constant(self, y, weights, params):
        s = weights * y
        return float(np.sum(gammaln(weights + 1.0) - gammaln(s + 1.0) - gammaln(weights - s + 1.0)))

    def validate(self, y, weights, label):
        require_finite(y, label)
        if np.any((y < 0) | (y > 1)):
            raise DataError(f"mybinom response {label!r} must be a proportion in [0, 1]")

    def initialize(self, y, weights):
        return (weights * y + 0.5) / (weights + 1.0)

    def row_kernel(self, y, weights):
        return MyLogitKernel(self, y, weights) if self.link.name == "logit" else None


class PlainCounts(Family):
    """A family that opts into nothing: every hook at its default."""

    name = "plaincounts"
    links = ("log",)

    def loglik(self, y, mu, weights, params):
        return weights * (xlogy(y, mu) - mu - gammaln(y + 1.0))

    def score_mu(self, y, mu, weights, params):
        return weights * (y / mu - 1.0)

    def info_mu(self, y, mu, weights, params):
        return weights / mu

    def validate(self, y, weights, label):
        require_finite(y, label)


class _Plugin:
    @hookimpl
    def interlace_families(self):
        return [MyBinomial, PlainCounts]


@pytest.fixture
def registered():
    registry().register(_Plugin(), name="test_family_contract")
    try:
        yield
    finally:
        interlace.reload_plugins()


@pytest.fixture(scope="module")
def cbpp():
    return interlace.load_dataset("cbpp")


FORMULAS = ["incidence / size ~ period + (1 | herd)",
            "cbind(incidence, size - incidence) ~ period + (1 | herd)"]


@pytest.mark.parametrize("formula", FORMULAS)
def test_third_party_binomial_matches_builtin(registered, cbpp, formula):
    ref = interlace.glmer(formula, cbpp, family="binomial")
    before = MyLogitKernel.evaluations
    mine = interlace.glmer(formula, cbpp, family="mybinom")
    assert MyLogitKernel.evaluations > before  # the family's own kernel did the work
    assert isinstance(kernel_for(mine.context), MyLogitKernel)
    assert mine.family.name == "mybinom"
    assert abs(mine.llf - ref.llf) < 1e-8
    np.testing.assert_allclose(mine.fe_params, ref.fe_params, rtol=1e-6)
    np.testing.assert_allclose(mine.fe_bse, ref.fe_bse, rtol=1e-6)
    np.testing.assert_allclose(mine.theta, ref.theta, rtol=1e-6)


def test_third_party_two_level_text_response(registered, cbpp):
    d = cbpp.assign(resp=np.where(cbpp["incidence"] > 0, "sick", "healthy"))
    ref = interlace.glmer("resp ~ period + (1 | herd)", d, family="binomial")
    mine = interlace.glmer("resp ~ period + (1 | herd)", d, family="mybinom")
    assert abs(mine.llf - ref.llf) < 1e-8
    np.testing.assert_allclose(mine.fe_params, ref.fe_params, rtol=1e-6)
    assert mine.context.design.response_levels == ["healthy", "sick"]
    with pytest.raises(DataError, match="exactly two"):
        interlace.glmer("resp ~ period + (1 | herd)",
                        d.assign(resp=np.array(["a", "b", "c"])[np.arange(len(d)) % 3]),
                        family="mybinom")


def test_non_canonical_link_gets_the_generic_kernel(registered, cbpp):
    fam = resolve_family("mybinom", "probit")
    assert type(row_kernel(fam, np.zeros(3), np.ones(3))) is RowKernel


def test_family_without_opt_in_rejects_cbind_and_text(registered, cbpp):
    with pytest.raises(DataError, match=r"cbind\(incidence, size - incidence\).*'plaincounts'.*"
                                        r"successes out of trials"):
        interlace.glmer(FORMULAS[1], cbpp, family="plaincounts")
    d = cbpp.assign(resp=np.where(cbpp["incidence"] > 0, "sick", "healthy"))
    with pytest.raises(DataError, match=r"'resp' is not numeric.*'plaincounts'.*two levels"):
        interlace.glmer("resp ~ period + (1 | herd)", d, family="plaincounts")


def _design(family, formula, data):
    return build_design(parse_formula(formula), data, family)


def test_default_decoding(registered, cbpp):
    fam = resolve_family("plaincounts")
    # a / b is a division, booleans are 0/1
    d = _design(fam, "incidence / size ~ period + (1 | herd)", cbpp)
    np.testing.assert_allclose(d.y, cbpp["incidence"] / cbpp["size"])
    np.testing.assert_array_equal(d.weights, 1.0)
    d = _design(fam, "sick ~ period + (1 | herd)", cbpp.assign(sick=cbpp["incidence"] > 0))
    np.testing.assert_array_equal(d.y, (cbpp["incidence"] > 0).astype(float))
    assert d.response_levels is None


def test_opted_in_decoding_checks(registered, cbpp):
    fam = resolve_family("mybinom")
    with pytest.raises(DataError, match="successes 'incidence' exceed trials 'size'"):
        _design(fam, "incidence / size ~ period + (1 | herd)", cbpp.assign(incidence=cbpp["size"] + 1))
    with pytest.raises(DataError, match="zero trials"):
        _design(fam, "cbind(incidence, f) ~ period + (1 | herd)", cbpp.assign(incidence=0, f=0))
    with pytest.raises(DataError, match="weights= must equal them"):
        build_design(parse_formula(FORMULAS[0]), cbpp, fam, weights=np.ones(len(cbpp)) * 2)


def test_a_decode_response_override_is_used(cbpp):
    class Halved(PlainCounts):
        name = "halved"

        def decode_response(self, response):
            y, _, _ = super().decode_response(response)
            return DecodedResponse(y / 2.0)

    d = _design(Halved(), "incidence ~ period + (1 | herd)", cbpp)
    np.testing.assert_allclose(d.y, cbpp["incidence"] / 2.0)


def test_base_hook_defaults(cbpp):
    fam = PlainCounts()
    y, w = np.array([0.0, 2.0]), np.ones(2)
    assert fam.row_kernel(y, w) is None
    assert type(row_kernel(fam, y, w)) is RowKernel
    assert fam.start_parameters(None, np.zeros(1)) == {}
    assert fam.fit_warnings(y, y + 0.5, w, {}) == []
    assert fam.laplace_information == "expected"
    assert fam.scale_parameter is None and not fam.has_dispersion
    assert not fam.is_normal_linear()
    assert fam.zi_parameter is None and fam.dispersion_parameter is None
    assert fam.canonical_link is None
    assert not fam.trials_response and not fam.two_level_response
    mu = np.array([0.5, 3.0])
    np.testing.assert_array_equal(fam.mean(mu, {}), mu)
    np.testing.assert_allclose(fam.variance(mu, {}), mu)  # 1 / info: Poisson's
    with pytest.raises(NotImplementedError):
        RowKernel(fam, y, w).weights_deta(y, y, w)
    # a fit with every default: the generic kernel, Laplace with the expected information
    r = interlace.glmer("incidence ~ period + (1 | herd)", cbpp, family=PlainCounts)
    ref = interlace.glmer("incidence ~ period + (1 | herd)", cbpp, family="poisson")
    assert type(kernel_for(r.context)) is RowKernel
    assert abs(r.llf - ref.llf) < 1e-6
    np.testing.assert_allclose(r.fe_params, ref.fe_params, rtol=1e-4)


def test_laplace_information_hook_picks_the_integrator():
    class Observed(PlainCounts):
        name = "observed"
        laplace_information = "observed"

    integ = resolve_integrator(None, 1, Observed())
    assert integ.observed
    assert not resolve_integrator(None, 1, PlainCounts()).observed


def test_fit_warnings_hook_is_reported(cbpp):
    class Noisy(PlainCounts):
        name = "noisy"

        def fit_warnings(self, y, mu, weights, params):
            return [f"checked {len(mu)} fitted means"]

    with pytest.warns(interlace.InterlaceWarning, match="checked 56 fitted means"):
        r = interlace.glmer("incidence ~ period + (1 | herd)", cbpp, family=Noisy)
    assert "checked 56 fitted means" in r.messages


def test_builtin_separation_message_comes_from_the_family():
    fam = resolve_family("binomial")
    msgs = fam.fit_warnings(np.zeros(2), np.array([0.5, 1e-12]), np.ones(2), {})
    assert len(msgs) == 1 and "separation" in msgs[0]
    assert fam.fit_warnings(np.zeros(2), np.array([0.5, 0.4]), np.ones(2), {}) == []


@pytest.mark.parametrize("bad", [42, int, object()])
def test_non_family_is_a_plugin_error(cbpp, bad):
    with pytest.raises(PluginError, match="family must be a registered family name"):
        interlace.glmer("incidence ~ period + (1 | herd)", cbpp, family=bad)


def test_builtin_fused_kernels_come_from_the_families(cbpp):
    ctx = ModelContext.build(_design(resolve_family("poisson"), "incidence ~ period + (1 | herd)",
                                     cbpp), resolve_family("poisson"))
    assert kernel_for(ctx).fused
    fam = resolve_family("poisson", "sqrt")
    assert fam.row_kernel(np.ones(2), np.ones(2)) is None
    df = pd.DataFrame({"y": [0.0, 1.0]})
    assert resolve_family("binomial").row_kernel(df["y"].to_numpy(), np.ones(2)).fused
