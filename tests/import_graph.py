"""The import graph of a package, built from its source with :mod:`ast` (nothing is imported).

Used by ``tests/test_architecture.py``; tested both ways (on toy packages) in its own tests.
Every ``import`` / ``from ... import`` statement counts, wherever it is: module level, inside
functions and methods, under ``if TYPE_CHECKING:``; so do ``importlib.import_module("...")``
calls with a literal name. Relative imports are resolved. ``from pkg import name`` is an edge to
``pkg.name`` when that is a module of the package, else to ``pkg`` (its ``__init__``). Imports of
modules outside the package are ignored. The implicit import of a module's parent packages is
not an edge (it would put every package ``__init__`` on a cycle with its own modules).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

PLUGIN_FOLDERS = ("families", "links", "optimizers", "integrators", "covariance")


@dataclass(frozen=True)
class Import:
    """One import of a module of the package by another (or the same) module."""

    source: str  # the importing module, e.g. "interlace.config.data"
    target: str  # the imported module (a package means its __init__), e.g. "interlace.errors"
    names: tuple[str, ...]  # the names of ``from target import ...`` that are not modules; () else
    line: int
    in_function: bool  # inside a function or method (a lazy import)


@dataclass
class ImportGraph:
    """The modules of a package (dotted name -> file), their syntax trees and their imports."""

    package: str
    modules: dict[str, Path]
    trees: dict[str, ast.Module]
    imports: list[Import] = field(default_factory=list)

    def __repr__(self) -> str:
        return f"ImportGraph({self.package!r}: {len(self.modules)} modules, {len(self.imports)} imports)"

    @property
    def edges(self) -> dict[str, set[str]]:
        """Module -> the modules of the package it imports (itself left out)."""
        out: dict[str, set[str]] = {m: set() for m in self.modules}
        for imp in self.imports:
            if imp.target != imp.source:
                out[imp.source].add(imp.target)
        return out

    def is_package(self, name: str) -> bool:
        """Whether ``name`` is a package (its module is an ``__init__.py``)."""
        return self.modules[name].name == "__init__.py"

    def where(self, module: str, line: int) -> str:
        """``path:line`` of a module's line, the path relative to the package's parent."""
        path = self.modules[module]
        root = self.modules[self.package].parent.parent
        return f"{path.relative_to(root).as_posix()}:{line}"


def module_name(path: Path, root: Path) -> str:
    """The dotted name of the module in ``path``; ``root`` is the folder holding the package."""
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def build_graph(package_dir: Path | str) -> ImportGraph:
    """The import graph of the package in ``package_dir`` (a folder with an ``__init__.py``)."""
    package_dir = Path(package_dir).resolve()
    root = package_dir.parent
    modules = {module_name(f, root): f for f in sorted(package_dir.rglob("*.py"))}
    trees = {m: ast.parse(f.read_text(encoding="utf-8"), str(f)) for m, f in modules.items()}
    graph = ImportGraph(package_dir.name, modules, trees)
    for m, tree in trees.items():
        graph.imports.extend(_imports_of(graph, m, tree))
    return graph


def _walk(node: ast.AST, in_function: bool = False) -> Iterator[tuple[ast.AST, bool]]:
    """Every node below ``node`` with whether it sits inside a function."""
    for child in ast.iter_child_nodes(node):
        yield child, in_function
        inside = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
        yield from _walk(child, inside)


def _base(graph: ImportGraph, module: str, node: ast.ImportFrom) -> str:
    """The absolute module name a ``from X import ...`` statement reads from."""
    if not node.level:
        return node.module or ""
    parts = module.split(".")
    if not graph.is_package(module):
        parts = parts[:-1]  # a module's relative imports start from its package
    parts = parts[: len(parts) - (node.level - 1)]
    return ".".join(parts + ([node.module] if node.module else []))


def _known(graph: ImportGraph, dotted: str) -> str | None:
    """The longest prefix of ``dotted`` that is a module of the package (None: outside it)."""
    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):
        name = ".".join(parts[:i])
        if name in graph.modules:
            return name
    return None


def _imports_of(graph: ImportGraph, module: str, tree: ast.Module) -> Iterator[Import]:
    for node, in_fn in _walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                target = _known(graph, alias.name)
                if target:
                    yield Import(module, target, (), node.lineno, in_fn)
        elif isinstance(node, ast.ImportFrom):
            base = _base(graph, module, node)
            if base not in graph.modules:
                continue
            plain = []
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                if sub in graph.modules:
                    yield Import(module, sub, (), node.lineno, in_fn)
                else:
                    plain.append(alias.name)
            if plain:
                yield Import(module, base, tuple(plain), node.lineno, in_fn)
        elif isinstance(node, ast.Call) and _is_import_module(node):
            target = _known(graph, node.args[0].value)
            if target:
                yield Import(module, target, (), node.lineno, in_fn)


def _is_import_module(node: ast.Call) -> bool:
    """``importlib.import_module("literal")`` or ``import_module("literal")``."""
    f = node.func
    name = f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else ""
    return (name == "import_module" and bool(node.args) and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str))


# -- the checks ------------------------------------------------------------------------------
def cycles(graph: ImportGraph) -> list[list[str]]:
    """The import cycles: every strongly connected component of more than one module, each
    sorted, the largest first (Tarjan's algorithm, iterative)."""
    edges = {m: sorted(t) for m, t in graph.edges.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start in sorted(edges):
        if start in index:
            continue
        work = [(start, iter(edges[start]))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            v, it = work[-1]
            w = next(it, None)
            if w is not None:
                if w not in index:
                    index[w] = low[w] = len(index)
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(edges[w])))
                elif w in on_stack:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                if len(comp) > 1:
                    found.append(sorted(comp))
    return sorted(found, key=lambda c: (-len(c), c))


def cycle_path(graph: ImportGraph, component: list[str]) -> list[str]:
    """One closed walk through a cycle's modules, for a readable message: a -> b -> ... -> a."""
    members = set(component)
    edges = {m: sorted(t & members) for m, t in graph.edges.items() if m in members}
    start = component[0]
    # breadth-first from start back to start, within the component
    prev: dict[str, str] = {}
    frontier = [start]
    while frontier:
        nxt = []
        for v in frontier:
            for w in edges[v]:
                if w == start:
                    path = [v]
                    while path[-1] != start:
                        path.append(prev[path[-1]])
                    return [start, *reversed(path[:-1]), start] if v != start else [start, start]
                if w not in prev:
                    prev[w] = v
                    nxt.append(w)
        frontier = nxt
    return component


def cycle_imports(graph: ImportGraph, component: list[str]) -> list[str]:
    """The import statements inside a cycle's modules, ``path:line source -> target`` (marked
    when lazy): the lines among which one must go to break it."""
    members = set(component)
    return sorted({f"{graph.where(i.source, i.line)} {i.source} -> {i.target}"
                   + (" (in a function)" if i.in_function else "")
                   for i in graph.imports
                   if i.source in members and i.target in members and i.source != i.target})


def _is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def private_imports(graph: ImportGraph) -> list[str]:
    """Private names (``_x``, not dunders) imported from another module of the package, and
    private attributes read through an imported module (``mod._x``). A private *module* may be
    imported from inside its own package."""
    found = []
    for imp in graph.imports:
        if imp.target == imp.source:
            continue
        for name in imp.names:
            if _is_private(name):
                found.append(f"{graph.where(imp.source, imp.line)}: imports {name} from {imp.target}")
        last = imp.target.rsplit(".", 1)[-1]
        parent = imp.target.rsplit(".", 1)[0]
        if _is_private(last) and not imp.source.startswith(parent + "."):
            found.append(f"{graph.where(imp.source, imp.line)}: imports private module {imp.target}")
    for module, tree in graph.trees.items():
        found.extend(_private_attributes(graph, module, tree))
    return found


def _module_aliases(graph: ImportGraph, module: str, tree: ast.Module) -> dict[str, str]:
    """Names bound to other modules of the package: ``import a.b as x``, ``from a import b``."""
    out = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.asname and a.name in graph.modules and a.name != module:
                    out[a.asname] = a.name
        elif isinstance(node, ast.ImportFrom):
            base = _base(graph, module, node)
            for a in node.names:
                sub = f"{base}.{a.name}"
                if sub in graph.modules and sub != module:
                    out[a.asname or a.name] = sub
    return out


def _private_attributes(graph: ImportGraph, module: str, tree: ast.Module) -> Iterator[str]:
    aliases = _module_aliases(graph, module, tree)
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and _is_private(node.attr)
                and isinstance(node.value, ast.Name) and node.value.id in aliases):
            target = aliases[node.value.id]
            yield f"{graph.where(module, node.lineno)}: reads {node.attr} of {target}"


