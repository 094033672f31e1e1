"""A registry that checks: plugin classes against their kind's base, name clashes, overrides,
and the family's per-row outputs at fit time.

Each test first does what a new user would (register a plugin with a mistake, or a name
that is already taken) and then checks that the mistake is reported, naming the plugin, the
class and what is wrong. Plugins are registered on the process-wide registry (or a fresh
``Registry``); the ``restore`` fixture reloads the plugins afterwards, since other tests
share the registry.
"""

from __future__ import annotations

import ast
import sys
import types
import warnings
from pathlib import Path

import numpy as np
import pytest

import interlace
from interlace import (
    BinomialFamily,
    ExponentialFamily,
    Family,
    InterlaceWarning,
    PluginError,
    PoissonFamily,
    hookimpl,
)
from interlace.families.checks import CHECK_ROWS
from interlace.links.base import Link
from interlace.registry import Registry, registry

PACKAGE = Path(interlace.__file__).resolve().parent
SEED_FORMULA = "count ~ x1 + x2"


@pytest.fixture
def restore():
    """Give the test the process-wide registry; reload the installed plugins afterwards."""
    yield registry()
    interlace.reload_plugins()


@pytest.fixture(scope="module")
def seed_counts():
    return interlace.load_dataset("seed_counts")


def _plugin(module: str, **hooks: list) -> types.ModuleType:
    """A plugin module ``module`` whose hooks (``interlace_families=[...]``, ...) return classes."""
    mod = types.ModuleType(module)
    for hook, classes in hooks.items():
        def impl(classes=tuple(classes)):
            return list(classes)
        setattr(mod, hook, hookimpl(impl))
    return mod


