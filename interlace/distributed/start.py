"""beta's start for a distributed GLMM: the GLM without random effects by Newton's method,
one pass (X'WX, X's and the log-likelihood) per iteration, with step halving."""

from __future__ import annotations

import math

import numpy as np

from interlace.distributed.kernels import glm_stats
from interlace.distributed.passes import Passes
from interlace.errors import InterlaceError


def glm_start(passes: Passes, family, p: int, maxit: int = 50, tol: float = 1e-10
              ) -> np.ndarray:
    """The GLM's maximum-likelihood beta (from 0 on the linear predictor's scale)."""
    beta = np.zeros(p)
    st = passes.run("glm", glm_stats, (family, beta))
    if st.get("bad", 1):
        raise InterlaceError("the GLM start could not be evaluated at beta = 0")
    for _ in range(maxit):
        try:
            step = np.linalg.solve(st["XtWX"], st["Xts"])
        except np.linalg.LinAlgError:
            step = np.linalg.lstsq(st["XtWX"], st["Xts"], rcond=None)[0]
        if float(st["Xts"] @ step) < tol:
            break
        t = 1.0
        while t > 1e-8:
            bn = beta + t * step
            stn = passes.run("glm", glm_stats, (family, bn))
            if not stn.get("bad", 1) and math.isfinite(stn["ll"]) and stn["ll"] >= st["ll"]:
                break
            t *= 0.5
        else:
            break
        beta, st = bn, stn
    return beta
