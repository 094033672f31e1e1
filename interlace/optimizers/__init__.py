"""Optimizer plugins. The contract is in :mod:`interlace.optimizers.base`."""

from interlace.optimizers.base import Optimizer, OptimizeResult

__all__ = ["Optimizer", "OptimizeResult"]
