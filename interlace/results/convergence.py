"""lme4's convergence check on the gradient and Hessian at the optimum, and its warning."""

from __future__ import annotations

import warnings

import numpy as np
from scipy.linalg.lapack import dpotrf, dtrtrs

from interlace.errors import ConvergenceWarning


def convergence_check(H: np.ndarray, g: np.ndarray, at_bound: np.ndarray, tol: float = 2e-3
                      ) -> tuple[bool, float, str]:
    """lme4's check: max |scaled gradient| (H^-1 g in Cholesky scale) below ``tol``."""
    free = ~at_bound
    if free.all():
        gf, Hf = g, H
    else:
        gf, Hf = g[free], H[np.ix_(free, free)]
    if gf.size == 0:
        return True, 0.0, ""
    # LAPACK directly (numpy's cholesky and solve cost several times more on tiny matrices)
    L, info = dpotrf(Hf, lower=1)
    if info == 0:
        sg, info = dtrtrs(L, gf, lower=1)
    if info == 0:
        crit = float(np.max(np.minimum(np.abs(sg), np.abs(gf))))
        msg = ""
    else:
        crit = float(np.max(np.abs(gf)))
        msg = "Hessian is not positive definite at the optimum"
    ok = crit < tol
    if not ok and not msg:
        msg = f"max|scaled gradient| = {crit:.3g} exceeds {tol}"
    return ok and not msg, crit, msg


def warn_convergence(msg: str) -> None:
    warnings.warn(f"model failed to converge: {msg}", ConvergenceWarning, stacklevel=4)
