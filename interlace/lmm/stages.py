"""The linear mixed model's stages as public functions, each callable on its own.

1. :func:`build_lmm`: formula and data to the model context (design, checks, response model);
2. :func:`lmm_objective`: the profiled deviance as a function of theta (lme4's
   ``mkLmerDevfun`` / ``lmer(..., devFunOnly = TRUE)``): callable, with ``.gradient``;
3. :func:`optimize_lmm`: its minimisation (:mod:`interlace.lmm.optimize`);
4. :func:`lmm_result`: the :class:`~interlace.lmm.result.LMMResult` at the optimum.

:func:`interlace.fit` runs them in this order.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from interlace.errors import DataError, InterlaceError
from interlace.inference.refit import Refitter
from interlace.linalg.fit_limits import fit_limits
from interlace.lmm.objective import LMMObjective
from interlace.lmm.optimize import BUILTIN, LMMOptimum, optimize_lmm
from interlace.lmm.response import NormalResponse
from interlace.lmm.result import LMMResult
from interlace.model.context import ModelContext
from interlace.model.design import SCALE_LIMITS, build_design, magnitude_error
from interlace.model.formula import parse_formula

__all__ = ["build_lmm", "check_lmm_response", "check_method", "lmm_objective", "lmm_result",
           "optimize_lmm", "refit_lmm"]


def check_method(method: str) -> bool:
    """Whether ``method`` ("REML" or "ML", any case) asks for REML; InterlaceError otherwise."""
    if not isinstance(method, str) or method.upper() not in ("REML", "ML"):
        raise InterlaceError(f"method must be 'REML' or 'ML', got {method!r}")
    return method.upper() == "REML"


def build_lmm(formula: str, data: pd.DataFrame, groups: Any = None, random: Any = None,
              weights: Any = None, offset: Any = None, solver: str = "auto") -> ModelContext:
    """The model context of a linear mixed model: the parsed formula's design on ``data``
    (response, fixed effects, random terms, weights, offset, all checked) with the LMM's
    normal response model. Arguments as :func:`interlace.fit`'s (``solver``: the penalised
    system's, see :func:`interlace.glmer`; "auto" is "cholesky" here, as every evaluation of
    the profiled deviance needs the factor, so conjugate-gradient solves would only add work)."""
    parsed = parse_formula(formula, groups=groups, random=random)
    response = NormalResponse()
    design = build_design(parsed, data, response, weights=weights, offset=offset)
    check_lmm_response(design.y, design.offset, design.response_label)
    return ModelContext(design, response, "cholesky" if solver == "auto" else solver)


def check_lmm_response(y: np.ndarray, offset: np.ndarray, label: str) -> None:
    """Raise DataError when the response (less any offset) cannot be fitted by a linear mixed
    model: constant on every row (no variation for the variance components: the likelihood is
    unbounded), or of a magnitude whose sums of squares overflow or underflow double precision
    (largest absolute value outside 1e-100 to 1e100)."""
    r = y - offset
    if r.size and np.all(r == r[0]):
        what = (f"response {label!r} is constant ({r[0]:.6g} on every row)" if not np.any(offset)
                else f"response {label!r} minus the offset is constant ({r[0]:.6g} on every row)")
        raise DataError(f"{what}: a linear mixed model needs variation in the response")
    top = float(np.max(np.abs(r))) if r.size else 1.0
    low, high = SCALE_LIMITS
    if top > high or top < low:
        raise magnitude_error(f"response {label!r}", "the response's largest absolute value", top,
                              ", and scale the estimates back")


def lmm_objective(ctx: ModelContext, reml: bool = True) -> LMMObjective:
    """The profiled deviance of the model as a function of theta (the relative covariance
    factors' parameters): REML's criterion when ``reml``, else -2 log-likelihood.

    The returned :class:`~interlace.lmm.objective.LMMObjective` is callable (``obj(theta)``,
    1e100 where the system is singular), has the exact ``obj.gradient(theta)`` (``obj.grad``
    returns zeros where singular), ``obj.lower`` (theta's lower bounds) and counts its
    evaluations in ``obj.nfev``. beta, u and sigma are profiled out (``obj.solution(theta)``)."""
    d = ctx.design
    if reml and d.n <= d.p:
        raise InterlaceError(f"REML needs more rows ({d.n}) than fixed effects ({d.p})")
    return LMMObjective(ctx, reml)


def lmm_result(obj: LMMObjective, optimum: LMMOptimum) -> LMMResult:
    """The fitted model at ``optimum`` (from :func:`optimize_lmm`) of ``obj``. Its
    ``refitter`` fits the same model again from this optimum: on a new response
    (``result.refit(y)``) or by the other method (``result.refit_ml()``, and
    :func:`interlace.anova`'s refit of REML fits by ML)."""
    res = LMMResult.from_lmm(obj.ctx, obj, np.asarray(optimum.theta, float), optimum.deviance,
                             optimum.hessian, optimum.gradient, optimum.nfev, optimum.message,
                             optimum.optimizer, optimum.limit_reached)
    opt = None if optimum.optimizer is BUILTIN else optimum.optimizer  # (None pickles as itself)
    res.refitter = Refitter(obj.ctx, np.array(optimum.theta, dtype=float), refit_lmm,
                            {"method": res.method, "optimizer": opt, "options": optimum.options})
    return res


def refit_lmm(ctx: ModelContext, start: np.ndarray, method: str = "REML", optimizer: Any = None,
              options: dict | None = None) -> LMMResult:
    """The objective, optimise and result stages from theta ``start`` (a
    :class:`~interlace.inference.refit.Refitter`'s stages), the response checked first."""
    reml = check_method(method)
    d = ctx.design
    check_lmm_response(d.y, d.offset, d.response_label)
    with fit_limits():
        obj = lmm_objective(ctx, reml)
        return lmm_result(obj, optimize_lmm(obj, optimizer, options, start=start))
