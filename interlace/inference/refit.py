"""The same model on a new response (lme4's ``refit(object, newresp)``).

A refit keeps everything of the fit but the response: the design (X, the random terms, weights
and offsets are reused, not rebuilt from the data), the family and the fit's settings
(optimizer, its options, integrator, REML or ML). It starts at the fit's own parameters, so a
refit of the original response reproduces the fit, and a refit of a response simulated from
the fit (the parametric bootstrap) starts near its optimum.

Each model kind's result stage attaches a :class:`Refitter` to its result
(``result.refitter``): the kind's optimise-and-result stages as one function, the context the
fit optimised and the parameter vector it ended at. The new response is checked first
(:func:`check_response`): one finite value per row of the fit, inside the family's support.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from interlace.errors import DataError, InterlaceError
from interlace.model.context import ModelContext


@dataclass
class Refitter:
    """How a fitted model is fitted again: ``stages(ctx, start, **settings)`` runs the kind's
    optimise and result stages on the context ``ctx`` from the parameter vector ``start``.

    ``ctx`` is the context the fit optimised (its design and family), ``start`` the parameter
    vector where it ended (the kind's own layout: [theta, beta, family parameters] for the
    GLMM core, theta for an LMM), ``settings`` the fit's settings (optimizer, options, ...).
    ``stages`` must be a module-level function so that refits can run in worker processes.
    """

    ctx: ModelContext
    start: np.ndarray
    stages: Callable[..., Any]
    settings: dict = field(default_factory=dict)

    def fit(self, ctx: ModelContext | None = None, **changes: Any):
        """The model fitted on ``ctx`` (default: the fitted model's own), warm-started at the
        fit's parameters; ``changes`` replace settings (an LMM's ``method``).

        A warm start can end where a fresh fit would not: on a variance's zero bound or short
        of convergence, when the new response's optimum lies across a ridge (a bootstrap
        sample of sleepstudy stopped at a singular fit 4.3 REML units above the optimum its
        fresh fit found). Such a refit is run again from the kind's own start, and the fit
        with the higher likelihood is kept (a converged one on a tie), with its warnings."""
        settings = {**self.settings, **changes}
        ctx = self.ctx if ctx is None else ctx
        res, caught = attempt(self.stages, ctx, self.start, settings)
        if not res.converged or res.singular:
            fresh, fresh_caught = attempt(self.stages, ctx, None, settings)
            if better(fresh, res):
                res, caught = fresh, fresh_caught
        for w in caught:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
        return res

    def refit(self, y: Any):
        """The model fitted to the response ``y`` on the design's scale (checked by
        :func:`check_response`)."""
        return self.fit(self.ctx.with_response(check_response(self.ctx, y)))


def attempt(stages: Callable[..., Any], ctx: ModelContext, start: np.ndarray | None,
            settings: dict) -> tuple[Any, list]:
    """One fit by ``stages`` from ``start`` (None: the kind's own start), with the warnings it
    raised held back."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = stages(ctx, start, **settings)
    return res, list(caught)


def better(a: Any, b: Any, tol: float = 1e-7) -> bool:
    """Whether fit ``a`` beats ``b``: a higher log-likelihood (the REML criterion's for REML
    fits) by more than ``tol``, or as high and converged where ``b`` is not."""
    if a.llf > b.llf + tol:
        return True
    return a.llf >= b.llf - tol and a.converged and not b.converged


def check_response(ctx: ModelContext, y: Any, what: str = "y") -> np.ndarray:
    """``y`` as floats if it can be the response of the model in ``ctx``: one finite number per
    row the model was fitted to, inside the family's support (the family's ``validate``);
    otherwise a DataError naming ``what`` and what is wrong."""
    d = ctx.design
    try:
        arr = np.asarray(y, dtype=float)
    except (TypeError, ValueError):
        raise DataError(f"{what} must be numbers, one per row of the fit ({d.n} rows); got "
                        f"values that are not numbers ({type(y).__name__})") from None
    if arr.ndim != 1:
        raise DataError(f"{what} must be one value per row of the fit (a 1-D array of length "
                        f"{d.n}), got an array of shape {arr.shape}")
    if arr.size != d.n:
        dropped = (f" ({d.nobs_dropped} row(s) with missing values were dropped from the data)"
                   if d.nobs_dropped else "")
        raise DataError(f"{what} has {arr.size} values; the model was fitted to {d.n} rows"
                        f"{dropped}: give one value per row of the fit")
    bad = ~np.isfinite(arr)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise DataError(f"{what} has {int(bad.sum())} missing or infinite value(s) (the first "
                        f"at position {i}: {arr[i]!r}); a refit needs a response on every row "
                        f"of the fit")
    try:
        ctx.family.validate(arr, d.weights, d.response_label)
    except DataError as exc:
        raise DataError(f"{what} cannot be the model's response: {exc}") from None
    return arr


def refit(result: Any, y: Any):
    """``result``'s model fitted to the new response ``y`` (lme4's ``refit(object, newresp)``):
    one value per row of the fit, on the scale :meth:`simulate` returns (proportions for
    ``s / n`` and ``cbind()``; the level labels of an ordinal response), in the rows' order."""
    refitter = getattr(result, "refitter", None)
    if refitter is None:
        raise InterlaceError("this result has no refitter (it was not built by a result stage "
                             "such as glmm_result or lmm_result); fit the model again instead")
    return refitter.refit(result.response_to_design(y))
