"""Optimizer plugins. The contract is in :mod:`interlace.optimizers.base`."""

from interlace.optimizers.base import Optimizer, OptimizeResult

#: The optimizer of GLMM and CLMM fits when none is named: L-BFGS-B, which uses the exact
#: gradient the built-in integrators supply.
DEFAULT = "lbfgsb"


def default_optimizer() -> str:
    """The name of the optimizer used when a GLMM or CLMM fit names none."""
    return DEFAULT


__all__ = ["Optimizer", "OptimizeResult", "DEFAULT", "default_optimizer"]
