"""What the registry checks of a plugin class before indexing it.

A class registered for a kind must subclass the kind's base class, implement every abstract
method, and declare on itself (not inherit) a non-empty string ``name``; ``aliases`` and
``overrides``, when declared, are tuples of non-empty strings, and ``overrides`` lists only the
class's own names. Only names declared on the class itself count: a subclass does not inherit
its parent's name or aliases.
"""

from __future__ import annotations

from typing import Any


def qualname(obj: Any) -> str:
    """``module.QualifiedName`` of a class (or of an object's class)."""
    cls = obj if isinstance(obj, type) else type(obj)
    return f"{cls.__module__}.{cls.__qualname__}"


def own_names(cls: type) -> tuple[str, tuple[str, ...], tuple[str, ...]]:
    """The ``name``, ``aliases`` and ``overrides`` declared on ``cls`` itself (not inherited)."""
    own = cls.__dict__
    return own.get("name", ""), tuple(own.get("aliases", ())), tuple(own.get("overrides", ()))


def class_problems(kind: str, base: type | None, obj: Any) -> list[str]:
    """Everything wrong with ``obj`` as a ``kind`` plugin class (empty when it is sound)."""
    if not isinstance(obj, type):
        return [f"{kind} hook returned {obj!r} ({type(obj).__name__}), not a class"]
    what = f"{kind} class {qualname(obj)}"
    if base is None:
        return [f"{what} cannot be checked: no base class is declared for the kind {kind!r}"]
    if not issubclass(obj, base):
        return [f"{what} is not a subclass of {qualname(base)}"]
    problems = []
    missing = sorted(getattr(obj, "__abstractmethods__", ()))
    if missing:
        problems.append(f"{what} does not implement {', '.join(m + '()' for m in missing)}")
    problems += _name_problems(what, obj)
    return problems


def _is_names(value: Any) -> bool:
    return isinstance(value, (tuple, list)) and all(isinstance(v, str) and v.strip() for v in value)


def _name_problems(what: str, cls: type) -> list[str]:
    """The declared ``name``, ``aliases`` and ``overrides`` of ``cls``: present and well-formed."""
    own = cls.__dict__
    problems = []
    if "name" not in own:
        inherited = getattr(cls, "name", "")
        hint = f" (it would inherit {inherited!r}; set name = '...')" if inherited else ""
        problems.append(f"{what} declares no name of its own{hint}")
    elif not isinstance(own["name"], str) or not own["name"].strip():
        problems.append(f"{what} declares name = {own['name']!r}; expected a non-empty string")
    for attr in ("aliases", "overrides"):
        if attr in own and not _is_names(own[attr]):
            problems.append(f"{what} declares {attr} = {own[attr]!r}; expected a tuple of "
                            f"non-empty strings")
    if problems or "overrides" not in own:
        return problems
    name, aliases, overrides = own_names(cls)
    mine = {n.lower() for n in (name, *aliases)}
    problems += [f"{what} overrides {o!r}, which is not one of its own names "
                 f"({', '.join(sorted(mine))})" for o in overrides if o.lower() not in mine]
    return problems
