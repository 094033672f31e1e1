"""Shared pieces of the glmmTMB-style families: probability and interval parameters, count
checks."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import expit, logit

from interlace.errors import DataError, PluginError
from interlace.families.base import FamilyParameter, require_finite, scalar_or_array

# Rows whose log-density does not depend on mu (structural zeros of a hurdle, the 0/1 of a
# ZOIB) have no information about mu. The Laplace weights treat a non-positive weight as
# "use Fisher's instead", so such rows report this negligible positive value.
TINY_INFO = 1e-200


@dataclass
class ProbabilityParameter(FamilyParameter):
    """A probability in [0, 1), estimated on the logit scale (glmmTMB's zi scale)."""

    transform: str = "logit"

    def to_unconstrained(self, x):
        return scalar_or_array(logit(np.clip(x, 1e-300, 1 - 1e-16)))

    def from_unconstrained(self, z):
        return scalar_or_array(expit(z))

    def natural_derivative(self, x):
        x = np.asarray(x, float)
        return x * (1.0 - x)


@dataclass
class IntervalParameter(FamilyParameter):
    """A parameter in the open interval (``low``, ``high``), estimated on the logit scale of
    its position there (glmmTMB's Tweedie power: 1 + plogis(psi))."""

    transform: str = "logit"
    low: float = 0.0
    high: float = 1.0

    def to_unconstrained(self, x):
        q = (np.asarray(x, float) - self.low) / (self.high - self.low)
        return scalar_or_array(logit(np.clip(q, 1e-300, 1 - 1e-16)))

    def from_unconstrained(self, z):
        return scalar_or_array(self.low + (self.high - self.low) * expit(z))

    def natural_derivative(self, x):
        x = np.asarray(x, float)
        return (x - self.low) * (self.high - x) / (self.high - self.low)


def check_probability(family: str, name: str, value: float | None, upper_open: bool = True
                      ) -> None:
    """A fixed probability must lie in [0, 1)."""
    if value is None:
        return
    if not (0.0 <= value < 1.0):
        raise PluginError(
            f"family {family!r} parameter {name!r} must be a probability in [0, 1), "
            f"got {value!r}"
        )


def validate_counts(family: str, y: np.ndarray, label: str) -> None:
    require_finite(y, label)
    bad = (y < 0) | (np.abs(y - np.round(y)) > 1e-8)
    if np.any(bad):
        i = int(np.flatnonzero(bad)[0])
        raise DataError(
            f"{family} response {label!r} must be non-negative integer counts; row {i} "
            f"has {float(y[i])!r} ({int(bad.sum())} such value(s) in all)"
        )


def count_dispersion_ratio(link, design, beta0: np.ndarray) -> float:
    """Var / mu of a count response at the GLM start (the Pearson statistic over n): the
    start of a count family's dispersion parameter."""
    mu = link.inverse(design.offset + design.X @ beta0)
    return float(np.mean((design.y - mu) ** 2 / np.maximum(mu, 1e-8)))


class PearsonPhiCounts:
    """Mixin of count families with a dispersion ``phi``: count validation, the start of mu
    (y + 0.1), and phi's start from the GLM start's Var / mu (:func:`count_dispersion_ratio`),
    ``clip(ratio + phi_start_shift, *phi_start_bounds)``."""

    phi_start_shift = 0.0
    phi_start_bounds = (0.05, 1e3)

    def validate(self, y, weights, label):
        validate_counts(self.name, y, label)

    def initialize(self, y, weights):
        return np.asarray(y, dtype=float) + 0.1

    def start_parameters(self, design, beta0):
        """phi from the Pearson statistic of the GLM start (none when phi is fixed)."""
        if self.parameters["phi"].fixed:
            return {}
        ratio = count_dispersion_ratio(self.link, design, beta0)
        return {"phi": float(np.clip(ratio + self.phi_start_shift, *self.phi_start_bounds))}
