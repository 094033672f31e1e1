"""Griffe extension: load the namespace subpackages of interlace (folders without an
``__init__.py``, e.g. ``interlace/core``), which griffe's static loader skips, so that the API
reference can document objects re-exported from them (``interlace.glmer`` and the rest)."""

from __future__ import annotations

from pathlib import Path

import griffe


def attach_namespaces(pkg: griffe.Module, loader: griffe.GriffeLoader) -> None:
    root = Path(pkg.filepath).parent
    for sub in sorted(p for p in root.iterdir() if p.is_dir()):
        if (sub / "__init__.py").exists() or sub.name in pkg.members or not any(sub.glob("*.py")):
            continue
        ns = griffe.Module(sub.name, filepath=[sub], parent=pkg)
        pkg.set_member(sub.name, ns)
        for f in sorted(sub.glob("*.py")):
            mod = griffe.visit(f.stem, filepath=f, code=f.read_text(), parent=ns,
                               docstring_parser=loader.docstring_parser,
                               docstring_options=loader.docstring_options)
            ns.set_member(f.stem, mod)


class NamespacePackages(griffe.Extension):
    def on_package(self, *, pkg: griffe.Module, loader: griffe.GriffeLoader, **kwargs) -> None:
        if pkg.name == "interlace":
            attach_namespaces(pkg, loader)
