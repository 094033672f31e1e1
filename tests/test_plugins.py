"""Plugin discovery, lookup by name or instance, a real third-party plugin and a broken one.

The third-party plugins live in ``tests/plugin_fixture/``: each directory holds a package and
its ``*.dist-info`` (with ``entry_points.txt``), exactly what ``pip install`` leaves in
site-packages. Putting the directory on ``sys.path`` "installs" it; ``reload_plugins()``
rediscovers the entry points.
"""

from __future__ import annotations

import sys
import warnings
from importlib.metadata import entry_points
from pathlib import Path

import numpy as np
import pytest

import interlace
from interlace.optimizers.base import Optimizer, OptimizeResult

FIXTURES = Path(__file__).parent / "plugin_fixture"

BUILTINS = {
    "family": {"binomial", "poisson", "gaussian", "nbinom2"},
    "link": {"logit", "probit", "cloglog", "cauchit", "log", "identity", "sqrt", "inverse"},
    "optimizer": {"lbfgsb", "bobyqa", "nelder-mead"},
    "integrator": {"laplace"},
    "covariance": {"us", "diag"},
}
SEED_FORMULA = "count ~ x1 + x2"


@pytest.fixture(scope="module")
def seed_counts():
    return interlace.load_dataset("seed_counts")


def _install(*paths: Path):
    """A context manager putting fixture distributions on sys.path and reloading plugins;
    on exit the path is removed, the plugin's modules forgotten and the registry reloaded."""

    class _Installed:
        def __enter__(self):
            self.mp = pytest.MonkeyPatch()
            for path in paths:
                self.mp.syspath_prepend(str(path))
            self.modules = set(sys.modules)
            with warnings.catch_warnings(record=True) as self.warnings:
                warnings.simplefilter("always")
                interlace.reload_plugins()
            return self

        def __exit__(self, *exc):
            self.mp.undo()
            for name in set(sys.modules) - self.modules:
                if name.startswith("interlace_"):
                    del sys.modules[name]
            interlace.reload_plugins()
            return False

    return _Installed()


# -- built-ins -----------------------------------------------------------------------------
def test_list_plugins_shows_builtins_per_kind():
    listed = interlace.list_plugins()
    assert set(listed) == set(BUILTINS)
    for kind, names in BUILTINS.items():
        assert names <= set(listed[kind]), (kind, listed[kind])


def test_builtins_come_from_entry_points():
    eps = {ep.name: ep.value for ep in entry_points(group="interlace")}
    assert eps.get("builtin_families") == "interlace.families.builtin"
    assert eps.get("builtin_links") == "interlace.links.builtin"
    assert eps.get("builtin_optimizers") == "interlace.optimizers.builtin"
    assert eps.get("builtin_integrators") == "interlace.integrators.builtin"
    assert eps.get("builtin_covariances") == "interlace.covariance.builtin"
    reg = interlace.reload_plugins()
    for name in ("builtin_families", "builtin_links", "builtin_optimizers", "builtin_integrators",
                 "builtin_covariances"):
        assert reg.pm.get_plugin(name) is not None, name
    assert interlace.plugin_errors() == []


# -- a real third-party plugin -------------------------------------------------------------
def test_third_party_family_by_name(seed_counts):
    with _install(FIXTURES / "good") as inst:
        assert not [w for w in inst.warnings if issubclass(w.category, interlace.InterlaceWarning)]
        assert "testfam" in {ep.name for ep in entry_points(group="interlace")}
        fams = interlace.list_plugins()["family"]
        assert {"mypoisson", "geometric"} <= set(fams)
        assert BUILTINS["family"] <= set(fams)  # the built-ins are still there
        assert interlace.plugin_errors() == []

        mine = interlace.glmer(SEED_FORMULA, seed_counts, family="mypoisson", groups="site")
        ref = interlace.glmer(SEED_FORMULA, seed_counts, family="poisson", groups="site")
        assert type(mine.family).__module__ == "interlace_testfam"
        assert mine.family.name == "mypoisson"
        assert mine.converged
        assert np.isfinite(mine.llf)
        np.testing.assert_allclose(mine.llf, ref.llf, rtol=0, atol=1e-8)
        np.testing.assert_allclose(mine.fe_params.to_numpy(), ref.fe_params.to_numpy(),
                                   rtol=0, atol=1e-8)
        np.testing.assert_allclose(mine.fe_bse.to_numpy(), ref.fe_bse.to_numpy(), rtol=1e-6)
        np.testing.assert_allclose(mine.theta, ref.theta, rtol=0, atol=1e-7)
        # an alias works too, and the name is case-insensitive
        alias = interlace.glmer(SEED_FORMULA, seed_counts, family="My-Poisson", groups="site")
        np.testing.assert_allclose(alias.llf, ref.llf, rtol=0, atol=1e-8)

    # uninstalled: the family is gone again and the built-ins are untouched
    assert "mypoisson" not in interlace.list_plugins()["family"]
    with pytest.raises(interlace.PluginError, match="mypoisson"):
        interlace.glmer(SEED_FORMULA, seed_counts, family="mypoisson", groups="site")
    assert interlace.plugin_errors() == []