def plugin_folder(graph: ImportGraph, module: str) -> str | None:
    """The plugin folder (``families``, ...) holding ``module``, or None."""
    parts = module.split(".")
    if len(parts) >= 2 and parts[0] == graph.package and parts[1] in PLUGIN_FOLDERS:
        return parts[1]
    return None


def is_builtin_plugin(graph: ImportGraph, module: str) -> bool:
    """A module of a plugin folder other than its contract: ``base.py``, the modules of the
    folder that ``base.py`` imports (the contract's parts it re-exports) and ``__init__``."""
    folder = plugin_folder(graph, module)
    if folder is None or graph.is_package(module) or module.rsplit(".", 1)[-1] == "base":
        return False
    base = module.rsplit(".", 1)[0] + ".base"
    return not any(i.source == base and i.target == module for i in graph.imports)


def builtin_plugin_imports(graph: ImportGraph) -> list[str]:
    """Imports of a built-in plugin module from outside the plugin folders."""
    return [f"{graph.where(i.source, i.line)}: {i.source} imports built-in plugin {i.target}"
            + (f" ({', '.join(i.names)})" if i.names else "")
            for i in graph.imports
            if plugin_folder(graph, i.source) is None and is_builtin_plugin(graph, i.target)]


def function_lengths(graph: ImportGraph) -> list[tuple[int, str]]:
    """(lines, ``path:line name``) of every function and method, the longest first."""
    out = []
    for module, tree in graph.trees.items():
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                n = node.end_lineno - node.lineno + 1
                out.append((n, f"{graph.where(module, node.lineno)} {node.name}"))
    return sorted(out, key=lambda t: (-t[0], t[1]))


