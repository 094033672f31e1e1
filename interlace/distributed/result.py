"""The result of a distributed GLMM: the in-memory :class:`~interlace.glmm.result.GLMMResult`,
with what needs per-row values (fitted values, residuals, predictions on the fitted rows,
conditional variances) raising a clear error: those rows live on the workers."""

from __future__ import annotations

import warnings
from functools import cached_property

import numpy as np
import pandas as pd

from interlace.errors import InterlaceError, InterlaceWarning
from interlace.glmm.result import GLMMResult


def rows_unavailable(what: str) -> InterlaceError:
    """The error for a per-row quantity of a fit on Dask data."""
    return InterlaceError(
        f"{what} needs the fitted rows, which stay on the Dask workers: it is not available "
        f"for a fit on a Dask DataFrame (predict(newdata=...) on a pandas frame works)")


class RowsOnWorkers:
    """What a result needs the fitted rows for raises :func:`rows_unavailable`."""

    @cached_property
    def fittedvalues(self) -> pd.Series:
        raise rows_unavailable("fittedvalues")

    @property
    def resid_response(self) -> pd.Series:
        raise rows_unavailable("residuals")

    @property
    def resid_pearson(self) -> pd.Series:
        raise rows_unavailable("residuals")

    @property
    def resid_deviance(self) -> pd.Series:
        raise rows_unavailable("residuals")

    def _linear_predictor(self, newdata=None, include_re: bool = True, offset=None):
        if newdata is None:
            raise rows_unavailable("a prediction on the fitted rows")
        return super()._linear_predictor(newdata, include_re, offset)

    def _modes_factor(self):
        raise rows_unavailable("the conditional variances of the random effects")

    def simulate(self, *args, **kwargs):
        raise rows_unavailable("simulate()")

    def refit(self, *args, **kwargs):
        raise rows_unavailable("refit()")

    def bootstrap(self, *args, **kwargs):
        raise rows_unavailable("bootstrap()")

    def profile(self, *args, **kwargs):
        raise rows_unavailable("profile() (it refits the model many times)")

    def simulated_residuals(self, *args, **kwargs):
        raise rows_unavailable("simulated_residuals()")

    def all_fit(self, *args, **kwargs):
        raise rows_unavailable("all_fit()")


class DaskGLMMResult(RowsOnWorkers, GLMMResult):
    """A GLMM fitted on a Dask DataFrame; ``pass_log`` says what the passes cost."""

    pass_log = None

    def _add_fit_warnings(self, layout, mu) -> None:
        """The in-memory checks read every row; a distributed fit has none to read."""

    @staticmethod
    def _beta_covariance(ctx, layout, H, theta, beta, fp, u) -> np.ndarray:
        sl = slice(layout.ntheta, layout.ntheta + layout.p)
        try:
            np.linalg.cholesky(H)
            return 2.0 * np.linalg.inv(H)[sl, sl]
        except np.linalg.LinAlgError:
            warnings.warn("Hessian of the deviance is not positive definite: standard errors "
                          "are not available (NaN)", InterlaceWarning, stacklevel=5)
            return np.full((layout.p, layout.p), np.nan)

    def _set_scale(self, ctx, theta: np.ndarray, fp: dict, modes) -> None:
        self.scale = 1.0
        self.theta = theta.copy()
        self._re_args = (ctx, theta, modes.u, 1.0, None)
        self._eta = None
        self._mu_linked = None
        self._fitted = None
