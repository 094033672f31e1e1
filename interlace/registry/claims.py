"""Settling which class a plugin name belongs to when several classes claim it.

The rule, per kind and per lower-case name (a class's ``name`` or one of its ``aliases``):

1. A name claimed by one class belongs to it (a class may repeat its own name as an alias).
2. A name claimed by several classes goes to the one class that lists it in its ``overrides``
   (``overrides = ("poisson",)``: "I knowingly replace that name"). The replacement is
   recorded (``Registry.source_of``, ``Registry.overrides``) and is not an error.
3. Otherwise a built-in keeps it (built-ins are never silently replaced), and the clash is
   reported; with no built-in among the claimants (two third-party packages) no class gets
   it: looking the name up raises, naming both, until one package is uninstalled or overrides.
4. A class that loses its own ``name`` is not registered at all (its aliases would otherwise
   reach a class that calls itself by another family's name); a class that loses only an
   alias is registered without it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from interlace.registry.checks import own_names, qualname


@dataclass(frozen=True)
class PluginSource:
    """Where a registered class comes from: its plugin (entry point or registered name)."""

    plugin: str
    cls: type
    builtin: bool

    def __str__(self) -> str:
        return f"{self.plugin} ({qualname(self.cls)})"


@dataclass(frozen=True)
class Registration:
    """The class a name resolves to, where it comes from, and the claims it overrides."""

    kind: str
    name: str
    source: PluginSource
    replaced: tuple[PluginSource, ...] = ()

    @property
    def cls(self) -> type:
        """The registered class."""
        return self.source.cls

    def __str__(self) -> str:
        over = f", overriding {' and '.join(map(str, self.replaced))}" if self.replaced else ""
        return f"{self.kind} {self.name!r}: {self.source}{over}"


@dataclass(frozen=True)
class Claim:
    """One class claiming one lower-case name, as its ``name`` or an alias."""

    key: str
    source: PluginSource
    canonical: bool
    overrides: bool


@dataclass
class Settled:
    """The outcome for one kind: who holds each name, ambiguous names, clash reports."""

    table: dict[str, Registration] = field(default_factory=dict)
    ambiguous: dict[str, tuple[PluginSource, ...]] = field(default_factory=dict)
    clashes: list[tuple[str, str]] = field(default_factory=list)  # (losing plugins, message)


def claims_of(cls: type, source: PluginSource) -> list[Claim]:
    """The names ``cls`` declares on itself, each once (name first)."""
    name, aliases, overrides = own_names(cls)
    over = {o.lower() for o in overrides}
    out: dict[str, Claim] = {}
    for key, canonical in [(name.lower(), True), *((a.lower(), False) for a in aliases)]:
        out.setdefault(key, Claim(key, source, canonical, key in over))
    return list(out.values())


def _winner(group: list[Claim]) -> Claim | None:
    """Rules 1-3 for the distinct classes claiming one name."""
    if len(group) == 1:
        return group[0]
    over = [c for c in group if c.overrides]
    if len(over) == 1:
        return over[0]
    builtins = [c for c in group if c.source.builtin]
    return builtins[0] if len(builtins) == 1 else None


def settle(kind: str, claims: list[Claim]) -> Settled:
    """Apply the rule to every claim of one kind."""
    groups: dict[str, list[Claim]] = {}
    for c in claims:  # one claim per (name, class): a class repeated by two plugins is one
        group = groups.setdefault(c.key, [])
        if all(g.source.cls is not c.source.cls for g in group):
            group.append(c)
    dropped: set[type] = set()
    while True:  # rule 4; dropping a class only settles other names, so this ends
        live = {k: [c for c in g if c.source.cls not in dropped] for k, g in groups.items()}
        win = {k: _winner(g) for k, g in live.items() if g}
        lost = {c.source.cls for g in live.values() for c in g if c.canonical and win[c.key] is not c}
        if not lost:
            break
        dropped |= lost
    out = Settled()
    for key, group in groups.items():
        w = win.get(key)
        knowingly = w is not None and w.overrides and sum(c.overrides for c in group) == 1
        if w is not None:
            replaced = tuple(c.source for c in group if c is not w) if knowingly else ()
            out.table[key] = Registration(kind, key, w.source, replaced)
        elif len(group) > 1:
            out.ambiguous[key] = tuple(c.source for c in group)
        if len(group) > 1 and not knowingly:
            out.clashes.append(_clash(kind, key, group, w, dropped))
    return out


def _clash(kind: str, key: str, group: list[Claim], w: Claim | None,
           dropped: set[type]) -> tuple[str, str]:
    """(the losing plugins, a message naming every claimant and the outcome)."""
    claimants = " and by ".join(f"{c.source} as its {'name' if c.canonical else 'alias'}"
                                for c in group)
    fix = f"declare overrides = ({key!r},) on the class that should have it"
    if w is None:
        outcome = f"no class gets it (looking it up raises) until one package is uninstalled or {fix}"
    else:
        outcome = f"{'the built-in ' if w.source.builtin else ''}{qualname(w.source.cls)} keeps it"
        if w.source.builtin:
            outcome += f" (to replace the built-in knowingly, {fix})"
    losers = [c for c in group if c is not w]
    fates = [f"{qualname(c.source.cls)} is "
             + ("not registered" if c.source.cls in dropped else "registered without that alias")
             for c in losers]
    message = f"{kind} name {key!r} is claimed by {claimants}; {outcome}; {'; '.join(fates)}"
    return ", ".join(dict.fromkeys(c.source.plugin for c in losers)), message
