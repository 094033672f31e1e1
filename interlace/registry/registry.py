"""Plugin discovery and lookup by name, for families, links, optimizers and integrators.

Plugins are found through the entry-point group ``interlace`` (the built-ins too). A plugin
that fails to import or whose hook raises is recorded in :func:`plugin_errors` and reported
with a warning; the other plugins keep working.
"""

from __future__ import annotations

import importlib
import warnings
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any

import pluggy

from interlace.errors import InterlaceWarning, PluginError
from interlace.registry import hookspecs

KINDS = ("family", "link", "optimizer", "integrator")
_HOOKS = {
    "family": "interlace_families",
    "link": "interlace_links",
    "optimizer": "interlace_optimizers",
    "integrator": "interlace_integrators",
}
_BUILTIN_MODULES = {
    "builtin_families": "interlace.families.builtin",
    "builtin_links": "interlace.links.builtin",
    "builtin_optimizers": "interlace.optimizers.builtin",
    "builtin_integrators": "interlace.integrators.builtin",
}


@dataclass(frozen=True)
class PluginFailure:
    """A plugin that could not be loaded: where it came from and why."""

    entry_point: str
    error: str


class Registry:
    """Holds the plugin classes of every kind, indexed by lower-case name and alias."""

    def __init__(self) -> None:
        self.pm = pluggy.PluginManager(hookspecs.PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self.failures: list[PluginFailure] = []
        self._classes: dict[str, dict[str, type]] | None = None

    # -- loading -------------------------------------------------------------------------
    def load_entry_points(self) -> None:
        """Register every module advertised under the ``interlace`` entry-point group."""
        seen = set()
        for ep in entry_points(group=hookspecs.PROJECT):
            if ep.name in seen:
                continue
            seen.add(ep.name)
            try:
                obj = ep.load()
            except Exception as exc:  # noqa: BLE001 - any import failure is reported, not fatal
                self._fail(f"{ep.name} = {ep.value}", exc)
                continue
            self.register(obj, name=ep.name)
        # Running from a source tree that was never installed: the package's own entry points
        # are missing, so register the built-in modules directly (same hook implementations).
        for name, module in _BUILTIN_MODULES.items():
            if name not in seen:
                self.register(importlib.import_module(module), name=name)

    def register(self, obj: Any, name: str | None = None) -> None:
        """Register a module/object holding ``@hookimpl`` functions (e.g. in tests)."""
        if name is not None and self.pm.get_plugin(name) is not None:
            self.pm.unregister(name=name)
        self.pm.register(obj, name=name)
        self._classes = None

    def _fail(self, where: str, exc: BaseException) -> None:
        failure = PluginFailure(where, f"{type(exc).__name__}: {exc}")
        self.failures.append(failure)
        warnings.warn(
            f"interlace plugin {where!r} failed to load and is ignored: {failure.error}",
            InterlaceWarning,
            stacklevel=3,
        )

    # -- indexing ------------------------------------------------------------------------
    def _index(self) -> dict[str, dict[str, type]]:
        if self._classes is not None:
            return self._classes
        classes: dict[str, dict[str, type]] = {k: {} for k in KINDS}
        for kind, hook_name in _HOOKS.items():
            hook = getattr(self.pm.hook, hook_name)
            for impl in hook.get_hookimpls():
                try:
                    provided = impl.function() or []
                except Exception as exc:  # noqa: BLE001
                    self._fail(f"{impl.plugin_name}.{hook_name}", exc)
                    continue
                for cls in provided:
                    name = getattr(cls, "name", None)
                    if not isinstance(name, str) or not name:
                        self._fail(
                            f"{impl.plugin_name}.{hook_name}",
                            PluginError(f"{cls!r} has no string attribute 'name'"),
                        )
                        continue
                    for alias in (name, *getattr(cls, "aliases", ())):
                        classes[kind].setdefault(alias.lower(), cls)
        self._classes = classes
        return classes

    def names(self, kind: str) -> list[str]:
        """Canonical names registered for one kind."""
        return sorted({cls.name for cls in self._index()[kind].values()})

    def get_class(self, kind: str, name: str) -> type:
        """The plugin class registered as ``name`` (case-insensitive) for ``kind``."""
        table = self._index()[kind]
        cls = table.get(str(name).lower())
        if cls is None:
            raise PluginError(
                f"unknown {kind} {name!r}; registered {kind} names: "
                f"{', '.join(self.names(kind)) or '(none)'}"
            )
        return cls


_REGISTRY: Registry | None = None


def registry() -> Registry:
    """The process-wide registry, loaded from entry points on first use."""
    global _REGISTRY
    if _REGISTRY is None:
        reg = Registry()
        reg.load_entry_points()
        _REGISTRY = reg
    return _REGISTRY


def reload_plugins() -> Registry:
    """Forget the registry and rediscover plugins (after installing a plugin at run time)."""
    global _REGISTRY
    _REGISTRY = None
    return registry()


def resolve(kind: str, spec: Any, **kwargs: Any) -> Any:
    """An instance of plugin ``kind``: ``spec`` is a registered name or an instance."""
    if kind not in KINDS:
        raise PluginError(f"unknown plugin kind {kind!r}; expected one of {', '.join(KINDS)}")
    base = _base_class(kind)
    if isinstance(spec, str):
        return registry().get_class(kind, spec)(**kwargs)
    if isinstance(spec, type) and issubclass(spec, base):
        return spec(**kwargs)
    if isinstance(spec, base):
        return spec
    raise PluginError(
        f"{kind} must be a registered name ({', '.join(registry().names(kind))}) or an instance "
        f"of {base.__module__}.{base.__name__}; got {spec!r}"
    )


def _base_class(kind: str) -> type:
    """The contract class of a plugin kind (its ``base.py``)."""
    from interlace.families.base import Family
    from interlace.integrators.base import Integrator
    from interlace.links.base import Link
    from interlace.optimizers.base import Optimizer

    return {"family": Family, "link": Link, "optimizer": Optimizer, "integrator": Integrator}[kind]


def list_plugins() -> dict[str, list[str]]:
    """Registered plugin names per kind, e.g. ``{"family": ["binomial", ...], ...}``."""
    reg = registry()
    return {kind: reg.names(kind) for kind in KINDS}


def plugin_errors() -> list[PluginFailure]:
    """Plugins that failed to load, with their entry point and error."""
    return list(registry().failures)