def folder_edges(graph: ImportGraph) -> dict[str, set[str]]:
    """Top-level folder (or module) -> the top-level folders it imports: the layering."""
    def top(m: str) -> str:
        parts = m.split(".")
        return parts[1] if len(parts) > 1 else "__init__"

    out: dict[str, set[str]] = {}
    for src, targets in graph.edges.items():
        out.setdefault(top(src), set()).update(top(t) for t in targets if top(t) != top(src))
    return out


# -- the layering ------------------------------------------------------------------------------
def unit_of(graph: ImportGraph, module: str) -> str:
    """The architectural unit of a module: its top-level folder (or module); a plugin folder is
    three units, its contract (``families/base``), its built-ins (``families/built-ins``) and
    its package (``families``, which re-exports them)."""
    parts = module.split(".")
    if len(parts) == 1:
        return "__init__"
    folder = plugin_folder(graph, module)
    if folder is not None and len(parts) > 2:
        return f"{folder}/built-ins" if is_builtin_plugin(graph, module) else f"{folder}/base"
    return parts[1]


def unit_edges(graph: ImportGraph) -> dict[str, set[str]]:
    """Unit -> the other units it imports."""
    out: dict[str, set[str]] = {}
    for imp in graph.imports:
        a, b = unit_of(graph, imp.source), unit_of(graph, imp.target)
        out.setdefault(a, set())
        out.setdefault(b, set())
        if a != b:
            out[a].add(b)
    return out


def layering(graph: ImportGraph) -> list[list[str]]:
    """The units by layer, bottom first: a unit's layer is one above the highest it imports.
    Units on a cycle (at unit level) share a layer and are shown joined, ``"linalg+model"``."""
    edges = unit_edges(graph)
    units = ImportGraph("units", {u: Path(u) for u in edges}, {})
    units.imports = [Import(a, b, (), 0, False) for a, bs in edges.items() for b in bs]
    group = {u: u for u in edges}
    for comp in cycles(units):
        for u in comp:
            group[u] = "+".join(comp)
    deps: dict[str, set[str]] = {}
    for a, bs in edges.items():
        deps.setdefault(group[a], set()).update(group[b] for b in bs if group[b] != group[a])
    level: dict[str, int] = {}

    def depth(g: str) -> int:
        if g not in level:
            level[g] = 1 + max((depth(d) for d in deps[g]), default=-1)
        return level[g]

    for g in deps:
        depth(g)
    return [sorted(g for g in deps if level[g] == i) for i in range(max(level.values()) + 1)]


def main(package_dir: str = "interlace") -> None:
    """Print the checks' findings and the layering (``python tests/import_graph.py [pkg]``)."""
    g = build_graph(package_dir)
    for comp in cycles(g):
        print(f"cycle: {' -> '.join(cycle_path(g, comp))}  ({len(comp)} modules: {', '.join(comp)})")
    for line in private_imports(g) + builtin_plugin_imports(g):
        print(line)
    print(*(f"{n} lines: {w}" for n, w in function_lengths(g) if n > 100), sep="\n")
    for i, layer in enumerate(layering(g)):
        print(f"layer {i}: {', '.join(layer)}")


if __name__ == "__main__":
    import sys

    main(*sys.argv[1:2])
