"""The import-graph helper of the architecture tests (tests/import_graph.py), on toy packages
built in a temporary folder: each check finds what it should (a cycle, a private import, a
built-in plugin imported by model code, a long function) and passes a clean package."""

from __future__ import annotations

import textwrap
from pathlib import Path

import import_graph as ig
import pytest


def _package(root: Path, files: dict[str, str]) -> Path:
    """Write ``files`` (path relative to the package folder -> source) as package ``toy``."""
    pkg = root / "toy"
    for rel, text in {"__init__.py": "", **files}.items():
        path = pkg / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.parent != pkg and not (path.parent / "__init__.py").exists():
            (path.parent / "__init__.py").write_text("")
        path.write_text(textwrap.dedent(text))
    return pkg


CLEAN = {
    "errors.py": "class ToyError(Exception):\n    pass\n",
    "families/base.py": "from toy.errors import ToyError\n\nclass Family:\n    pass\n",
    "families/gaussian.py": "from toy.families.base import Family\n\nclass Gaussian(Family):\n    pass\n",
    "families/__init__.py": "from toy.families.gaussian import Gaussian\n",
    "model/design.py": """
        from __future__ import annotations
        from typing import TYPE_CHECKING
        from toy.families import Gaussian
        from toy.families.base import Family
        if TYPE_CHECKING:
            from toy.errors import ToyError

        def build(family: Family) -> Family:
            from .. import errors
            return family or Gaussian()
        """,
    "lmm/fit.py": "from toy.model import design\nfrom ..model.design import build\n",
}


def test_clean_package_passes_every_check(tmp_path):
    g = ig.build_graph(_package(tmp_path, CLEAN))
    assert ig.cycles(g) == []
    assert ig.private_imports(g) == []
    assert ig.builtin_plugin_imports(g) == []
    assert ig.function_lengths(g)[0][0] <= 100


def test_edges_resolve_relative_package_and_module_imports(tmp_path):
    g = ig.build_graph(_package(tmp_path, CLEAN))
    e = g.edges
    assert e["toy.lmm.fit"] == {"toy.model.design"}  # `from toy.model import design`: the module
    assert e["toy.model.design"] == {"toy.families", "toy.families.base", "toy.errors"}
    assert e["toy.families"] == {"toy.families.gaussian"}
    lazy = [i for i in g.imports if i.source == "toy.model.design" and i.in_function]
    assert [(i.target, i.line) for i in lazy] == [("toy.errors", 10)]  # `from .. import errors`
    typing_only = [i for i in g.imports if i.source == "toy.model.design" and i.line == 7]
    assert [i.names for i in typing_only] == [("ToyError",)]  # under TYPE_CHECKING: counted


def test_finds_a_cycle_through_a_function_level_import(tmp_path):
    files = {**CLEAN,
             "a.py": "from toy import b\n",
             "b.py": "def f():\n    from .c import g\n    return g\n",
             "c.py": "import toy.a\n"}
    g = ig.build_graph(_package(tmp_path, files))
    assert ig.cycles(g) == [["toy.a", "toy.b", "toy.c"]]
    assert ig.cycle_path(g, ["toy.a", "toy.b", "toy.c"]) == ["toy.a", "toy.b", "toy.c", "toy.a"]


def test_finds_a_cycle_only_under_type_checking_and_through_import_module(tmp_path):
    files = {**CLEAN,
             "a.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from toy.b import B\n",
             "b.py": "import importlib\nA = importlib.import_module('toy.a')\n"}
    g = ig.build_graph(_package(tmp_path, files))
    assert ig.cycles(g) == [["toy.a", "toy.b"]]


def test_finds_private_imports_and_private_reads_through_a_module(tmp_path):
    files = {**CLEAN,
             "util.py": "def _helper():\n    pass\n\n__version__ = '1'\n",
             "user.py": """
                 from toy.util import _helper, __version__
                 from toy import util as u

                 def f():
                     from .util import _helper as h
                     return h, u._helper
                 """}
    g = ig.build_graph(_package(tmp_path, files))
    found = ig.private_imports(g)
    assert found == ["toy/user.py:2: imports _helper from toy.util",
                     "toy/user.py:6: imports _helper from toy.util",
                     "toy/user.py:7: reads _helper of toy.util"]  # the dunder is fine


def test_private_modules_are_private_to_their_package(tmp_path):
    files = {**CLEAN, "model/_impl.py": "X = 1\n", "model/terms.py": "from toy.model import _impl\n",
             "lmm/use.py": "from toy.model._impl import X\n"}
    g = ig.build_graph(_package(tmp_path, files))
    assert ig.private_imports(g) == ["toy/lmm/use.py:1: imports private module toy.model._impl"]


def test_finds_builtin_plugins_imported_outside_the_plugin_folders(tmp_path):
    files = {**CLEAN,
             "lmm/fit.py": "def fit():\n    from toy.families.gaussian import Gaussian\n    return 1\n",
             "families/binomial.py": "from toy.families.gaussian import Gaussian\n"}  # inside: fine
    g = ig.build_graph(_package(tmp_path, files))
    assert ig.builtin_plugin_imports(g) == [
        "toy/lmm/fit.py:2: toy.lmm.fit imports built-in plugin toy.families.gaussian (Gaussian)"]


@pytest.mark.parametrize("body_lines, too_long", [(99, False), (100, True)])
def test_finds_the_longest_function(tmp_path, body_lines, too_long):
    body = "".join(f"        x{i} = {i}\n" for i in range(body_lines))
    files = {**CLEAN, "long.py": f"class K:\n    def method(self):\n{body}"}
    g = ig.build_graph(_package(tmp_path, files))
    n, where = ig.function_lengths(g)[0]
    assert (n, where) == (body_lines + 1, "toy/long.py:2 method")
    assert (n > 100) is too_long


def test_cycle_report_lists_the_imports_to_cut(tmp_path):
    files = {**CLEAN, "a.py": "from toy import b\n", "b.py": "def f():\n    import toy.a\n"}
    g = ig.build_graph(_package(tmp_path, files))
    assert ig.cycle_imports(g, ["toy.a", "toy.b"]) == [
        "toy/a.py:1 toy.a -> toy.b", "toy/b.py:2 toy.b -> toy.a (in a function)"]


def test_layering_puts_each_unit_above_what_it_imports(tmp_path):
    g = ig.build_graph(_package(tmp_path, CLEAN))
    assert ig.layering(g) == [["errors"], ["families/base"], ["families/built-ins"], ["families"],
                              ["model"], ["lmm"]]
    files = {**CLEAN, "linalg/solve.py": "from toy.model import design\n",
             "model/context.py": "from toy.linalg import solve\n"}
    g = ig.build_graph(_package(tmp_path / "two", files))
    assert ig.layering(g)[-2:] == [["linalg+model"], ["lmm"]]  # a folder-level cycle: one layer