def _qual(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def _errors_now() -> tuple[list, list[str]]:
    """plugin_errors() and the InterlaceWarnings it emitted."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        errors = interlace.plugin_errors()
    return errors, [str(w.message) for w in caught if issubclass(w.category, InterlaceWarning)]


# -- plugin classes used below -------------------------------------------------------------
class CountsFamily(ExponentialFamily):
    """A sound Poisson written from scratch (the base of the third-party classes below)."""

    name = "counts"
    links = ("log",)

    def unit_variance(self, mu, params):
        return mu

    def loglik(self, y, mu, weights, params):
        return PoissonFamily.loglik(self, y, mu, weights, params)

    def validate(self, y, weights, label):
        pass

    def initialize(self, y, weights):
        return np.asarray(y, dtype=float) + 0.1


class ThirdPartyPoisson(CountsFamily):
    name = "poisson"
    aliases = ("pois3",)


class OverridingPoisson(CountsFamily):
    name = "poisson"
    aliases = ("pois4",)
    overrides = ("poisson",)


class OtherSichel(CountsFamily):
    name = "sichel"


class AnotherSichel(CountsFamily):
    name = "sichel"


class MyBinomial(BinomialFamily):
    name = "mybinomial"  # no aliases of its own: "bernoulli" stays with the built-in


class Unnamed(BinomialFamily):
    pass


class NoValidate(Family):
    name = "novalidate"

    def loglik(self, y, mu, weights, params):
        return -mu


class NotAFamily:
    name = "notafamily"

    def loglik(self, y, mu, weights, params):
        return -mu


class AliasThief(CountsFamily):
    name = "mycounts"
    aliases = ("bernoulli", "mycounts2")


class SameNameTwice(CountsFamily):
    name = "twice"
    aliases = ("Twice", "twice2")


class BadOverride(CountsFamily):
    name = "badoverride"
    overrides = ("gaussian",)


class BadLink(Link):
    name = "badlink"  # implements nothing


# -- 1. classes checked against the base, all failures at once -----------------------------
def test_family_missing_validate_is_reported_at_load_and_not_registered(restore):
    restore.register(_plugin("my_pkg.plugin", interlace_families=[NoValidate]), name="my_pkg")
    errors, warned = _errors_now()
    assert [(e.entry_point, e.kind, e.plugin_class) for e in errors] == [
        ("my_pkg", "family", _qual(NoValidate))]
    assert errors[0].error == f"family class {_qual(NoValidate)} does not implement validate()"
    assert any("my_pkg" in w and "validate()" in w for w in warned), warned
    assert "novalidate" not in interlace.list_plugins()["family"]
    with pytest.raises(PluginError, match="unknown family 'novalidate'"):
        restore.get_class("family", "novalidate")


def test_class_that_is_not_a_subclass_of_the_base(restore):
    restore.register(_plugin("my_pkg.plugin", interlace_families=[NotAFamily, len]), name="my_pkg")
    errors, _ = _errors_now()
    msgs = [e.error for e in errors]
    assert msgs[0] == f"family class {_qual(NotAFamily)} is not a subclass of interlace.families.base.Family"
    assert "family hook returned <built-in function len>" in msgs[1] and "not a class" in msgs[1]
    assert "notafamily" not in interlace.list_plugins()["family"]


def test_class_without_a_name_of_its_own(restore):
    restore.register(_plugin("my_pkg.plugin", interlace_families=[Unnamed]), name="my_pkg")
    errors, _ = _errors_now()
    assert len(errors) == 1
    assert errors[0].error == (f"family class {_qual(Unnamed)} declares no name of its own "
                               "(it would inherit 'binomial'; set name = '...')")
    assert restore.get_class("family", "binomial") is BinomialFamily
    assert restore.get_class("family", "bernoulli") is BinomialFamily


def test_malformed_names_and_overrides(restore):
    bad_aliases = type("BadAliases", (CountsFamily,), {"name": "badaliases", "aliases": "ba"})
    empty = type("EmptyName", (CountsFamily,), {"name": "  "})
    restore.register(_plugin("my_pkg.plugin", interlace_families=[bad_aliases, empty, BadOverride]),
                     name="my_pkg")
    msgs = [e.error for e in _errors_now()[0]]
    assert "declares aliases = 'ba'; expected a tuple of non-empty strings" in msgs[0]
    assert "declares name = '  '; expected a non-empty string" in msgs[1]
    assert f"{_qual(BadOverride)} overrides 'gaussian', which is not one of its own names" in msgs[2]
    assert restore.get_class("family", "gaussian").__module__ == "interlace.families.gaussian"


def test_several_failures_of_one_installed_package_before_any_lookup(tmp_path, monkeypatch):
    """The real path: a package installed with an entry point; plugin_errors() right after
    discovery lists every failure (not just the first one a lookup happens to touch)."""
    (tmp_path / "badpkg.py").write_text(
        "import numpy as np\n"
        "from interlace import Family, hookimpl\n"
        "from interlace.links.base import Link\n"
        "class NoValidate(Family):\n    name = 'novalidate'\n"
        "    def loglik(self, y, mu, weights, params):\n        return -mu\n"
        "class NoName(Family):\n"
        "    def loglik(self, y, mu, weights, params):\n        return -mu\n"
        "    def validate(self, y, weights, label):\n        pass\n"
        "class HalfLink(Link):\n    name = 'halflink'\n"
        "    def link(self, mu):\n        return mu\n"
        "@hookimpl\ndef interlace_families():\n    return [NoValidate, NoName, 3]\n"
        "@hookimpl\ndef interlace_links():\n    return [HalfLink]\n"
        "@hookimpl\ndef interlace_family():\n    return []\n")
    dist = tmp_path / "badpkg-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: badpkg\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[interlace]\nbadpkg = badpkg\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            interlace.reload_plugins()
            errors = interlace.plugin_errors()
        assert {e.entry_point for e in errors} == {"badpkg = badpkg"}
        msgs = sorted(e.error for e in errors)
        assert msgs == sorted([
            "implements interlace_family(), which is not an interlace hook; expected one of "
            "interlace_families, interlace_links, interlace_optimizers, interlace_integrators, "
            "interlace_covariances",
            "family class badpkg.NoValidate does not implement validate()",
            "family class badpkg.NoName declares no name of its own",
            "family hook returned 3 (int), not a class",
            "link class badpkg.HalfLink does not implement inverse(), mu_eta()",
        ]), msgs
        warned = [str(w.message) for w in caught if issubclass(w.category, InterlaceWarning)]
        assert len(warned) == 5 and all("'badpkg = badpkg'" in w for w in warned), warned
        listed = interlace.list_plugins()
        assert "novalidate" not in listed["family"] and "halflink" not in listed["link"]
        assert "poisson" in listed["family"]  # the built-ins are untouched
        assert _errors_now()[1] == []  # each failure is warned once
    finally:
        monkeypatch.undo()
        sys.modules.pop("badpkg", None)
        interlace.reload_plugins()
    assert interlace.plugin_errors() == []


def test_hook_that_raises_or_returns_a_class(restore):
    def boom():
        raise RuntimeError("no config file")

    mod = types.ModuleType("my_pkg.plugin")
    mod.interlace_families = hookimpl(boom)
    mod.interlace_links = hookimpl(lambda: BadLink)
    restore.register(mod, name="my_pkg")
    msgs = [e.error for e in _errors_now()[0]]
    assert msgs == ["interlace_families() raised RuntimeError: no config file",
                    f"interlace_links() returned {BadLink!r}; expected a list of classes"]


# -- 2. name clashes and explicit overrides ------------------------------------------------
def test_third_party_poisson_is_reported_and_the_builtin_kept(restore, seed_counts):
    restore.register(_plugin("my_pkg.plugin", interlace_families=[ThirdPartyPoisson]),
                     name="my_pkg")
    with pytest.warns(InterlaceWarning, match="family name 'poisson' is claimed by"):
        errors = interlace.plugin_errors()
    assert len(errors) == 1 and errors[0].entry_point == "my_pkg" and errors[0].kind == "family"
    msg = errors[0].error
    for part in ("builtin_families", "interlace.families.poisson.PoissonFamily", "my_pkg",
                 _qual(ThirdPartyPoisson), "the built-in interlace.families.poisson.PoissonFamily "
                 "keeps it", "overrides = ('poisson',)", f"{_qual(ThirdPartyPoisson)} is not registered"):
        assert part in msg, (part, msg)
    assert _errors_now()[1] == []  # warned once
    reg = restore.source_of("family", "poisson")
    assert reg.cls is PoissonFamily and reg.source.builtin and reg.replaced == ()
    # the class lost its own name, so its alias does not reach it either
    with pytest.raises(PluginError, match="unknown family 'pois3'"):
        restore.get_class("family", "pois3")
    fit = interlace.glmer(SEED_FORMULA, seed_counts, family="poisson", groups="site")
    assert type(fit.family) is PoissonFamily


def test_explicit_override_replaces_the_builtin_and_is_recorded(restore, seed_counts):
    restore.register(_plugin("my_pkg.plugin", interlace_families=[OverridingPoisson]),
                     name="my_pkg")
    errors, warned = _errors_now()
    assert errors == [] and warned == []
    reg = restore.source_of("family", "POISSON")
    assert reg.cls is OverridingPoisson and reg.source.plugin == "my_pkg" and not reg.source.builtin
    assert [(s.cls, s.builtin) for s in reg.replaced] == [(PoissonFamily, True)]
    assert [(r.kind, r.name, r.cls) for r in restore.overrides()] == [
        ("family", "poisson", OverridingPoisson)]
    assert restore.get_class("family", "pois4") is OverridingPoisson
    fit = interlace.glmer(SEED_FORMULA, seed_counts, family="poisson", groups="site")
    assert type(fit.family) is OverridingPoisson
    ref = interlace.glmer(SEED_FORMULA, seed_counts, family=PoissonFamily(), groups="site")
    assert abs(fit.llf - ref.llf) < 1e-6
    interlace.reload_plugins()
    assert registry().get_class("family", "poisson") is PoissonFamily  # uninstalled: back


@pytest.mark.parametrize("first", ["subclass", "builtins"])
def test_subclass_does_not_inherit_the_alias_bernoulli(first):
    import interlace.families.builtin as builtin_families

    reg = Registry()
    plugins = [(_plugin("my_pkg.plugin", interlace_families=[MyBinomial]), "my_pkg"),
               (builtin_families, "builtin_families")]
    for obj, name in (plugins if first == "subclass" else plugins[::-1]):
        reg.register(obj, name=name)
    assert reg.failures == []
    assert reg.get_class("family", "bernoulli") is BinomialFamily
    assert reg.get_class("family", "binomial") is BinomialFamily
    assert reg.get_class("family", "mybinomial") is MyBinomial
    assert reg.source_of("family", "mybinomial").source.plugin == "my_pkg"


def test_alias_clash_with_a_builtin_drops_only_the_alias(restore):
    restore.register(_plugin("my_pkg.plugin", interlace_families=[AliasThief]), name="my_pkg")
    errors, _ = _errors_now()
    assert len(errors) == 1
    assert "family name 'bernoulli' is claimed by builtin_families" in errors[0].error
    assert f"{_qual(AliasThief)} is registered without that alias" in errors[0].error
    assert restore.get_class("family", "bernoulli") is BinomialFamily
    assert restore.get_class("family", "mycounts2") is AliasThief


def test_two_packages_claiming_one_name_get_neither(restore):
    restore.register(_plugin("pkg_a.plugin", interlace_families=[OtherSichel]), name="pkg_a")
    restore.register(_plugin("pkg_b.plugin", interlace_families=[AnotherSichel]), name="pkg_b")
    errors, warned = _errors_now()
    assert len(errors) == 1 and len(warned) == 1
    assert errors[0].entry_point == "pkg_a, pkg_b"
    assert f"pkg_a ({_qual(OtherSichel)}) as its name and by pkg_b ({_qual(AnotherSichel)})" \
        in errors[0].error
    assert "no class gets it" in errors[0].error
    with pytest.raises(PluginError, match="family 'sichel' is claimed by pkg_a .* and by pkg_b"):
        restore.get_class("family", "sichel")
    assert "sichel" not in interlace.list_plugins()["family"]


def test_name_and_alias_equal_within_one_class_are_fine(restore):
    restore.register(_plugin("my_pkg.plugin", interlace_families=[SameNameTwice]), name="my_pkg")
    assert interlace.plugin_errors() == []
    assert restore.get_class("family", "TWICE") is SameNameTwice
    assert restore.get_class("family", "twice2") is SameNameTwice


def test_same_class_from_two_plugins_is_no_clash(restore):
    restore.register(_plugin("my_pkg.plugin", interlace_families=[PoissonFamily]), name="my_pkg")
    assert interlace.plugin_errors() == []
    assert restore.source_of("family", "poisson").source.builtin


def test_builtins_declare_their_own_names():
    for kind, names in interlace.list_plugins().items():
        for name in names:
            cls = registry().get_class(kind, name)
            assert "name" in cls.__dict__ and cls.__dict__["name"] == name, (kind, cls)


def test_missing_builtin_entry_points_are_reported(monkeypatch):
    regmod = sys.modules["interlace.registry.registry"]  # the attribute is the function
    monkeypatch.setattr(regmod, "entry_points", lambda group: [])
    reg = Registry()
    with pytest.warns(InterlaceWarning, match="never installed"):
        reg.load_entry_points()
    assert "pip install -e ." in reg.failures[0].error
    assert reg.names("family") == []


# -- 3. no import cycle through the registry -----------------------------------------------
def _module_graph() -> dict[str, set[str]]:
    """interlace's import graph: module -> the interlace modules it imports anywhere (function
    bodies too); ``from pkg import sub`` counts as importing the submodule ``pkg.sub``."""
    paths = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        paths[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    graph = {}
    for mod, path in paths.items():
        out = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                out |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom):
                pkg = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
                for _ in range(node.level - 1):
                    pkg = pkg.rpartition(".")[0]
                base = (f"{pkg}.{node.module}" if node.module else pkg) if node.level else node.module
                out |= {f"{base}.{a.name}" if f"{base}.{a.name}" in paths else base
                        for a in node.names}
        graph[mod] = {m for m in out if m in paths and m != mod}
    return graph


def _reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    seen, todo = set(), list(graph[start])
    while todo:
        m = todo.pop()
        if m not in seen:
            seen.add(m)
            todo += graph[m]
    return seen


def test_registry_imports_no_plugin_folder_and_no_cycle_runs_through_it():
    graph = _module_graph()
    reg_mods = [m for m in graph if m == "interlace.registry" or m.startswith("interlace.registry.")]
    assert len(reg_mods) >= 4
    assert graph["interlace.errors"] == set()
    for m in reg_mods:
        outside = {i for i in graph[m] if i not in reg_mods}
        assert outside <= {"interlace.errors"}, (m, outside)
        assert m not in _reachable(graph, m), m  # no import cycle runs through it
    # the base classes import the registry (to declare their kind), never the reverse
    for kind in ("families", "links", "optimizers", "integrators", "covariance"):
        assert "interlace.registry" in graph[f"interlace.{kind}.base"]


def test_every_kind_has_its_base_declared():
    from interlace.covariance.base import CovarianceStructure
    from interlace.integrators.base import Integrator
    from interlace.optimizers.base import Optimizer
    from interlace.registry import base_class, declare_kind

    assert [base_class(k) for k in interlace.registry.KINDS] == [Family, Link, Optimizer, Integrator,
                                                                 CovarianceStructure]
    with pytest.raises(PluginError, match="unknown plugin kind 'widget'"):
        declare_kind("widget", object)


# -- 4. the family's per-row outputs at fit time -------------------------------------------
class ShortLoglik(PoissonFamily):
    name = "shortpois"

    def loglik(self, y, mu, weights, params):
        return super().loglik(y, mu, weights, params)[:-1]


class ListLoglik(PoissonFamily):
    name = "listpois"

    def loglik(self, y, mu, weights, params):
        return list(super().loglik(y, mu, weights, params))


class TextLoglik(PoissonFamily):
    name = "textpois"

    def loglik(self, y, mu, weights, params):
        return np.array(["x"] * len(y))


class ScalarScore(PoissonFamily):
    name = "scalarscore"

    def score_mu(self, y, mu, weights, params):
        return float(np.sum(y - mu))


def test_loglik_of_length_n_minus_1_is_a_plugin_error_at_fit_time(restore, seed_counts):
    # the per-row methods are evaluated on the first CHECK_ROWS rows (shapes do not depend on n)
    n = min(len(seed_counts), CHECK_ROWS)
    assert len(seed_counts) > CHECK_ROWS
    with pytest.raises(PluginError) as ei:
        interlace.glmer(SEED_FORMULA, seed_counts, family=ShortLoglik(), groups="site")
    assert str(ei.value) == (
        f"family 'shortpois' ({_qual(ShortLoglik)}).loglik returned shape ({n - 1},) for {n} rows;"
        f" it must return one value per row, a float numpy array of shape ({n},)")
    # by name, once registered, too
    restore.register(_plugin("my_pkg.plugin", interlace_families=[ShortLoglik]), name="my_pkg")
    with pytest.raises(PluginError, match=r"'shortpois' .*ShortLoglik\)\.loglik returned shape"):
        interlace.glmer(SEED_FORMULA, seed_counts, family="shortpois", groups="site")


@pytest.mark.parametrize("cls, method, got", [
    (ListLoglik, "loglik", "a list of float"),
    (TextLoglik, "loglik", "an array of dtype <U1"),
    (ScalarScore, "score_mu", "a float"),
])
def test_loglik_of_the_wrong_type_is_a_plugin_error(seed_counts, cls, method, got):
    with pytest.raises(PluginError) as ei:
        interlace.glmer(SEED_FORMULA, seed_counts, family=cls(), groups="site")
    msg = str(ei.value)
    assert msg.startswith(f"family {cls.name!r} ({_qual(cls)}).{method} returned {got}"), msg


def test_ordinal_and_builtin_families_pass_the_output_check():
    from interlace.families.base import check_family_outputs

    y = np.array([0.0, 1.0, 2.0, 1.0, 0.0, 3.0])
    w = np.ones_like(y)
    for cls in (PoissonFamily, interlace.NegativeBinomial2Family, interlace.ZeroInflatedPoissonFamily,
                interlace.HurdleNB2Family, interlace.NegativeBinomial1Family):
        fam = cls()
        check_family_outputs(fam, y, w, fam.parameter_values())
    fam = interlace.OrdinalFamily(ncat=4)
    check_family_outputs(fam, y, w, fam.parameter_values())
