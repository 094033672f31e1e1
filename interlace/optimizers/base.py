"""The optimizer plugin contract.

An optimizer minimises a smooth scalar function of a real vector within box bounds. To add
one, subclass :class:`Optimizer`, set ``name`` (and ``aliases``), implement ``minimize``, and
return the class from an ``interlace_optimizers`` hook implementation registered under the
``interlace`` entry-point group. ``uses_gradient`` tells the fitting loop whether to supply
``jac`` (it then passes an accurate gradient; otherwise ``jac`` is None).

Options given as ``glmer(..., optimizer_options={...})`` reach ``minimize`` as ``options``.
The fit checks them once, before it starts, with :meth:`Optimizer.check_options` against the
options the class declares in ``options_accepted`` (name -> :class:`OptionSpec`, or name ->
description for an option whose value is not checked); ``option_aliases`` maps other
libraries' names (lme4's ``maxfun``, nlopt's ``maxeval``, R optim's ``maxit``) to ours, so an
unknown key that is one of them is answered with our name. A class that declares no
``options_accepted`` (None, the default) cannot have its keys checked: every option then goes
to ``minimize`` unchecked, and rejecting what it does not know is ``minimize``'s job.
``options_accepted = {}`` declares that it takes none.

An optimizer that stops at an evaluation or iteration limit sets
``OptimizeResult.limit_reached``: the fit then reports itself unconverged, whatever the
gradient at the point says.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from numbers import Integral, Real
from typing import Any

import numpy as np

from interlace.errors import PluginError
from interlace.registry import declare_kind

#: How an option's value is checked, by the kind an :class:`OptionSpec` declares.
OPTION_KINDS = {
    "count": "a positive integer",
    "tolerance": "a non-negative finite number",
    "flag": "True or False",
}


@dataclass(frozen=True)
class OptionSpec:
    """One option an optimizer accepts: ``kind`` (a key of :data:`OPTION_KINDS`: "count",
    "tolerance" or "flag"), which decides how its value is checked, and what it does."""

    kind: str
    description: str

    def problem(self, value: object) -> str | None:
        """Why ``value`` is not a valid value of this option (None if it is)."""
        if self.kind == "flag":
            ok = isinstance(value, (bool, np.bool_))
        elif isinstance(value, (bool, np.bool_)) or not isinstance(value, Real):
            ok = False
        elif self.kind == "count":
            ok = (isinstance(value, Integral) or float(value).is_integer()) and value >= 1
        else:
            ok = bool(np.isfinite(float(value))) and value >= 0
        return None if ok else f"must be {OPTION_KINDS.get(self.kind, self.kind)}"


def count(description: str) -> OptionSpec:
    """A positive-integer option (a limit on evaluations or iterations)."""
    return OptionSpec("count", description)


def tolerance(description: str) -> OptionSpec:
    """A non-negative, finite number (a convergence tolerance)."""
    return OptionSpec("tolerance", description)


def flag(description: str) -> OptionSpec:
    """A True/False option."""
    return OptionSpec("flag", description)


@dataclass
class OptimizeResult:
    """What an optimizer returns."""

    x: np.ndarray
    fun: float
    converged: bool
    evaluations: int
    message: str = ""
    limit_reached: bool = False  # stopped at its evaluation or iteration limit


class Optimizer(ABC):
    """Minimise ``fun`` over ``x`` within ``bounds`` (a list of (lower, upper), None = open)."""

    name: str = ""
    aliases: tuple[str, ...] = ()
    uses_gradient: bool = False
    #: The options ``minimize`` takes: name -> :class:`OptionSpec` (or a description, for an
    #: option whose value is not checked). None: not declared, so options are not checked.
    options_accepted: dict[str, OptionSpec | str] | None = None
    #: Other libraries' names for our options: alias -> (our name, whose name it is), e.g.
    #: ``{"maxfun": ("maxeval", "lme4's")}``. Used only to answer an unknown key.
    option_aliases: dict[str, tuple[str, str]] = {}

    def __init__(self, **options) -> None:
        self.options = dict(options)

    def check_options(self, options: Mapping | None) -> None:
        """Raise :class:`~interlace.PluginError` for an option ``minimize`` does not take (with
        our name for it when the key is another library's) or a value of the wrong kind. Does
        nothing when the class declares no ``options_accepted``."""
        accepted = self.options_accepted
        if accepted is None or not options:
            return
        for key in options:
            if not isinstance(key, str):
                raise PluginError(f"optimizer {self.name!r}: option names must be strings, "
                                  f"got {key!r}")
        unknown = [k for k in options if k not in accepted]
        if unknown:
            raise PluginError(self._unknown_message(unknown))
        for key, value in options.items():
            spec = accepted[key]
            why = spec.problem(value) if isinstance(spec, OptionSpec) else None
            if why:
                raise PluginError(f"optimizer {self.name!r}: option {key!r} ({spec.description}) "
                                  f"{why}, got {value!r}")

    def _unknown_message(self, unknown: list[str]) -> str:
        """The message for options not in ``options_accepted``, with our names for aliases."""
        parts = []
        for key in unknown:
            alias = self.option_aliases.get(key) or self.option_aliases.get(key.lower())
            hint = f" ({key} is {alias[1]} name: here it is {alias[0]!r})" if alias else ""
            parts.append(f"{key!r}{hint}")
        valid = ", ".join(sorted(self.options_accepted or {})) or "none"
        what = "option" if len(unknown) == 1 else "options"
        return (f"optimizer {self.name!r} has no {what} {', '.join(parts)}; its options are: "
                f"{valid}")

    def rough_options(self) -> dict:
        """Options for a loose first pass (the fit's first stage only needs a start)."""
        return {}

    def polished_options(self) -> dict:
        """Options when a Newton polish on an accurate Hessian follows (the fitting loop's
        canonical-link path): the last, rounding-limited steps may be left to it."""
        return {}

    @abstractmethod
    def minimize(
        self,
        fun: Callable[[np.ndarray], float],
        x0: np.ndarray,
        bounds: list[tuple[float | None, float | None]],
        jac: Callable[[np.ndarray], np.ndarray] | None = None,
        options: dict | None = None,
    ) -> OptimizeResult:
        """Minimise and report the optimum, its value, whether it converged and the cost."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


declare_kind("optimizer", Optimizer)


def check_optimizer_options(opt: Any, options: Mapping | None) -> None:
    """The options a fit gives the optimizer instance ``opt`` (its own, from construction, with
    ``options`` over them), checked once before the fit starts by the plugin's
    :meth:`Optimizer.check_options`: a PluginError for an option it does not take or a bad
    value. ``options`` must be a mapping (or None)."""
    if options is not None and not isinstance(options, Mapping):
        raise PluginError(f"optimizer_options must be a dict of option names to values, got "
                          f"{type(options).__name__} {options!r}")
    check = getattr(opt, "check_options", None)
    if check is not None:
        check({**getattr(opt, "options", {}), **(options or {})})
