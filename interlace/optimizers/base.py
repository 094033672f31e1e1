"""The optimizer plugin contract.

An optimizer minimises a smooth scalar function of a real vector within box bounds. To add
one, subclass :class:`Optimizer`, set ``name`` (and ``aliases``), implement ``minimize``, and
return the class from an ``interlace_optimizers`` hook implementation registered under the
``interlace`` entry-point group. ``uses_gradient`` tells the fitting loop whether to supply
``jac`` (it then passes an accurate gradient; otherwise ``jac`` is None).

Options given as ``glmer(..., optimizer_options={...})`` reach ``minimize`` as ``options``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from interlace.registry import declare_kind


@dataclass
class OptimizeResult:
    """What an optimizer returns."""

    x: np.ndarray
    fun: float
    converged: bool
    evaluations: int
    message: str = ""


class Optimizer(ABC):
    """Minimise ``fun`` over ``x`` within ``bounds`` (a list of (lower, upper), None = open)."""

    name: str = ""
    aliases: tuple[str, ...] = ()
    uses_gradient: bool = False

    def __init__(self, **options) -> None:
        self.options = dict(options)

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