def _laplace_llf_random_intercept(res, family, y, X, groups):
    """The Laplace log-likelihood of a one-factor random-intercept log-link model, computed
    directly: conditional modes by Newton per group, Fisher weights in the log-determinant
    (lme4's definition), all constants of the density included."""
    beta = res.fe_params.to_numpy()
    sd = float(np.sqrt(res.variance_components["site"].iloc[0, 0]))
    codes, levels = np.unique(groups, return_inverse=True)
    eta0 = X @ beta
    total = 0.0
    for g in range(len(codes)):
        rows = levels == g
        yg, eg = y[rows], eta0[rows]
        u = 0.0
        for _ in range(100):  # maximise sum loglik(y | exp(eta0 + sd u)) - u^2 / 2
            mu = np.exp(eg + sd * u)
            var = mu * (1.0 + mu)  # geometric
            score = np.sum((yg - mu) / var * mu) * sd - u
            h = 1e-6
            mu_h = np.exp(eg + sd * (u + h))
            score_h = np.sum((yg - mu_h) / (mu_h * (1 + mu_h)) * mu_h) * sd - (u + h)
            step = score / (-(score_h - score) / h)
            u += step
            if abs(step) < 1e-13:
                break
        mu = np.exp(eg + sd * u)
        ll = np.sum(family.loglik(yg, mu, np.ones_like(yg), {}))
        fisher = np.sum(mu * mu / (mu * (1.0 + mu)))  # (dmu/deta)^2 / Var
        total += ll - 0.5 * u * u - 0.5 * np.log1p(sd * sd * fisher)
    return total


def test_third_party_new_family_fits(seed_counts):
    with _install(FIXTURES / "good"):
        res = interlace.glmer(SEED_FORMULA, seed_counts, family="geometric", groups="site")
        fam = res.family
        assert fam.name == "geometric" and fam.link.name == "log"
        assert res.converged
        assert np.isfinite(res.llf)
        y = seed_counts["count"].to_numpy(float)
        X = np.column_stack([np.ones(len(y)), seed_counts["x1"], seed_counts["x2"]])
        direct = _laplace_llf_random_intercept(res, fam, y, X, seed_counts["site"].to_numpy())
        assert abs(res.llf - direct) < 1e-6, (res.llf, direct)
        # the geometric distribution is the negative binomial with shape 1
        nb = interlace.glmer(SEED_FORMULA, seed_counts,
                             family=interlace.NegativeBinomial2Family(theta=1.0), groups="site")
        assert abs(res.llf - nb.llf) < 1e-5
        np.testing.assert_allclose(res.fe_params.to_numpy(), nb.fe_params.to_numpy(), atol=1e-4)
        # the plugin's own validation is used
        bad = seed_counts.assign(count=seed_counts["count"] - 0.5)
        with pytest.raises(interlace.DataError, match="geometric response 'count'"):
            interlace.glmer(SEED_FORMULA, bad, family="geometric", groups="site")
        # link choice is checked against the plugin's list
        with pytest.raises(interlace.PluginError, match="allowed links: log, identity, sqrt"):
            interlace.glmer(SEED_FORMULA, seed_counts, family="geometric", link="logit",
                            groups="site")


def test_broken_plugin_is_reported_and_isolated(seed_counts):
    with _install(FIXTURES / "broken") as inst:
        msgs = [str(w.message) for w in inst.warnings
                if issubclass(w.category, interlace.InterlaceWarning)]
        assert any("brokenfam = interlace_brokenfam_impl" in m and "ImportError" in m
                   for m in msgs), msgs
        errors = interlace.plugin_errors()
        assert len(errors) == 1
        assert errors[0].entry_point == "brokenfam = interlace_brokenfam_impl"
        assert "ImportError" in errors[0].error and "nonexistent_dependency" in errors[0].error
        # the built-ins still work
        listed = interlace.list_plugins()
        for kind, names in BUILTINS.items():
            assert names <= set(listed[kind])
        r = interlace.glmer(SEED_FORMULA, seed_counts, family="poisson", groups="site")
        assert r.converged and np.isfinite(r.llf)
    assert interlace.plugin_errors() == []


def test_broken_and_good_plugins_together(seed_counts):
    with _install(FIXTURES / "broken", FIXTURES / "good"):
        assert [e.entry_point for e in interlace.plugin_errors()] == [
            "brokenfam = interlace_brokenfam_impl"]
        assert "geometric" in interlace.list_plugins()["family"]


