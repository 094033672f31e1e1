"""The fitted linear mixed model: lmer's estimates plus REML criterion and Satterthwaite df."""

from __future__ import annotations

import math
from functools import cached_property

import numpy as np
import pandas as pd
from scipy import stats

from interlace.errors import InterlaceError
from interlace.inference.ftests import check_ddf, satterthwaite_contrast_df
from interlace.inference.kenward_roger import KRAdjustment, adjusted_vcov, kr_ddf_scale
from interlace.inference.parameters import (
    random_parameter_kinds,
    random_parameter_values,
    theta_at_bound,
)
from interlace.inference.wald import LOG, EstimationScale, covariance_from_hessian, kind_scale
from interlace.linalg.differences import hessian_from_gradient
from interlace.lmm.kr_components import covariance_components
from interlace.lmm.mode_sensitivity import lmm_sensitivity
from interlace.lmm.objective import LMMObjective
from interlace.lmm.profiling import LMMProfileProblem
from interlace.lmm.satterthwaite import satterthwaite_df
from interlace.lmm.solution import PLSSolution
from interlace.lmm.vcov_gradient import VcovGradient, vcov_gradient
from interlace.results.base import SINGULAR_TOL, MixedModelResult, limit_problem
from interlace.results.response import ResponseResultMixin
from interlace.results.summary import (
    coefficient_lines,
    fit_statistics_lines,
    group_count_line,
    note_lines,
    random_effects_lines,
)
from interlace.results.summary_object import wald_coefficient_table

__all__ = ["LMMResult", "satterthwaite_df"]


