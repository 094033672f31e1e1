"""The covariance-structure plugin contract: what a random-effect term's covariance looks like.

A term ``name(expr | group)`` has k columns per level of ``group``; its b per level is
N(0, sigma^2 Lambda Lambda') with Lambda the k x k lower-triangular *relative covariance
factor*. A structure maps its parameter vector theta (the term's slice of the model's theta)
to Lambda. To add one, subclass :class:`CovarianceStructure`, set ``name`` (and ``aliases``),
and implement:

* :meth:`ntheta` - the number of parameters for k columns and the number of levels;
* :meth:`factor` - theta -> Lambda (k x k, lower triangular);
* :meth:`factor_derivatives` - d Lambda / d theta_j, stacked (ntheta, k, k) (the default
  uses central differences of :meth:`factor`; an exact one is faster and more accurate);
* :meth:`lower_bounds`, :meth:`upper_bounds` and :meth:`start` - per theta entry;
* :meth:`parameter_names` - one label per theta entry, used by ``varcorr``, ``summary`` and
  ``conf_int``; :meth:`parameter_kinds` says which entries are SDs ("sd"), correlations
  ("cor") or the structure's own parameters (e.g. "rho").

Then return the class from an ``interlace_covariances`` hook implementation registered under
the ``interlace`` entry-point group, and use it by name in a formula: ``name(0 + t | id)``.

A *linear* structure (``linear = True``, as ``us`` and ``diag``) declares that theta is
Lambda's entries at :meth:`positions` themselves (Lambda[rows, cols] = theta), so the fitting
code may use its own fast derivative path; :meth:`factor` and :meth:`factor_derivatives` then
follow from :meth:`positions`. Options given in the formula call (``rr(x | g, 2)``) reach the
constructor as keyword arguments; :meth:`check_term` rejects a term the structure cannot take
(too few levels, a numeric where a factor is needed) with an error naming it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import numpy as np

from interlace.caches import bounded_cache
from interlace.errors import DataError, FormulaError
from interlace.registry import declare_kind


@bounded_cache("terms.tri_positions", 64)
def tri_positions(k: int, correlated: bool) -> tuple[np.ndarray, np.ndarray]:
    """(rows, cols) of theta's entries in Lambda: the lower triangle by column (col j, row
    i >= j), or the diagonal for an uncorrelated term; read-only, shared by all terms of size k."""
    if correlated:
        cols, rows = np.triu_indices(k)
    else:
        rows = cols = np.arange(k)
    rows.flags.writeable = False
    cols.flags.writeable = False
    return rows, cols


class CovarianceStructure(ABC):
    """Base class of covariance-structure plugins (the module docstring is the contract)."""

    name: str = ""
    aliases: tuple[str, ...] = ()
    description: str = ""
    #: theta is Lambda[positions] itself: the fitting code may use its linear fast path.
    linear: bool = False

    def __init__(self, *args: Any, **options: Any) -> None:
        if args:
            raise FormulaError(f"covariance structure {self.name!r} takes no positional options "
                               f"(got {args!r})")
        self.options = options

    @abstractmethod
    def ntheta(self, k: int, nlevels: int = 0) -> int:
        """The number of parameters of a term with k columns (and ``nlevels`` levels)."""

    def positions(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(rows, cols) of Lambda's entries that can be non-zero: the lower triangle by column."""
        return tri_positions(k, True)

    @abstractmethod
    def factor(self, theta: np.ndarray, k: int) -> np.ndarray:
        """The k x k lower-triangular relative covariance factor Lambda at ``theta``."""

    def factor_derivatives(self, theta: np.ndarray, k: int) -> np.ndarray:
        """d Lambda / d theta_j for each j, shape (ntheta, k, k); here by the five-point central
        difference with a step of 1e-3 (error O(h^4)): a step of 1e-6 lost ~3e-6 to rounding
        where the factor is a Cholesky of an ill-conditioned correlation matrix."""
        theta = np.asarray(theta, float)
        out = np.empty((theta.size, k, k))
        for j in range(theta.size):
            h = 1e-3 * max(1.0, abs(theta[j]))
            f = []
            for step in (2 * h, h, -h, -2 * h):
                t = theta.copy()
                t[j] += step
                f.append(self.factor(t, k))
            out[j] = (-f[0] + 8 * f[1] - 8 * f[2] + f[3]) / (12 * h)
        return out

    @abstractmethod
    def lower_bounds(self, k: int) -> np.ndarray:
        """Lower bound of each theta entry (0 for a relative SD, -inf where unbounded)."""

    def upper_bounds(self, k: int) -> np.ndarray:
        """Upper bound of each theta entry (+inf unless the structure needs one)."""
        return np.full(self.ntheta(k), np.inf)

    @abstractmethod
    def start(self, k: int) -> np.ndarray:
        """The start of theta when nothing better is known."""

    @abstractmethod
    def parameter_names(self, group: str, columns: list[str]) -> list[str]:
        """One label per theta entry, e.g. ``subject.(Intercept)`` or ``rho__ar1|id``."""

    def parameter_kinds(self, k: int) -> list[str]:
        """Per theta entry: "sd" (on Lambda's diagonal), "cor" (off it) or the structure's own
        parameter name (e.g. "rho")."""
        rows, cols = self.positions(k)
        return ["sd" if r == c else "cor" for r, c in zip(rows, cols)]

    def scale_theta(self, theta: np.ndarray, s: float, k: int) -> np.ndarray:
        """theta whose factor is ``s`` times theta's (an LMM's theta relative to sigma taken to
        the absolute scale): the "sd" entries of :meth:`parameter_kinds` scaled."""
        sd = np.array([kind == "sd" for kind in self.parameter_kinds(k)])
        return np.where(sd, np.asarray(theta, float) * s, theta)

    def natural_names(self, group: str, columns: list[str]) -> list[str]:
        """One name per theta entry on the natural scale, as ``conf_int`` shows it (lme4's
        ``sd__x|g`` and ``cor__x.y|g``; a structure's own parameter e.g. ``rho__ar1|g``)."""
        rows, cols = self.positions(len(columns))
        return [f"sd__{columns[r]}|{group}" if r == c else f"cor__{columns[c]}.{columns[r]}|{group}"
                for r, c in zip(rows, cols)]

    def natural_values(self, theta: np.ndarray, k: int) -> np.ndarray:
        """Per theta entry, its natural value (an SD, a correlation, ...) at theta on the
        absolute scale; the default reads SDs and correlations off Lambda Lambda'."""
        L = self.factor(np.asarray(theta, float), k)
        cov = L @ L.T
        sd = np.sqrt(np.diag(cov))
        rows, cols = self.positions(k)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(rows == cols, sd[rows], cov[rows, cols] / (sd[rows] * sd[cols]))

    def start_from_covariance(self, S: np.ndarray, k: int) -> np.ndarray:
        """theta near a covariance estimate S (k x k, relative scale): the fit's moment start.
        The default ignores S and returns :meth:`start`."""
        return self.start(k)

    def check_term(self, label: str, Z: np.ndarray, columns: list[str], nlevels: int) -> None:
        """Raise FormulaError/DataError naming ``label`` when the term cannot take this
        structure (Z: its raw columns); here: more parameters than the grouping factor has
        levels."""
        n = self.ntheta(len(columns), nlevels)
        if n > nlevels:
            raise DataError(f"covariance structure {self.name!r} in {label} has {n} parameters "
                            f"but its grouping factor has only {nlevels} levels; expected at "
                            f"least {n} levels (or a structure with fewer parameters)")

    def __repr__(self) -> str:
        opts = ", ".join(f"{k}={v!r}" for k, v in self.options.items())
        return f"{type(self).__name__}({opts})"


