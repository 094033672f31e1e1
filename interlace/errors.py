"""Error and warning types raised by interlace; every message names the offending input."""

from __future__ import annotations


class InterlaceError(ValueError):
    """Base class for user-facing input errors (a ValueError, so generic handlers catch it)."""


class FormulaError(InterlaceError):
    """A formula or random-effect term that cannot be parsed or built."""


class DataError(InterlaceError):
    """Data that does not fit the model: missing columns, bad values, bad weights."""


class PluginError(InterlaceError):
    """An unknown plugin name or a plugin that does not honour its contract."""


class UnsupportedModelError(InterlaceError, NotImplementedError):
    """A valid model that the chosen integrator cannot handle (e.g. nAGQ > 1 with slopes)."""


class InterlaceWarning(UserWarning):
    """Warnings about data handling (rows dropped, columns dropped) and convergence."""


class ConvergenceWarning(InterlaceWarning):
    """The optimizer stopped without meeting its convergence criteria."""