class LMMResult(ResponseResultMixin, MixedModelResult):
    """Result of :func:`interlace.fit`: lmer's estimates, the residual variance ``scale``, the
    REML criterion and Satterthwaite degrees of freedom (lmerTest); prediction, residuals and
    simulation as for GLMMs."""

    @classmethod
    def from_lmm(cls, ctx, obj: LMMObjective, theta: np.ndarray, dev: float, H: np.ndarray,
                 g: np.ndarray, nfev: int, message: str, opt,
                 limit_reached: bool = False) -> LMMResult:
        """The result at the optimum ``theta`` (profiled deviance ``dev``, its Hessian ``H`` and
        gradient ``g``) of ``obj``; ``limit_reached``: the optimizer stopped at its evaluation
        or iteration limit (the fit is then unconverged). The result stage
        (:func:`~interlace.lmm.stages.lmm_result`) attaches its ``refitter``."""
        self = cls()
        sol = obj.solution(theta)
        obj.clear_cache()  # the result holds the objective: keep no factors alive with it
        self._set_model(ctx, opt.name, "exact (linear model)", 1)
        self.method = "REML" if obj.reml else "ML"
        self._set_lmm_estimates(ctx, obj, np.asarray(theta, float), sol)
        self._set_lmm_statistics(ctx, obj, dev)
        self._H_approx = bool(getattr(obj, "hessian_approximate", False))
        self._set_lmm_convergence(obj.lower, H, g, message, nfev, limit_reached)
        return self

    def _set_lmm_convergence(self, lower: np.ndarray, H: np.ndarray, g: np.ndarray, message: str,
                             nfev: int, limit_reached: bool) -> None:
        """The optimizer's report and the convergence checks at the optimum (theta at a zero
        lower bound is a boundary fit, near it a singular one)."""
        self._g, self._H = g, H
        self.optimizer_message, self.evaluations = message, nfev
        at_bound = (lower == 0) & (self.theta <= 1e-8)
        singular = bool(((lower == 0) & (np.abs(self.theta) < SINGULAR_TOL)).any())
        self._set_convergence(H, g, at_bound, singular,
                              [limit_problem(message)] if limit_reached else [])

    def _set_lmm_estimates(self, ctx, obj: LMMObjective, theta: np.ndarray,
                           sol: PLSSolution) -> None:
        """theta, sigma, beta, the spherical modes and the fitted values from the penalised
        least-squares solution at the optimum."""
        d = ctx.design
        sigma2 = obj.sigma2(sol)
        sigma = math.sqrt(sigma2)
        self.theta = theta.copy()
        self._theta_abs = ctx.scale_theta(self.theta, sigma)
        self.scale = sigma2
        self.family_params = {"sigma": sigma}
        self._u = sol.u / sigma  # lme4's u ~ N(0, sigma^2 I) on the GLMM core's N(0, I) scale
        self._beta, self._fe_names = sol.beta, list(d.fe_names)
        self._RX2 = sol.RX2  # the covariance of beta, sigma^2 RX2^-1, is formed on first use
        self._satt = (obj, theta.copy(), sigma)
        self._re_args = (ctx, self.theta, sol.u, sigma2, sigma2)
        self._eta = d.y - sol.resid  # offset + X beta + Z b
        self._fitted = self._eta

    def _set_lmm_statistics(self, ctx, obj: LMMObjective, dev: float) -> None:
        """Fit statistics with theta, beta and sigma counted as parameters; the REML criterion."""
        self._set_fit_statistics(float(dev), self.theta.size + ctx.design.p + 1)
        self.reml_criterion = float(dev) if obj.reml else None

    # -- pieces built on first use -------------------------------------------------------
    @cached_property
    def _vcov(self) -> np.ndarray:
        """sigma^2 (RX'RX)^-1, the covariance of the fixed effects."""
        return self.scale * np.linalg.inv(self._RX2)

    @cached_property
    def _names(self) -> list[str]:
        """Names of theta's entries (the gradient's and Hessian's labels)."""
        return [f"theta[{n}]" for t in self._ctx.design.terms for n in t.theta_names()]

    @cached_property
    def fittedvalues(self) -> pd.Series:
        """E[y] per row at the conditional modes."""
        return pd.Series(self._fitted, name="fitted")

    @cached_property
    def fe_tvalues(self) -> pd.Series:
        """t statistics of the fixed effects."""
        return self.fe_params / self.fe_bse

    @cached_property
    def hessian(self) -> pd.DataFrame:
        """Hessian of the profiled deviance in theta at the estimate (differences of the exact
        gradient, computed here when the fit itself used its quasi-Newton approximation)."""
        H = self._H
        if self._H_approx:
            H = hessian_from_gradient(self._satt[0].grad, self.theta)
        return pd.DataFrame(H, index=self._names, columns=self._names)

    @cached_property
    def fe_df(self) -> pd.Series:
        """Satterthwaite degrees of freedom per coefficient (computed on first use)."""
        return self.fixed_effect_df("satterthwaite")

    @cached_property
    def vcov_gradient(self) -> VcovGradient:
        """vcov(beta), its Jacobian in (theta, sigma) and their asymptotic covariance: what
        Satterthwaite's df of any contrast need (lmerTest)."""
        obj, theta, sigma = self._satt
        return vcov_gradient(obj, theta, sigma)

    @cached_property
    def kr_adjustment(self) -> KRAdjustment:
        """pbkrtest's Kenward-Roger adjusted covariance of beta (REML fits; dense n x n)."""
        if self.method != "REML":
            raise InterlaceError("Kenward-Roger's adjustment needs a REML fit (pbkrtest's "
                                 "vcovAdj): refit with method='REML' or use ddf='satterthwaite'")
        _, theta, sigma = self._satt
        Gs, gamma = covariance_components(self._ctx.design, theta, sigma)
        return adjusted_vcov(self._vcov, self._ctx.design.X, Gs, gamma)

    def fixed_effect_df(self, ddf: str = "satterthwaite") -> pd.Series:
        """Denominator df per coefficient, Satterthwaite's or Kenward-Roger's (lmerTest's
        ``summary(m, ddf=...)``)."""
        ddf = check_ddf(ddf)
        p = self.fe_params.size
        if ddf == "satterthwaite":
            vg = self.vcov_gradient
            df = [satterthwaite_contrast_df(vg, row) for row in np.eye(p)]
        else:
            df = [kr_ddf_scale(self.kr_adjustment, row)[0] for row in np.eye(p)]
        return pd.Series(df, index=self.fe_params.index, name="df")

    def fixed_effect_pvalues(self) -> pd.Series:
        """Two-sided t-test p-values with Satterthwaite's degrees of freedom (lmerTest)."""
        return pd.Series(2 * stats.t.sf(np.abs(self.fe_tvalues), self.fe_df),
                         index=self.fe_params.index, name="Pr(>|t|)")

    def coefficient_table(self, ddf: str = "satterthwaite") -> pd.DataFrame:
        """lmerTest's table: Estimate, Std. Error, df, t value, Pr(>|t|); ``ddf``:
        "satterthwaite" or "kenward-roger" (standard errors from the adjusted covariance)."""
        if check_ddf(ddf) == "satterthwaite":
            return wald_coefficient_table(self.fe_params, self.fe_bse, "t", self.fe_df)
        se = pd.Series(np.sqrt(np.diag(self.kr_adjustment.PhiA)), index=self.fe_params.index)
        return wald_coefficient_table(self.fe_params, se, "t", self.fixed_effect_df(ddf))

    def summary_tables(self) -> dict[str, pd.DataFrame]:
        """The shared parts, with the REML criterion among the fit statistics of a REML fit."""
        tables = super().summary_tables()
        if self.reml_criterion is not None:
            tables["fit_statistics"]["REML criterion"] = self.reml_criterion
        return tables

    @property
    def tvalues(self) -> pd.Series:
        """t statistics of the fixed effects (``fe_tvalues``; statsmodels' name)."""
        return self.fe_tvalues

    def family_parameter_estimates(self) -> pd.Series:
        """The residual standard deviation ``sigma``."""
        out = pd.Series([float(self.family_params["sigma"])], index=["sigma"], dtype=float)
        out.attrs["kinds"] = ["sigma"]
        return out

    def joint_hessian(self) -> pd.DataFrame:
        """Hessian of the deviance (REML criterion for REML fits) in (theta, log sigma) with
        beta profiled out but sigma free, at the estimate.

        Derived analytically from lme4's profiled deviance D(theta) (sigma profiled out too,
        :attr:`hessian`): with n' = n (ML) or n - p (REML), pwrss(theta) the penalised residual
        sum of squares and d(theta, s) = D-terms + n' (log 2 pi + 2 s) + pwrss e^{-2s}, at the
        optimum (e^{2s} = pwrss / n') the blocks are H_tt = D'' + n' g g', H_ts = -2 n' g,
        H_ss = 4 n', with g = d log pwrss / d theta (exact, from the PLS gradient parts). The
        Schur complement of H_ss gives D'' back."""
        obj, theta, _ = self._satt
        d = self._ctx.design
        nr = d.n - d.p if obj.reml else d.n
        parts = obj.gradient_parts(theta)
        if parts is None:
            raise InterlaceError("the penalised system could not be solved at the estimates")
        g = np.asarray(parts[1], float) / parts[3].pwrss
        D = self.hessian.to_numpy()
        m = theta.size
        H = np.empty((m + 1, m + 1))
        H[:m, :m] = D + nr * np.outer(g, g)
        H[:m, m] = H[m, :m] = -2.0 * nr * g
        H[m, m] = 4.0 * nr
        names = [*self._names, "log(sigma)"]
        return pd.DataFrame(H, index=names, columns=names)

    def estimation_scale(self) -> EstimationScale:
        """(theta, log sigma) with covariance 2 H^-1 of :meth:`joint_hessian` (beta profiled
        out: the same as the (theta, sigma) block of the full observed information's inverse,
        glmmTMB's sdreport for REML = TRUE / FALSE), and the map to SDs, correlations, sigma."""
        theta, sigma = self.theta, float(self.family_params["sigma"])
        ctx = self._ctx
        terms, slices = ctx.design.terms, ctx.theta_slices()
        held = np.append(theta_at_bound(terms, theta), False)
        cov, flat = covariance_from_hessian(self.joint_hessian().to_numpy(), held)

        def natural(psi: np.ndarray) -> np.ndarray:
            s = math.exp(psi[-1])
            return np.append(random_parameter_values(terms, slices, ctx.scale_theta(psi[:-1], s)), s)

        kinds = random_parameter_kinds(terms)
        return EstimationScale(np.append(theta, math.log(sigma)), cov, natural,
                               [*(kind_scale(k) for k in kinds), LOG], held, flat)

    def profile_problem(self) -> LMMProfileProblem:
        """The model's ML deviance in SD/correlation/sigma coordinates, for ``profile()``
        (lme4 profiles a REML fit on the ML deviance too)."""
        return LMMProfileProblem(self)

    def _modes_factor(self):
        """M = Lambda'Z'WZ Lambda + I at the estimates, with the absolute-scale Lambda and the
        weights over sigma^2 (the penalised system of the normal model's u ~ N(0, I))."""
        ctx = self._ctx
        factor = ctx.system.factor(ctx.zl(self._theta_abs), ctx.design.weights / self.scale)
        if factor is None:
            raise InterlaceError("the penalised system could not be factored at the estimates")
        return factor

    def _prediction_sensitivity(self):
        """How predictions move with the estimates (their standard errors with random
        effects, :mod:`interlace.lmm.mode_sensitivity`)."""
        return lmm_sensitivity(self, self._satt[0])

    def refit_method(self, method: str) -> LMMResult:
        """The same model on the same data fitted by ``method`` ("REML" or "ML"), from this
        fit's theta (the design is reused)."""
        if self.refitter is None:
            raise InterlaceError("this result has no refitter (it was not built by "
                                 "lmm_result); fit the model again with fit(..., method=...)")
        return self.refitter.fit(method=method)

    def refit_ml(self) -> LMMResult:
        """The same model fitted by maximum likelihood (lme4's ``refitML``); an ML fit is
        returned as it is."""
        return self if self.method == "ML" else self.refit_method("ML")

    # -- printing ------------------------------------------------------------------------
    def _header_lines(self) -> list[str]:
        """lmer's title and formula, then the REML criterion (REML) or the fit statistics."""
        title = "REML" if self.method == "REML" else "maximum likelihood"
        head = [f"Linear mixed model fit by {title}", f"Formula: {self.formula}", ""]
        if self.method == "REML":
            return [*head, f"REML criterion at convergence: {self.reml_criterion:.4f}"]
        return [*head, *fit_statistics_lines(self.aic, self.bic, self.llf, self.deviance,
                                             self.df_resid)]

    def _fixed_effect_lines(self) -> list[str]:
        """lmerTest's table: estimates, standard errors, Satterthwaite df, t, p."""
        cols = [("Estimate", 10, self.fe_params, ".5g"), ("Std. Error", 12, self.fe_bse, ".5g"),
                ("df", 9, self.fe_df, ".2f"), ("t value", 9, self.fe_tvalues, ".3f"),
                ("Pr(>|t|)", 10, self.fe_pvalues, ".3g")]
        return ["Fixed effects (Satterthwaite df, as lmerTest):",
                *coefficient_lines(list(self.fe_params.index), cols)]

    def _summary_lines(self) -> list[str]:
        return [*self._header_lines(), "", *self._scaled_residual_lines(),
                *random_effects_lines(self.varcorr), *self._structure_lines(),
                group_count_line(self.nobs, self.ngroups),
                "", *self._fixed_effect_lines(),
                *note_lines(self.messages, self.converged, warn_unconverged=False)]

    def __repr__(self) -> str:
        return (f"<LMMResult {self.method} nobs={self.nobs} llf={self.llf:.4f} "
                f"converged={self.converged}>")