class LinearStructure(CovarianceStructure):
    """A structure whose theta is Lambda's entries at :meth:`positions` (``us``, ``diag``)."""

    linear = True

    def ntheta(self, k: int, nlevels: int = 0) -> int:
        return len(self.positions(k)[0])

    def factor(self, theta: np.ndarray, k: int) -> np.ndarray:
        L = np.zeros((k, k))
        rows, cols = self.positions(k)
        L[rows, cols] = theta
        return L

    def factor_derivatives(self, theta: np.ndarray, k: int) -> np.ndarray:
        rows, cols = self.positions(k)
        out = np.zeros((len(rows), k, k))
        out[np.arange(len(rows)), rows, cols] = 1.0
        return out

    def lower_bounds(self, k: int) -> np.ndarray:
        """0 on Lambda's diagonal, -inf off it (lme4's bounds)."""
        rows, cols = self.positions(k)
        return np.where(rows == cols, 0.0, -np.inf)

    def start(self, k: int) -> np.ndarray:
        """lme4's start: the identity factor."""
        rows, cols = self.positions(k)
        return np.where(rows == cols, 1.0, 0.0)

    def scale_theta(self, theta: np.ndarray, s: float, k: int) -> np.ndarray:
        return np.asarray(theta, float) * s

    def check_term(self, label: str, Z: np.ndarray, columns: list[str], nlevels: int) -> None:
        """None: lme4's own checks of ``|`` and ``||`` terms apply (model building)."""

    def parameter_names(self, group: str, columns: list[str]) -> list[str]:
        """lme4's labels: ``group.col`` on the diagonal, ``group.row.col`` off it."""
        rows, cols = self.positions(len(columns))
        return [f"{group}.{columns[c]}" if r == c else f"{group}.{columns[r]}.{columns[c]}"
                for r, c in zip(rows, cols)]


declare_kind("covariance", CovarianceStructure)
