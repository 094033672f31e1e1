"""`interlace.fit()`: linear mixed models by REML or ML (lme4's lmer), on the GLMM core.

Same formula, design and penalised system as :func:`interlace.glmer`; the objective is the
profiled deviance of :mod:`interlace.lmm.objective`, a function of theta alone. By default it is
minimised by a built-in trust-region Newton method (exact gradient; exact Hessian for models
with few random effects, a finite-difference start and BFGS updates otherwise) from moment
estimates of theta; an optimizer plugin named in ``optimizer=`` is used instead when given.
``fit`` runs the stages of :mod:`interlace.lmm.stages`.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from interlace.linalg.fit_limits import fit_limits
from interlace.lmm.optimize import resolve_optimizer
from interlace.lmm.result import LMMResult
from interlace.lmm.stages import build_lmm, check_method, lmm_objective, lmm_result, optimize_lmm


def fit(
    formula: str,
    data: pd.DataFrame,
    groups: Any = None,
    random: Any = None,
    weights: Any = None,
    offset: Any = None,
    method: str = "REML",
    optimizer: Any = None,
    optimizer_options: dict | None = None,
    solver: str = "auto",
) -> LMMResult:
    """Fit a linear mixed model (lme4's ``lmer``) by ``method="REML"`` (default) or ``"ML"``.

    ``optimizer=None`` (default) minimises the profiled deviance with the built-in bounded
    quasi-Newton method (exact gradient, finite-difference starting Hessian, BFGS updates);
    an optimizer plugin name (e.g. ``"lbfgsb"``, ``"bobyqa"``) uses that plugin instead.

    Returns an :class:`~interlace.lmm.result.LMMResult` with lmer's estimates, residual
    variance ``scale``, the REML criterion and Satterthwaite degrees of freedom (lmerTest).
    ``solver`` is the penalised system's (see :func:`interlace.glmer`); "auto" is "cholesky" for
    an LMM, whose every evaluation needs the factor.
    """
    reml = check_method(method)
    opt = resolve_optimizer(optimizer)
    with fit_limits():  # the design's rank check (a QR) too
        ctx = build_lmm(formula, data, groups, random, weights, offset, solver)
        obj = lmm_objective(ctx, reml)
        optimum = optimize_lmm(obj, opt, optimizer_options)
        return lmm_result(obj, optimum)
