"""Optimizer plugins. The contract is in :mod:`interlace.optimizers.base`."""

from interlace.optimizers.base import OptimizeResult, Optimizer

__all__ = ["Optimizer", "OptimizeResult"]
