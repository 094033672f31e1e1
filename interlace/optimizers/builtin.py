"""Entry-point module registering the built-in optimizers (as a third-party plugin would)."""

from __future__ import annotations

from interlace.optimizers.bobyqa import BOBYQA
from interlace.optimizers.lbfgsb import LBFGSB
from interlace.optimizers.nelder_mead import NelderMead
from interlace.registry.hookspecs import hookimpl


@hookimpl
def interlace_optimizers():
    return [LBFGSB, BOBYQA, NelderMead]
