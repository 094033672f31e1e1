"""Integrator plugins. The contract is in :mod:`interlace.integrators.base`."""

from interlace.integrators.base import IntegrationResult, Integrator

__all__ = ["Integrator", "IntegrationResult"]
