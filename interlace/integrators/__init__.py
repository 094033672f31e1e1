"""Integrator plugins. The contract is in :mod:`interlace.integrators.base`.

The package itself imports nothing: the GLMM fitting code asks it which integrator to use by
default without loading the integrators (which build on the GLMM's penalised IRLS).
"""


def default_integrator(nAGQ: int = 1, information: str = "expected") -> tuple[str, dict]:
    """The integrator used when a fit names none, as (registered name, options): the Laplace
    approximation for ``nAGQ == 1`` (with the family's ``information``: lme4's expected
    information, or glmmTMB's observed one), adaptive Gauss-Hermite quadrature above."""
    if nAGQ > 1:
        return "agq", {}
    return "laplace", ({"information": "observed"} if information == "observed" else {})


__all__ = ["default_integrator"]
