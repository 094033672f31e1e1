"""Plugin discovery and lookup by name, for families, links, optimizers, integrators and
covariance structures.

Plugins are found through the entry-point group ``interlace`` (the built-ins too). On load
the registry checks every class a hook returns against its kind's base class (see
:mod:`interlace.registry.checks`) and settles names claimed twice (see
:mod:`interlace.registry.claims`). A plugin that fails to import, a hook that raises, a class
that breaks its contract and a name clash are each recorded in :func:`plugin_errors` and
reported with one warning; the other plugins keep working. The base classes declare
themselves with :func:`declare_kind`, so this package imports none of the plugin folders.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from types import ModuleType
from typing import Any

import pluggy

from interlace.errors import InterlaceWarning, PluginError
from interlace.registry import hookspecs
from interlace.registry.checks import class_problems, qualname
from interlace.registry.claims import Claim, PluginSource, Registration, Settled, claims_of, settle
from interlace.registry.hookspecs import KIND_HOOKS, KINDS

#: interlace's own entry points (pyproject.toml); without them interlace was never installed.
BUILTIN_ENTRY_POINTS = ("builtin_families", "builtin_links", "builtin_optimizers",
                        "builtin_integrators", "builtin_covariances")
_BASES: dict[str, type] = {}
_NOT_INSTALLED = ("is interlace installed? From a source tree that was never installed, "
                  "run `pip install -e .` there")


def declare_kind(kind: str, base: type) -> type:
    """Make ``base`` the contract class of plugin ``kind`` (each kind's ``base.py`` calls it)."""
    if kind not in KIND_HOOKS:
        raise PluginError(f"unknown plugin kind {kind!r}; expected one of {', '.join(KINDS)}")
    _BASES[kind] = base
    return base


def base_class(kind: str) -> type:
    """The contract class declared for plugin ``kind``."""
    if kind not in KIND_HOOKS:
        raise PluginError(f"unknown plugin kind {kind!r}; expected one of {', '.join(KINDS)}")
    if kind not in _BASES:
        registry()  # loading the entry points imports the built-in plugins, so their base.py
    if kind not in _BASES:
        raise PluginError(f"no base class is declared for the plugin kind {kind!r} (its base.py "
                          f"declares it with declare_kind when imported); {_NOT_INSTALLED}")
    return _BASES[kind]


@dataclass(frozen=True)
class PluginFailure:
    """A plugin, class or name that could not be registered: where it came from and why."""

    entry_point: str
    error: str
    kind: str = ""
    plugin_class: str = ""

    def __str__(self) -> str:
        return f"{self.entry_point}: {self.error}"


@dataclass
class _Index:
    """The registry's view once every plugin's hooks have been called and checked."""

    settled: dict[str, Settled]
    failures: list[PluginFailure] = field(default_factory=list)
    classes: dict[str, dict[str, type]] = field(init=False)

    def __post_init__(self) -> None:
        self.classes = {kind: {k: r.cls for k, r in s.table.items()}
                        for kind, s in self.settled.items()}


def _is_builtin(obj: Any) -> bool:
    """Whether a plugin object is interlace's own (its module lives in the package)."""
    module = obj.__name__ if isinstance(obj, ModuleType) else getattr(obj, "__module__", "")
    return module == "interlace" or str(module).startswith("interlace.")


class Registry:
    """Holds the plugin classes of every kind, indexed by lower-case name and alias."""

    def __init__(self) -> None:
        self.pm = pluggy.PluginManager(hookspecs.PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self._load_failures: list[PluginFailure] = []
        self._sources: dict[str, tuple[str, bool]] = {}  # plugin name -> (label, built-in)
        self._state: _Index | None = None
        self._warned: set[str] = set()

    # -- loading -------------------------------------------------------------------------
    def load_entry_points(self) -> None:
        """Register every module advertised under the ``interlace`` entry-point group."""
        seen: dict[str, str] = {}
        for ep in entry_points(group=hookspecs.PROJECT):
            label = f"{ep.name} = {ep.value}"
            if ep.name in seen:
                if seen[ep.name] != ep.value:
                    self._fail(label, f"the entry point name {ep.name!r} is already taken by "
                                      f"{ep.name} = {seen[ep.name]}; this one is ignored")
                continue
            seen[ep.name] = ep.value
            try:
                obj = ep.load()
                self.register(obj, name=ep.name, label=label)
            except Exception as exc:  # noqa: BLE001 - any import failure is reported, not fatal
                self._fail(label, f"{type(exc).__name__}: {exc}", "failed to load and is ignored")
        missing = [n for n in BUILTIN_ENTRY_POINTS if n not in seen]
        if missing:
            self._fail("interlace", f"interlace's own entry points ({', '.join(missing)}) are "
                                    f"missing, so are its built-in plugins: {_NOT_INSTALLED}")

    def register(self, obj: Any, name: str | None = None, label: str | None = None) -> str:
        """Register a module/object holding ``@hookimpl`` functions (e.g. in tests)."""
        if name is not None and self.pm.get_plugin(name) is not None:
            self.pm.unregister(name=name)
            self._sources.pop(name, None)
        name = self.pm.register(obj, name=name)
        self._sources[name] = (label or name, _is_builtin(obj))
        self._state = None
        return name

    def _fail(self, where: str, error: str, note: str = "") -> None:
        self._load_failures.append(PluginFailure(where, error))
        self._warn(PluginFailure(where, error), note)

    def _warn(self, failure: PluginFailure, note: str = "") -> None:
        """One InterlaceWarning per distinct failure."""
        if str(failure) in self._warned:
            return
        self._warned.add(str(failure))
        sep = f" {note}: " if note else ": "
        warnings.warn(f"interlace plugin {failure.entry_point!r}{sep}{failure.error}",
                      InterlaceWarning, stacklevel=4)

    # -- indexing ------------------------------------------------------------------------
    def _build(self) -> _Index:
        """Call every plugin's hooks, check each class, settle the names."""
        failures: list[PluginFailure] = []
        claims: dict[str, list[Claim]] = {k: [] for k in KINDS}
        for plugin_name, (label, builtin) in self._sources.items():
            failures += self._unknown_hooks(plugin_name, label)
            for kind, hook in KIND_HOOKS.items():
                for obj in self._provided(plugin_name, label, hook, failures):
                    problems = class_problems(kind, _BASES.get(kind), obj)
                    cname = qualname(obj) if isinstance(obj, type) else ""
                    failures += [PluginFailure(label, p, kind, cname) for p in problems]
                    if not problems:
                        claims[kind] += claims_of(obj, PluginSource(label, obj, builtin))
        settled = {kind: settle(kind, claims[kind]) for kind in KINDS}
        failures += [PluginFailure(where, msg, kind) for kind in KINDS
                     for where, msg in settled[kind].clashes]
        return _Index(settled, failures)

    def _provided(self, plugin_name: str, label: str, hook: str,
                  failures: list[PluginFailure]) -> list[Any]:
        """What one plugin's implementation of ``hook`` returns (a failure is recorded)."""
        impls = [i for i in getattr(self.pm.hook, hook).get_hookimpls() if i.plugin_name == plugin_name]
        out: list[Any] = []
        for impl in impls:
            try:
                provided = impl.function()
            except Exception as exc:  # noqa: BLE001 - a raising hook is reported, not fatal
                failures.append(PluginFailure(label, f"{hook}() raised {type(exc).__name__}: {exc}"))
                continue
            if provided is None:
                continue
            if not isinstance(provided, (list, tuple)):
                failures.append(PluginFailure(
                    label, f"{hook}() returned {provided!r}; expected a list of classes"))
                continue
            out += list(provided)
        return out

    def _unknown_hooks(self, plugin_name: str, label: str) -> list[PluginFailure]:
        """``@hookimpl`` functions whose name is no interlace hook (a typo loses a plugin)."""
        callers = self.pm.get_hookcallers(self.pm.get_plugin(plugin_name)) or []
        return [PluginFailure(label, f"implements {c.name}(), which is not an interlace hook; "
                                     f"expected one of {', '.join(KIND_HOOKS.values())}")
                for c in callers if not c.has_spec()]

    def _settled(self) -> dict[str, Settled]:
        if self._state is None:
            self._state = self._build()
            for failure in self._state.failures:
                self._warn(failure)
        return self._state.settled

    def _index(self) -> dict[str, dict[str, type]]:
        """Per kind, lower-case name or alias -> class."""
        self._settled()
        assert self._state is not None
        return self._state.classes

    def _check_kind(self, kind: str) -> None:
        if kind not in KIND_HOOKS:
            raise PluginError(f"unknown plugin kind {kind!r}; expected one of {', '.join(KINDS)}")

    def classes(self, kind: str) -> dict[str, type]:
        """Every name and alias registered for ``kind`` (lower-case) -> its class, as a copy.

        Only names the registry actually granted are here: an alias a class inherits but does
        not declare itself, or a name lost in a clash, is absent (see :mod:`.claims`).
        """
        self._check_kind(kind)
        return dict(self._index()[kind])

    def registrations(self, kind: str) -> dict[str, Registration]:
        """Every name and alias registered for ``kind`` (lower-case) -> its
        :class:`~interlace.registry.claims.Registration` (class, plugin source, built-in or
        not, what it overrides), as a copy."""
        self._check_kind(kind)
        return dict(self._settled()[kind].table)

    def registered_aliases(self, kind: str, name: str) -> list[str]:
        """The aliases the registry granted the class registered as ``name`` (its canonical
        name excluded), sorted."""
        cls = self.get_class(kind, name)
        return sorted(k for k, r in self.registrations(kind).items()
                      if r.cls is cls and k != str(cls.name).lower())

    @property
    def failures(self) -> list[PluginFailure]:
        """Every load failure, contract failure and name clash (loads and checks everything)."""
        self._settled()
        assert self._state is not None
        return self._load_failures + self._state.failures

    def names(self, kind: str) -> list[str]:
        """Canonical names registered for one kind."""
        return sorted({r.cls.name for r in self._settled()[kind].table.values()})

    def source_of(self, kind: str, name: str) -> Registration:
        """Which class ``name`` resolves to, the plugin it comes from and what it overrides."""
        settled = self._settled()[kind]
        key = str(name).lower()
        if key in settled.table:
            return settled.table[key]
        if key in settled.ambiguous:
            raise PluginError(
                f"{kind} {name!r} is claimed by {' and by '.join(map(str, settled.ambiguous[key]))} "
                f"and none of them declares overrides = ({key!r},); pass the class itself or "
                f"uninstall one (interlace.plugin_errors() has the details)")
        raise PluginError(f"unknown {kind} {name!r}; registered {kind} names: "
                          f"{', '.join(self.names(kind)) or '(none)'}")

    def get_class(self, kind: str, name: str) -> type:
        """The plugin class registered as ``name`` (case-insensitive) for ``kind``."""
        return self.source_of(kind, name).cls

    def overrides(self) -> list[Registration]:
        """Names a plugin knowingly took over (``overrides = (...)``), with what it replaced."""
        return [r for s in self._settled().values() for r in s.table.values() if r.replaced]


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


def resolve(kind: str, spec: Any, *args: Any, **kwargs: Any) -> Any:
    """An instance of plugin ``kind``: ``spec`` is a registered name or an instance."""
    base = base_class(kind)
    if isinstance(spec, str):
        return registry().get_class(kind, spec)(*args, **kwargs)
    if isinstance(spec, type) and issubclass(spec, base):
        return spec(*args, **kwargs)
    if isinstance(spec, base):
        return spec
    raise PluginError(
        f"{kind} must be a registered name ({', '.join(registry().names(kind))}) or an instance "
        f"of {base.__module__}.{base.__name__}; got {spec!r}"
    )


def list_plugins() -> dict[str, list[str]]:
    """Registered plugin names per kind, e.g. ``{"family": ["binomial", ...], ...}``."""
    reg = registry()
    return {kind: reg.names(kind) for kind in KINDS}


def plugin_errors() -> list[PluginFailure]:
    """Everything that could not be registered: failed imports, classes that break their
    kind's contract, names claimed twice; each with its entry point and what is wrong."""
    return list(registry().failures)
