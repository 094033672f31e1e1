"""Integrator plugins. The contract is in :mod:`interlace.integrators.base`."""

from interlace.integrators.base import IntegrationResult, Integrator


def default_integrator(nAGQ: int = 1, information: str = "expected") -> tuple[str, dict]:
    """The integrator used when a fit names none, as (registered name, options): the Laplace
    approximation for ``nAGQ == 1`` (with the family's ``information``: lme4's expected
    information, or glmmTMB's observed one), adaptive Gauss-Hermite quadrature above."""
    if nAGQ > 1:
        return "agq", {}
    return "laplace", ({"information": "observed"} if information == "observed" else {})


__all__ = ["Integrator", "IntegrationResult", "default_integrator"]
