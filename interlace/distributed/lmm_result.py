"""The result of a distributed linear mixed model: the in-memory
:class:`~interlace.lmm.result.LMMResult` from the driver's penalised least-squares solution;
what needs the rows (fitted values, residuals, Kenward-Roger) raises a clear error."""

from __future__ import annotations

import math
from functools import cached_property

import numpy as np

from interlace.distributed.lmm_objective import DaskLMMObjective
from interlace.distributed.result import RowsOnWorkers, rows_unavailable
from interlace.lmm.result import LMMResult


class DaskLMMResult(RowsOnWorkers, LMMResult):
    """A linear mixed model fitted on a Dask DataFrame; ``pass_log`` says what it cost."""

    pass_log = None

    @classmethod
    def from_dask(cls, ctx, obj: DaskLMMObjective, theta: np.ndarray, dev: float,
                  H: np.ndarray, g: np.ndarray, nfev: int, message: str, opt,
                  limit_reached: bool = False) -> DaskLMMResult:
        """The result at the optimum ``theta`` of ``obj`` (as ``LMMResult.from_lmm``)."""
        self = cls()
        sol = obj.solve(theta)
        self._set_model(ctx, opt.name, "exact (linear model)", 1)
        self.method = "REML" if obj.reml else "ML"
        sigma2 = obj.sigma2(sol)
        sigma = math.sqrt(sigma2)
        self.theta = np.asarray(theta, float).copy()
        self._theta_abs = ctx.scale_theta(self.theta, sigma)
        self.scale = sigma2
        self.family_params = {"sigma": sigma}
        self._u = sol.u / sigma
        self._beta, self._fe_names = sol.beta, list(ctx.design.fe_names)
        self._RX2 = sol.RX2
        self._satt = (obj, self.theta.copy(), sigma)
        self._re_args = (ctx, self.theta, sol.u, sigma2, sigma2)
        self._eta = self._fitted = None
        self._set_lmm_statistics(ctx, obj, dev)
        self._H_approx = False
        self._set_lmm_convergence(obj.lower, H, g, message, nfev, limit_reached)
        return self

    @cached_property
    def kr_adjustment(self):
        raise rows_unavailable("Kenward-Roger's adjustment")
