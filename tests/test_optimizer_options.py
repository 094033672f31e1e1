"""Optimizer options are checked before the fit (unknown keys, with our name for lme4's /
nlopt's / R optim's; values of the wrong kind), and the accepted ones reach the optimizer: an
evaluation limit of 2 leaves the fit unconverged, and it says so."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy.optimize import minimize

import interlace
from interlace import ConvergenceWarning, PluginError
from interlace.optimizers.base import Optimizer, OptimizeResult, check_optimizer_options
from interlace.registry import resolve

CBPP_F = "cbind(incidence, size - incidence) ~ period + (1 | herd)"
SLEEP_F = "Reaction ~ Days + (Days | Subject)"


@pytest.fixture(scope="module")
def cbpp():
    return interlace.load_dataset("cbpp")


@pytest.mark.parametrize(("optimizer", "key", "ours", "whose"), [
    ("bobyqa", "maxfun", "maxeval", "lme4's"),
    ("bobyqa", "FtolAbs", "ftol_abs", "lme4's"),
    ("nelder-mead", "maxfun", "maxfev", "lme4's"),
    ("nelder-mead", "maxeval", "maxfev", "nlopt's"),
    ("nelder-mead", "ftol_abs", "fatol", "nlopt's"),
    ("lbfgsb", "maxit", "maxiter", "R optim's"),
    ("lbfgsb", "maxeval", "maxfun", "nlopt's"),
    ("lbfgsb", "ftol_rel", "ftol", "nlopt's"),
])
def test_other_libraries_names_are_answered_with_ours(cbpp, optimizer, key, ours, whose):
    with pytest.raises(PluginError) as err:
        interlace.glmer(CBPP_F, cbpp, optimizer=optimizer, optimizer_options={key: 2})
    msg = str(err.value)
    assert f"optimizer {optimizer!r} has no option {key!r}" in msg
    assert f"{key} is {whose} name: here it is {ours!r}" in msg
    assert "its options are: " in msg and ours in msg


@pytest.mark.parametrize("optimizer", ["bobyqa", "nelder-mead", "lbfgsb"])
def test_made_up_option_is_rejected_listing_the_valid_ones(cbpp, optimizer):
    opt = resolve("optimizer", optimizer)
    with pytest.raises(PluginError) as err:
        interlace.glmer(CBPP_F, cbpp, optimizer=optimizer, optimizer_options={"bogus_key": 1})
    msg = str(err.value)
    assert f"has no option 'bogus_key'; its options are: {', '.join(sorted(opt.options_accepted))}" in msg


def test_xtol_rel_has_no_equivalent_in_lbfgsb(cbpp):
    with pytest.raises(PluginError, match=r"has no option 'xtol_rel'; its options are: ftol, gtol"):
        interlace.glmer(CBPP_F, cbpp, optimizer="lbfgsb", optimizer_options={"xtol_rel": 1e-8})


def test_options_are_checked_before_the_fit(cbpp, monkeypatch):
    """No deviance is evaluated (not even the GLM start) before an unknown key fails."""
    import interlace.glmm.fitting as fitting

    def no_fit(*a, **k):
        raise AssertionError("the fit started")

    monkeypatch.setattr(fitting, "glmm_objective", no_fit)
    with pytest.raises(PluginError, match="'maxfun'"):
        interlace.glmer(CBPP_F, cbpp, optimizer="bobyqa", optimizer_options={"maxfun": 2})


@pytest.mark.parametrize(("optimizer", "key", "value", "expected"), [
    ("bobyqa", "maxeval", -1, "must be a positive integer, got -1"),
    ("bobyqa", "maxeval", 0, "must be a positive integer, got 0"),
    ("bobyqa", "maxeval", "ten", "must be a positive integer, got 'ten'"),
    ("bobyqa", "maxeval", 2.5, "must be a positive integer, got 2.5"),
    ("nelder-mead", "maxfev", True, "must be a positive integer, got True"),
    ("lbfgsb", "maxiter", None, "must be a positive integer, got None"),
    ("lbfgsb", "gtol", -1e-5, "must be a non-negative finite number, got -1e-05"),
    ("lbfgsb", "ftol", float("nan"), "must be a non-negative finite number, got nan"),
    ("nelder-mead", "adaptive", 1, "must be True or False, got 1"),
])
def test_bad_values_name_the_key(cbpp, optimizer, key, value, expected):
    with pytest.raises(PluginError) as err:
        interlace.glmer(CBPP_F, cbpp, optimizer=optimizer, optimizer_options={key: value})
    msg = str(err.value)
    assert msg.startswith(f"optimizer {optimizer!r}: option {key!r} (") and msg.endswith(expected)


@pytest.mark.parametrize(("optimizer", "key"), [
    ("bobyqa", "maxeval"), ("nelder-mead", "maxfev"), ("lbfgsb", "maxfun"), ("lbfgsb", "maxiter")])
def test_an_evaluation_limit_of_two_leaves_the_fit_unconverged(cbpp, optimizer, key):
    with pytest.warns(ConvergenceWarning, match="the optimizer stopped at its limit"):
        r = interlace.glmer(CBPP_F, cbpp, optimizer=optimizer, optimizer_options={key: 2})
    assert not r.converged
    assert any("stopped at its limit" in m for m in r.messages)


def test_accepted_options_keep_the_fit(cbpp):
    ref = interlace.glmer(CBPP_F, cbpp, optimizer="bobyqa")
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        r = interlace.glmer(CBPP_F, cbpp, optimizer="bobyqa",
                            optimizer_options={"maxeval": 5000, "xtol_rel": 1e-10})
    assert r.converged and abs(r.llf - ref.llf) < 1e-6


def test_options_given_to_the_instance_are_checked(cbpp):
    with pytest.raises(PluginError, match="has no option 'maxfun'"):
        interlace.glmer(CBPP_F, cbpp, optimizer=resolve("optimizer", "bobyqa", maxfun=2))


def test_clmm_and_lmm_plugins_are_checked():
    sleep = interlace.load_dataset("sleepstudy")
    with pytest.raises(PluginError, match="maxfun is lme4's name: here it is 'maxeval'"):
        interlace.fit(SLEEP_F, sleep, optimizer="bobyqa", optimizer_options={"maxfun": 10})
    with pytest.raises(PluginError, match="has no option 'maxit' .maxit is R optim's name"):
        interlace.glmer(SLEEP_F, sleep, family="gaussian", optimizer="lbfgsb",
                        optimizer_options={"maxfun": 10, "maxit": 3})
    wine = interlace.load_dataset("wine")
    with pytest.raises(PluginError, match="optimizer 'nelder-mead' has no option 'maxfun'"):
        interlace.clmm("rating ~ temp + (1 | judge)", wine, optimizer="nelder-mead",
                       optimizer_options={"maxfun": 10})


class Powell(Optimizer):
    """A third-party optimizer that declares no options: they are passed on unchecked."""

    name = "powell-test"

    def minimize(self, fun, x0, bounds, jac=None, options=None):
        r = minimize(fun, x0, method="Powell", bounds=bounds, options=dict(options or {}))
        return OptimizeResult(np.asarray(r.x), float(r.fun), bool(r.success), int(r.nfev),
                              str(r.message))


class DeclaredPowell(Powell):
    name = "declared-powell-test"
    options_accepted = {"maxfev": "the maximum number of evaluations"}  # value not checked


def test_undeclared_options_are_not_checked_declared_ones_are():
    check_optimizer_options(Powell(), {"anything": "goes"})
    check_optimizer_options(DeclaredPowell(), {"maxfev": "unchecked"})
    with pytest.raises(PluginError, match=r"has no option 'xtol'; its options are: maxfev"):
        check_optimizer_options(DeclaredPowell(), {"xtol": 1e-8})
    with pytest.raises(PluginError, match="optimizer_options must be a dict"):
        check_optimizer_options(DeclaredPowell(), [("maxfev", 1)])
    with pytest.raises(PluginError, match="option names must be strings, got 1"):
        check_optimizer_options(DeclaredPowell(), {1: 2})


@pytest.mark.parametrize("optimizer, key, value", [
    ("bobyqa", "maxeval", 5), ("lbfgsb", "maxiter", 2), ("nelder-mead", "maxfev", 3)])
def test_an_lmm_stopped_at_its_limit_is_unconverged(optimizer, key, value):
    """interlace.fit with an optimizer plugin stopped by its limit says so (the Newton polish
    after it must not hide that the optimizer gave up), and converges without the limit."""
    sleep = interlace.load_dataset("sleepstudy")
    with pytest.warns(ConvergenceWarning, match="stopped at its limit"):
        res = interlace.fit("Reaction ~ Days + (Days | Subject)", sleep, optimizer=optimizer,
                            optimizer_options={key: value})
    assert not res.converged
    assert any("raise the limit in optimizer_options" in m for m in res.messages)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        assert interlace.fit("Reaction ~ Days + (Days | Subject)", sleep,
                             optimizer=optimizer).converged
