"""Generalised linear mixed models (``interlace.glmer``): Laplace or adaptive quadrature.

``glmer()`` runs four public stages, each callable on its own (lme4's modular functions):
:func:`build_glmm` -> :func:`glmm_objective` (the deviance function) -> :func:`optimize_glmm`
-> :func:`glmm_result`.
"""

from interlace.glmm.deviance import Deviance
from interlace.glmm.fitting import (
    Optimum,
    build_glmm,
    glmer,
    glmm_objective,
    glmm_result,
    is_linear_mixed,
    optimize_glmm,
)

__all__ = ["glmer", "build_glmm", "glmm_objective", "optimize_glmm", "glmm_result", "Deviance",
           "Optimum", "is_linear_mixed"]