# -- unknown names -------------------------------------------------------------------------
@pytest.mark.parametrize("kind, kwargs", [
    ("family", {"family": "nosuch"}),
    ("link", {"family": "poisson", "link": "nosuch"}),
    ("optimizer", {"family": "poisson", "optimizer": "nosuch"}),
])
def test_unknown_name_lists_registered(seed_counts, kind, kwargs):
    with pytest.raises(interlace.PluginError) as ei:
        interlace.glmer(SEED_FORMULA, seed_counts, groups="site", **kwargs)
    msg = str(ei.value)
    assert "'nosuch'" in msg and kind in msg
    for name in BUILTINS[kind]:
        assert name in msg, (name, msg)


def test_unknown_integrator_lists_registered(seed_counts):
    with pytest.raises(interlace.PluginError, match="laplace"):
        interlace.glmer(SEED_FORMULA, seed_counts, "poisson", groups="site", integrator="nosuch")


def test_plugin_error_is_a_value_error(seed_counts):
    with pytest.raises(ValueError):
        interlace.glmer(SEED_FORMULA, seed_counts, family="nosuch", groups="site")


@pytest.mark.parametrize("family, link, allowed", [
    ("poisson", "logit", ["log", "sqrt", "identity"]),
    ("binomial", "inverse", ["logit", "probit", "cloglog", "cauchit"]),
    ("gaussian", "cloglog", ["identity", "log"]),
])
def test_link_not_allowed_for_family(seed_counts, family, link, allowed):
    with pytest.raises(interlace.PluginError) as ei:
        interlace.glmer(SEED_FORMULA, seed_counts, family=family, link=link, groups="site")
    msg = str(ei.value)
    assert repr(link) in msg and family in msg and "allowed links" in msg
    for name in allowed:
        assert name in msg


def test_family_that_is_not_a_family(seed_counts):
    with pytest.raises(interlace.PluginError, match="family must be a registered family name"):
        interlace.glmer(SEED_FORMULA, seed_counts, family=3, groups="site")


# -- instances -----------------------------------------------------------------------------
def test_family_instance_and_class(seed_counts):
    by_name = interlace.glmer(SEED_FORMULA, seed_counts, family="poisson", groups="site")
    inst = interlace.glmer(SEED_FORMULA, seed_counts, family=interlace.PoissonFamily(),
                           groups="site")
    cls = interlace.glmer(SEED_FORMULA, seed_counts, family=interlace.PoissonFamily,
                          groups="site")
    for r in (inst, cls):
        assert abs(r.llf - by_name.llf) < 1e-10
        np.testing.assert_allclose(r.fe_params, by_name.fe_params, atol=1e-10)


def test_family_instance_with_link(seed_counts):
    fam = interlace.PoissonFamily(link="sqrt")
    r = interlace.glmer(SEED_FORMULA, seed_counts, family=fam, groups="site")
    r2 = interlace.glmer(SEED_FORMULA, seed_counts, family="poisson", link="sqrt", groups="site")
    assert r.link.name == "sqrt"
    assert abs(r.llf - r2.llf) < 1e-8
    with pytest.raises(interlace.PluginError, match="conflicts"):
        interlace.glmer(SEED_FORMULA, seed_counts, family=fam, link="log", groups="site")


class CountingNelderMead(Optimizer):
    """A third-party optimizer passed as an instance (never registered): scipy Nelder-Mead
    on the unbounded problem, with bounds enforced by clipping."""

    name = "counting-nm"

    def __init__(self):
        super().__init__()
        self.calls = 0

    def minimize(self, fun, x0, bounds, jac=None, options=None):
        from scipy.optimize import minimize

        lo = np.array([-np.inf if b[0] is None else b[0] for b in bounds])
        hi = np.array([np.inf if b[1] is None else b[1] for b in bounds])
        self.calls += 1
        res = minimize(lambda x: fun(np.clip(x, lo, hi)), np.asarray(x0, float),
                       method="Nelder-Mead",
                       options={"xatol": 1e-10, "fatol": 1e-12, "maxfev": 20000})
        x = np.clip(res.x, lo, hi)
        return OptimizeResult(x, float(fun(x)), bool(res.success), int(res.nfev), str(res.message))


def test_optimizer_instances(seed_counts):
    ref = interlace.glmer(SEED_FORMULA, seed_counts, family="poisson", groups="site")
    from interlace.optimizers.bobyqa import BOBYQA

    r = interlace.glmer(SEED_FORMULA, seed_counts, family="poisson", groups="site",
                        optimizer=BOBYQA())
    assert r.optimizer == "bobyqa"
    assert abs(r.llf - ref.llf) < 1e-6
    opt = CountingNelderMead()
    r2 = interlace.glmer(SEED_FORMULA, seed_counts, family="poisson", groups="site",
                         optimizer=opt)
    assert opt.calls >= 1
    assert r2.optimizer == "counting-nm"
    assert abs(r2.llf - ref.llf) < 1e-5
    np.testing.assert_allclose(r2.fe_params, ref.fe_params, atol=1e-3)
