"""The package's architecture rules (docs/architecture.md), checked on its import graph.

The graph is built from the source with ``ast`` (tests/import_graph.py): imports at module
level, inside functions and under ``if TYPE_CHECKING:`` all count, so a lazy import cannot
hide a cycle. The rules:

(a) no import cycles between modules;
(b) no private name (``_x``) imported from another module of the package;
(c) only the plugin folders (families, links, optimizers, integrators) import their built-in
    plugin modules; everything else reaches plugins through the registry, or imports a
    folder's contract (``base.py``) or package;
(d) no function longer than 100 lines;
(e) the folders form layers: no two units (a folder; a plugin folder's contract, built-ins
    and package counted apart) import each other, even through different modules.
"""

from __future__ import annotations

from pathlib import Path

import import_graph as ig
import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "interlace"
MAX_FUNCTION_LINES = 100


@pytest.fixture(scope="module")
def graph() -> ig.ImportGraph:
    return ig.build_graph(PACKAGE)


def test_no_import_cycles(graph):
    found = ig.cycles(graph)
    report = []
    for c in found:
        report.append(f"cycle of {len(c)} modules: {', '.join(c)}")
        report.append(f"  e.g. {' -> '.join(ig.cycle_path(graph, c))}; its imports:")
        report.extend(f"    {line}" for line in ig.cycle_imports(graph, c))
    assert not found, "import cycles (every import counts, lazy ones too):\n" + "\n".join(report)


def test_no_private_names_imported_from_other_modules(graph):
    found = ig.private_imports(graph)
    assert not found, "private names used across modules (make them public):\n" + "\n".join(found)


def test_builtin_plugins_are_imported_only_by_the_plugin_folders(graph):
    found = ig.builtin_plugin_imports(graph)
    assert not found, ("built-in plugins imported outside families/, links/, optimizers/, "
                       "integrators/ (resolve them through the registry, or use the folder's "
                       "base.py contract):\n" + "\n".join(found))


def test_no_function_longer_than_100_lines(graph):
    lengths = ig.function_lengths(graph)
    too_long = [f"{n} lines: {where}" for n, where in lengths if n > MAX_FUNCTION_LINES]
    longest = f"{lengths[0][0]} lines: {lengths[0][1]}"
    assert not too_long, (f"functions over {MAX_FUNCTION_LINES} lines (the longest: {longest}):\n"
                          + "\n".join(too_long))


def test_the_graph_sees_the_whole_package(graph):
    """Guards the checks above against passing on an empty or partial graph."""
    assert set(graph.modules.values()) == set(PACKAGE.rglob("*.py"))
    assert {"interlace", "interlace.errors", "interlace.registry.registry"} <= set(graph.modules)
    assert any(i.in_function for i in graph.imports)  # lazy imports are in the graph
    assert len(graph.imports) > 200


def test_folders_form_layers(graph):
    """(e): units on a cycle share a layer and are joined by '+' in the layering."""
    joined = [u for layer in ig.layering(graph) for u in layer if "+" in u]
    edges = ig.unit_edges(graph)
    detail = [f"{u}: " + "; ".join(f"{a} -> {', '.join(sorted(b & set(u.split('+'))))}"
                                  for a, b in edges.items() if a in u.split("+"))
              for u in joined]
    assert not joined, "folders that import each other:\n" + "\n".join(detail)
