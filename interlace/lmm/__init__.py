"""Linear mixed models (``interlace.fit``): lme4's profiled REML / ML deviance.

The stages, each callable on its own: :func:`build_lmm` (design), :func:`lmm_objective` (the
profiled deviance of theta, lme4's ``devFunOnly = TRUE``), :func:`optimize_lmm` and
:func:`lmm_result`; :func:`interlace.fit` runs them.
"""

from interlace.lmm.objective import LMMObjective
from interlace.lmm.optimize import LMMOptimum
from interlace.lmm.response import NormalResponse
from interlace.lmm.stages import build_lmm, check_method, lmm_objective, lmm_result, optimize_lmm

__all__ = ["LMMObjective", "LMMOptimum", "NormalResponse", "build_lmm",
           "check_method", "lmm_objective", "lmm_result", "optimize_lmm"]
