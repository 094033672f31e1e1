"""Covariance-structure plugins. The contract is in :mod:`interlace.covariance.base`."""

from interlace.covariance.base import CovarianceStructure, LinearStructure

#: The structures of lme4's bar terms when a term names none: ``(x | g)`` and ``(x || g)``.
DEFAULT_CORRELATED = "us"
DEFAULT_UNCORRELATED = "diag"


def default_structure(correlated: bool) -> str:
    """The registered name of the structure of an unnamed ``|`` (True) or ``||`` term."""
    return DEFAULT_CORRELATED if correlated else DEFAULT_UNCORRELATED


__all__ = ["CovarianceStructure", "LinearStructure", "DEFAULT_CORRELATED",
           "DEFAULT_UNCORRELATED", "default_structure"]
