"""The likelihood-profile problem of a fit on the GLMM core (``result.profile_problem()`` of a
:class:`~interlace.glmm.result.GLMMResult`; :mod:`interlace.ordinal.profiling` extends it).

The deviance is the fit's own (:class:`~interlace.glmm.deviance.Deviance` on x = [theta, beta,
family parameters unconstrained]), written in the coordinates c = [SDs and correlations in
theta's positions, beta, family parameters unconstrained]: theta = chol(D R D) per term
(:mod:`interlace.inference.sdcor`), the rest as they are. For a family with a residual scale
theta is on the absolute scale, so the SDs are too. Every parameter but the thresholds of an
ordinal model is one coordinate of c; see :mod:`interlace.inference.profile` for the walk.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from interlace.errors import InterlaceWarning
from interlace.glmm.deviance import Deviance
from interlace.glmm.parameters import Parameters
from interlace.inference.parameters import natural_parameters, random_parameter_values
from interlace.inference.profile_fit import HUGE, Chart, ChartFocal
from interlace.inference.sdcor import SdcorMap

COR_LIMIT = 1.0 - 1e-9  # correlations stay inside (-1, 1), where theta's map is smooth


class CoreProfileProblem:
    """A GLMM-core fit's deviance in SD/correlation coordinates, for profiling."""

    def __init__(self, result, integrator) -> None:
        ctx = result.context
        self.ctx, self.terms, self.slices = ctx, ctx.design.terms, ctx.theta_slices()
        self.sdcor = SdcorMap(self.terms, self.slices)
        integrator.check(ctx)
        self.dev = Deviance(Parameters.start(ctx), integrator)
        lay = self.dev.layout
        self.nt, self.p = lay.ntheta, lay.p
        self.zsl = slice(self.nt + self.p, lay.size)
        theta = result.theta_absolute
        center = np.concatenate([random_parameter_values(self.terms, self.slices, theta),
                                 np.asarray(result.fe_params, float), self.fitted_z(result)])
        lower, upper = self.bounds()
        # a correlation of +-1 just inside; one with a zero SD (undefined: NaN) at 0
        center = np.clip(np.nan_to_num(center, nan=0.0), lower, upper)
        self.chart = Chart(self.fun, self.grad, lower, upper, self.natural, center)
        self.base = self.fun(center)
        self.check_base(result.deviance)
        est = natural_parameters(result)
        self.estimates = pd.Series(self.natural(center), index=est.index, name=est.name)
        self.estimates.attrs["kinds"] = est.attrs["kinds"]

    # -- the optimum and the coordinates -----------------------------------------------------
    def fitted_z(self, result) -> np.ndarray:
        """The estimated family parameters on the optimizer's scale (a formula's coefficients
        as they are)."""
        fam, pdes = self.ctx.family, self.ctx.design.param_designs
        parts = []
        for name in self.dev.layout.fam_names:
            if name in pdes:
                parts.append(result.family_coefs[name]["Estimate"].to_numpy(float))
            else:
                parts.append([fam.parameters[name].to_unconstrained(result.family_params[name])])
        return np.concatenate(parts) if parts else np.zeros(0)

    def check_base(self, fitted: float) -> None:
        """The deviance at the estimates must be the fit's (the same objective)."""
        if not abs(self.base - fitted) <= 1e-6 * max(1.0, abs(fitted)):
            warnings.warn(f"the deviance at the estimates ({self.base:.8g}) differs from the "
                          f"fit's ({fitted:.8g}): the profile is centred on the former",
                          InterlaceWarning, stacklevel=4)

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """SDs >= 0, correlations within (-1, 1), family parameters within the fit's bounds."""
        diag = np.concatenate([t.theta_is_sd() for t in self.terms]) if self.terms \
            else np.zeros(0, bool)
        lower = np.concatenate([np.where(diag, 0.0, -COR_LIMIT), np.full(self.p, -np.inf)])
        upper = np.concatenate([np.where(diag, np.inf, COR_LIMIT), np.full(self.p, np.inf)])
        zb = self.dev.bounds()[self.zsl]
        zlo = np.array([-np.inf if lo is None else lo for lo, _ in zb], float)
        zhi = np.array([np.inf if hi is None else hi for _, hi in zb], float)
        return np.concatenate([lower, zlo]), np.concatenate([upper, zhi])

    def to_x(self, c: np.ndarray) -> np.ndarray | None:
        theta = self.sdcor.theta(c[: self.nt])
        return None if theta is None else np.concatenate([theta, c[self.nt:]])

    def fun(self, c: np.ndarray) -> float:
        """The deviance at c (HUGE where the correlations are not a correlation matrix)."""
        x = self.to_x(c)
        return HUGE if x is None else float(self.dev(x))

    def grad(self, c: np.ndarray) -> np.ndarray | None:
        """The integrator's gradient, by the chain rule through theta's map (None without)."""
        x = self.to_x(c)
        g = None if x is None else self.dev.gradient(x)
        if g is None:
            return None
        return np.concatenate([self.sdcor.jacobian_t_dot(c[: self.nt], g[: self.nt]),
                               g[self.nt:]])

    def family_natural(self, z: np.ndarray) -> np.ndarray:
        """The family parameters' natural values (a formula's coefficients as they are)."""
        fam, pdes, lay = self.ctx.family, self.ctx.design.param_designs, self.dev.layout
        out, i = [], 0
        for name in lay.fam_names:
            k = lay.fam_size(name)
            out.append(z[i:i + k] if name in pdes
                       else [fam.parameters[name].from_unconstrained(z[i])])
            i += k
        return np.concatenate(out) if out else np.zeros(0)

    def natural(self, c: np.ndarray) -> np.ndarray:
        """Every natural parameter at c, in lme4's order: SDs/correlations, family, beta."""
        nt, p = self.nt, self.p
        return np.concatenate([c[:nt], self.family_natural(c[self.zsl]), c[nt:nt + p]])

    # -- one parameter ---------------------------------------------------------------------
    def focal(self, name: str):
        """The profiled parameter ``name`` as a coordinate of the chart (None if it is not)."""
        names = list(self.estimates.index)
        i = names.index(name)
        nt, nf = self.nt, len(names) - self.nt - self.p
        if i < nt:
            return ChartFocal(self.chart, i)
        if i >= nt + nf:
            return ChartFocal(self.chart, i - nf)
        return self.family_focal(i - nt)

    def family_focal(self, j: int):
        """Family entry j: its coordinate, mapped to the natural scale for a scalar one."""
        lay, pdes = self.dev.layout, self.ctx.design.param_designs
        i = 0
        for name in lay.fam_names:
            k = lay.fam_size(name)
            if i <= j < i + k:
                if name in pdes:
                    return ChartFocal(self.chart, self.nt + self.p + j)
                par = self.ctx.family.parameters[name]
                return ChartFocal(self.chart, self.nt + self.p + j,
                                  lambda w, par=par: np.asarray(par.from_unconstrained(w)),
                                  lambda v, par=par: np.asarray(par.to_unconstrained(v)))
            i += k
        return None
