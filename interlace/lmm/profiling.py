"""The likelihood-profile problem of a linear mixed model (``result.profile_problem()`` of an
:class:`~interlace.lmm.result.LMMResult`), as lme4 profiles it: on the ML deviance, also for a
REML fit (lme4's ``devfun2`` refits by ML first).

* SDs, correlations and sigma: the coordinates c = [SDs and correlations on the absolute
  scale, sigma], theta = chol(D R D) / sigma per term, and the ML deviance at (theta, sigma)
  with beta profiled out (:meth:`~interlace.lmm.objective.LMMObjective.unprofiled`);
* a fixed effect beta_j: X_j beta_j moves into the offset, and the profiled ML deviance of the
  model without column j is minimised over theta (beta_-j and sigma profiled out).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd

from interlace.inference.parameters import natural_parameters, random_parameter_values
from interlace.inference.profile_fit import HUGE, Chart, ChartFocal
from interlace.inference.sdcor import SdcorMap
from interlace.lmm.newton import quasi_newton
from interlace.lmm.objective import LMMObjective
from interlace.lmm.optimize import optimize_lmm
from interlace.model.context import ModelContext

COR_LIMIT = 1.0 - 1e-9  # correlations stay inside (-1, 1), where theta's map is smooth


class LMMProfileProblem:
    """An LMM's ML deviance in SD/correlation/sigma coordinates, for profiling."""

    def __init__(self, result) -> None:
        ctx = result.context
        self.ctx, self.terms, self.slices = ctx, ctx.design.terms, ctx.theta_slices()
        self.sdcor = SdcorMap(self.terms, self.slices)
        self.nt = ctx.ntheta
        self.ml = LMMObjective(ctx, reml=False)
        theta = np.asarray(optimize_lmm(self.ml).theta, float)
        sol = self.ml.solution(theta)
        n = ctx.design.n
        self.sigma = math.sqrt(sol.pwrss / n)
        self.theta, self.beta, self.RX2 = theta, sol.beta, sol.RX2
        center = np.append(random_parameter_values(self.terms, self.slices,
                                                   ctx.scale_theta(theta, self.sigma)),
                           self.sigma)
        diag = np.concatenate([t.theta_is_sd() for t in self.terms])
        lower = np.append(np.where(diag, 0.0, -COR_LIMIT), 0.0)
        upper = np.append(np.where(diag, np.inf, COR_LIMIT), np.inf)
        # a correlation of +-1 just inside; one with a zero SD (undefined: NaN) at 0
        center = np.clip(np.nan_to_num(center, nan=0.0), lower, upper)
        self.chart = Chart(self.fun, self.grad, lower, upper, self.natural, center)
        self.base = self.fun(center)
        est = natural_parameters(result)
        self.estimates = pd.Series(self.natural(center), index=est.index, name=est.name)
        self.estimates.attrs["kinds"] = est.attrs["kinds"]

    def relative_theta(self, c: np.ndarray) -> np.ndarray | None:
        theta = self.sdcor.theta(c[: self.nt])
        return None if theta is None or c[self.nt] <= 0 else theta / c[self.nt]

    def fun(self, c: np.ndarray) -> float:
        """The ML deviance at SDs/correlations and sigma (beta profiled out)."""
        theta = self.relative_theta(c)
        return HUGE if theta is None else float(self.ml.unprofiled(np.append(theta, c[self.nt])))

    def grad(self, c: np.ndarray) -> np.ndarray | None:
        """Its exact gradient, by the chain rule through theta = chol(D R D) / sigma."""
        theta = self.relative_theta(c)
        if theta is None:
            return None
        sigma = c[self.nt]
        g = self.ml.unprofiled_gradient(np.append(theta, sigma))
        gt = g[: self.nt]
        return np.append(self.sdcor.jacobian_t_dot(c[: self.nt], gt) / sigma,
                         g[self.nt] - theta @ gt / sigma)

    def natural(self, c: np.ndarray) -> np.ndarray:
        """Every natural parameter at c: SDs/correlations, sigma, beta at theta."""
        theta = self.relative_theta(c)
        sol = None if theta is None else self.ml.solution(theta)
        beta = np.full(self.ctx.design.p, np.nan) if sol is None else sol.beta
        return np.concatenate([c, beta])

    def focal(self, name: str):
        """The profiled parameter: a coordinate of the chart, or a fixed effect."""
        i = list(self.estimates.index).index(name)
        if i <= self.nt:
            return ChartFocal(self.chart, i)
        return FixedEffectFocal(self, i - self.nt - 1)


class FixedEffectFocal:
    """A fixed effect beta_j of an LMM: the ML deviance minimised over theta with X_j beta_j
    in the offset (beta_-j and sigma profiled out), warm-started at the previous theta."""

    def __init__(self, problem: LMMProfileProblem, j: int) -> None:
        d = problem.ctx.design
        keep = [i for i in range(d.p) if i != j]
        self.problem, self.j, self.xj = problem, j, d.X[:, j]
        self.reduced = dataclasses.replace(
            d, X=d.X[:, keep], fe_names=[d.fe_names[i] for i in keep],
            kept_columns=[d.kept_columns[i] for i in keep] if len(d.kept_columns) == d.p else [])
        self.estimate = float(problem.estimates.iloc[problem.nt + 1 + j])
        self.lower, self.upper = -np.inf, np.inf
        self.se = problem.sigma * math.sqrt(np.linalg.inv(problem.RX2)[j, j])
        self.start = problem.theta.copy()
        self.slope = np.zeros(self.start.size)
        self.to_natural = self.from_natural = np.asarray

    def refit(self, b: float, start: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        """(ML deviance, theta, every natural parameter) with beta_j = b."""
        pb, d = self.problem, self.problem.ctx.design
        design = dataclasses.replace(self.reduced, offset=d.offset + self.xj * b)
        obj = LMMObjective(ModelContext(design, pb.ctx.family), reml=False)
        r = quasi_newton(obj, start, obj.lower, forward=obj.dense is None)
        sol = obj.solution(r.x)
        if sol is None:
            return HUGE, r.x, np.full(pb.estimates.size, np.nan)
        sigma = math.sqrt(sol.pwrss / d.n)
        sdcor = random_parameter_values(pb.terms, pb.slices, pb.ctx.scale_theta(r.x, sigma))
        beta = np.insert(sol.beta, self.j, b)
        return float(obj(r.x)), r.x, np.concatenate([sdcor, [sigma], beta])
