"""What every fitted mixed model has: :class:`MixedModelResult`.

Fixed effects (estimates, standard errors, Wald statistics, a p-value hook), variance
components and conditional modes (built on first use), fit statistics, convergence fields,
the linear predictor on new data, likelihood-ratio comparison and plots. Each model kind's
result (:class:`~interlace.glmm.result.GLMMResult`, :class:`~interlace.lmm.result.LMMResult`,
:class:`~interlace.ordinal.result.CLMMResult`) subclasses it directly and composes its summary
from the sections of :mod:`interlace.results.summary`.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from interlace.checks.all_fit import AllFit, all_fit
from interlace.checks.residuals import SimulatedResiduals, simulated_residuals
from interlace.checks.variance import Shares, icc, r2
from interlace.errors import DataError, InterlaceError
from interlace.inference.bootstrap import Bootstrap, parametric_bootstrap
from interlace.inference.intervals import confidence_intervals, resolve_level
from interlace.inference.parameters import natural_parameters
from interlace.inference.profile import Profile, profile_likelihood
from interlace.inference.refit import Refitter, refit
from interlace.inference.simulate import simulate
from interlace.inference.tidy import tidy
from interlace.inference.wald import EstimationScale
from interlace.model.context import ModelContext
from interlace.model.design import Design
from interlace.plotting import plot_caterpillar, plot_fitted
from interlace.results.anova import anova
from interlace.results.convergence import convergence_check, warn_convergence
from interlace.results.prediction import new_data_eta
from interlace.results.random_effects import (
    conditional_covariances,
    conditional_variances,
    random_effect_tables,
    ranef_table,
)
from interlace.results.statsmodels_names import StatsmodelsNamesMixin
from interlace.results.summary import structure_lines
from interlace.results.summary_object import Summary, fit_statistics_table, wald_coefficient_table

SINGULAR_TOL = 1e-4  # lme4's isSingular tolerance on theta
_RANDOM_PARTS = ("variance_components", "random_effects", "ngroups", "varcorr")


def limit_problem(message: str) -> str:
    """The convergence problem of an optimizer stopped at its evaluation or iteration limit
    (unconverged, as lme4 reports bobyqa's maxfun, even if a Newton polish got there after)."""
    return (f"the optimizer stopped at its limit ({message.rstrip('.')}); raise the limit in "
            f"optimizer_options")


class MixedModelResult(StatsmodelsNamesMixin):
    """The shared part of a fitted mixed model's result.

    Subclasses' constructors set the state it reads: ``_ctx`` (the model context), ``_beta``
    and ``_fe_names`` (fixed effects), ``_vcov`` (their covariance, an array), ``_re_args``
    (the arguments of :func:`~interlace.results.random_effects.random_effect_tables`) and
    ``_eta`` (the linear predictor at the conditional modes), through the ``_set_*`` steps.
    """

    _ctx: ModelContext
    _theta_abs: np.ndarray
    _u: np.ndarray
    _beta: np.ndarray
    _fe_names: list[str]
    _re_args: tuple
    _eta: np.ndarray
    _g: np.ndarray
    _H: np.ndarray
    _names: list[str]
    #: How the model is fitted again (:meth:`refit`, :meth:`bootstrap`); set by the result stage
    #: (:func:`~interlace.glmm.glmm_result`, :func:`~interlace.lmm.lmm_result`).
    refitter: Refitter | None = None

    # -- construction steps -------------------------------------------------------------
    def _set_model(self, ctx: ModelContext, optimizer: str, integrator: str, nAGQ: int) -> None:
        """The model's description: context, family and link, formula, rows."""
        d = ctx.design
        self._ctx = ctx
        self.family, self.link = ctx.family, ctx.family.link
        self.formula = d.parsed.text
        self.nAGQ, self.integrator, self.optimizer = nAGQ, integrator, optimizer
        self.nobs, self.nobs_dropped = d.n, d.nobs_dropped
        self.dropped_columns = list(d.dropped_columns)

    def _set_fit_statistics(self, deviance: float, npar: int) -> None:
        """llf, AIC, BIC, deviance and residual df from -2 log L and the number of parameters."""
        n = self._ctx.design.n
        self.llf = -0.5 * deviance
        self.df_modelwc = npar
        self.aic = deviance + 2 * npar
        self.bic = deviance + np.log(n) * npar
        self.deviance = deviance
        self.df_resid = n - npar

    def _set_convergence(self, H: np.ndarray, g: np.ndarray, at_bound: np.ndarray,
                         singular: bool, problems: list[str] | tuple = ()) -> None:
        """lme4's gradient check at the optimum, other ``problems`` that make the fit
        unconverged, the convergence warning and the singular-fit note."""
        ok, crit, msg = convergence_check(H, g, at_bound)
        self.max_grad = crit
        self.singular = bool(singular)
        self.converged = bool(ok and not problems)
        self.messages = ([] if ok else [msg]) + list(problems)
        if not self.converged:
            warn_convergence("; ".join(self.messages))
        if self.singular:
            self.messages.append("boundary (singular) fit: see help('isSingular')")

    # -- public accessors ---------------------------------------------------------------
    @property
    def context(self) -> ModelContext:
        """The fitted model's context: its design, family, and the layout of theta and of the
        spherical random effects u (:meth:`~interlace.model.context.ModelContext.theta_slices`,
        :meth:`~interlace.model.context.ModelContext.u_blocks`). Read-only: what the fit used."""
        return self._ctx

    @property
    def design(self) -> Design:
        """The model's design (response, fixed-effect matrix, random terms, offsets)."""
        return self._ctx.design

    @property
    def theta_absolute(self) -> np.ndarray:
        """The relative covariance factors' parameters on the absolute scale at the optimum:
        ``Lambda(theta_absolute)`` maps u to b = Lambda u. For a GLMM this is ``theta``; for
        an LMM it is ``theta * sigma`` (lme4's theta is relative to sigma). A copy."""
        return np.array(self._theta_abs, dtype=float)

    @property
    def spherical_modes(self) -> np.ndarray:
        """The spherical random effects u the fit holds at the optimum, in the context's order
        (``context.u_blocks`` shapes them per term); the start of the penalised system at the
        modes (:func:`~interlace.plotting.conditional_variances`). For a GLMM they are the
        conditional modes on the N(0, I) scale, b = Lambda(theta_absolute) u; for an LMM its
        penalised least-squares solution (lme4's u, b = Lambda(theta) u) over sigma, on the
        same scale. A copy."""
        return np.array(self._u, dtype=float)

    @property
    def response_label(self) -> str:
        """The response as written in the formula."""
        return self._ctx.design.response_label

    @property
    def parameter_formulas(self) -> dict[str, str]:
        """Family parameters with a formula (glmmTMB's ``ziformula`` ...): name -> formula."""
        return {name: pd_.formula for name, pd_ in self._ctx.design.param_designs.items()}

    # -- fixed effects ------------------------------------------------------------------
    @cached_property
    def fe_params(self) -> pd.Series:
        """Fixed-effect estimates."""
        return pd.Series(self._beta, index=self._fe_names, name="Estimate")

    @cached_property
    def vcov(self) -> pd.DataFrame:
        """Covariance of the fixed effects."""
        return pd.DataFrame(self._vcov, index=self._fe_names, columns=self._fe_names)

    @cached_property
    def fe_bse(self) -> pd.Series:
        """Standard errors of the fixed effects."""
        return pd.Series(np.sqrt(np.diag(self._vcov)), index=self._fe_names, name="Std. Error")

    @cached_property
    def fe_zvalues(self) -> pd.Series:
        """Wald statistics of the fixed effects (estimate / standard error)."""
        return self.fe_params / self.fe_bse

    @cached_property
    def fe_pvalues(self) -> pd.Series:
        """Two-sided p-values of the fixed effects (see :meth:`fixed_effect_pvalues`)."""
        return self.fixed_effect_pvalues()

    def fixed_effect_pvalues(self) -> pd.Series:
        """The p-value hook: two-sided Wald (normal) p-values; kinds with another reference
        distribution (the LMM's Satterthwaite t) override it."""
        return pd.Series(2 * stats.norm.sf(np.abs(self.fe_zvalues)), index=self._fe_names)

    @cached_property
    def gradient(self) -> pd.Series:
        """Gradient of the deviance at the estimate (the optimizer's parameters)."""
        return pd.Series(self._g, index=self._names, name="gradient")

    @cached_property
    def hessian(self) -> pd.DataFrame:
        """Hessian of the deviance at the estimate (the optimizer's parameters)."""
        return pd.DataFrame(self._H, index=self._names, columns=self._names)

    # -- all parameters on their natural scale (interlace.inference) ----------------------
    def family_parameter_estimates(self) -> pd.Series:
        """Estimated parameters besides theta and beta on their natural scale (the residual SD
        ``sigma``, a family's ``theta``, formula coefficients ``zi~...``, ordinal thresholds);
        ``attrs["kinds"]`` labels each (see :mod:`interlace.inference.parameters`)."""
        out = pd.Series(dtype=float)
        out.attrs["kinds"] = []
        return out

    def estimation_scale(self) -> EstimationScale:
        """The parameters other than the fixed effects as the fit estimated them, with their
        covariance and the map to :attr:`natural_params` (the delta method's input for Wald
        intervals, :mod:`interlace.inference.wald`); each kind gives its own."""
        raise NotImplementedError

    @property
    def natural_params(self) -> pd.Series:
        """Every parameter on its natural scale in lme4's ``confint`` order: random-effect SDs
        and correlations, residual SD / family parameters, fixed effects."""
        return natural_parameters(self)

    def conf_int(self, level: float | None = None, method: str = "wald", parm=None, *,
                 alpha: float | None = None, **options) -> pd.DataFrame:
        """Confidence intervals (columns ``lower``, ``upper``) of :attr:`natural_params` by
        ``method`` "wald", "profile" or "boot"; ``parm`` selects parameters by name or kind
        ("fixed", "random", "sd", "cor", ...); ``options`` go to the method (e.g. ``nsim``).
        ``level`` defaults to 0.95; statsmodels' ``alpha`` (level = 1 - alpha) is accepted
        instead of it."""
        return confidence_intervals(self, resolve_level(level, alpha), method, parm, **options)

    def tidy(self, effects=None, conf_int: bool = False, conf_level: float = 0.95,
             conf_method: str = "wald", **options) -> pd.DataFrame:
        """broom.mixed's ``tidy()``: one row per parameter (``effects`` "fixed", "ran_pars",
        and "ran_vals" for the conditional modes), columns effect, component, group, term,
        estimate, std_error, statistic, p_value (and conf_low, conf_high with ``conf_int``);
        see :mod:`interlace.inference.tidy`."""
        return tidy(self, effects, conf_int, conf_level, conf_method, **options)

    def profile(self, which=None, alphamax: float = 0.01, **options) -> Profile:
        """Likelihood profiles of :attr:`natural_params` (lme4's ``profile``; an LMM on its ML
        deviance): zeta tables, intervals (``.conf_int(level)``) and plots; ``which`` selects
        parameters as ``conf_int``'s ``parm``; see :func:`interlace.inference.profile.profile_likelihood`."""
        return profile_likelihood(self, which, alphamax, **options)

    def profile_problem(self):
        """The model kind's profiling problem (see :mod:`interlace.inference.profile`)."""
        raise InterlaceError(f"{type(self).__name__} has no likelihood profile")

    # -- simulation, refits, the parametric bootstrap (interlace.inference) ----------------
    def simulate(self, nsim: int = 1, seed: Any = None, conditional: bool = False,
                 newdata: pd.DataFrame | None = None, weights: Any = None) -> np.ndarray:
        """``nsim`` responses drawn from the fitted model, an nsim x n array (lme4's
        ``simulate``): new random effects from the fitted covariance unless ``conditional``
        (then the conditional modes); on the response's scale as written (proportions for
        ``s / n``, level labels for ordinal and two-level text responses); ``newdata``: draw
        for its rows (``weights``: theirs, trials included). Draw i is replicate i of
        ``seed`` (:mod:`interlace.inference.simulate`)."""
        return simulate(self, nsim, seed, conditional, newdata, weights)

    def refit(self, y: Any) -> MixedModelResult:
        """The same model fitted to the new response ``y`` (lme4's ``refit(newresp)``): one
        value per row of the fit, as :meth:`simulate` returns them; the design is reused and
        the fit starts at this one's estimates (:mod:`interlace.inference.refit`)."""
        return refit(self, y)

    def bootstrap(self, nsim: int = 1000, seed: Any = None, workers: Any = None,
                  scheduler: Any = None, conditional: bool = False,
                  statistic: Any = None) -> Bootstrap:
        """The parametric bootstrap (lme4's ``bootMer``): ``nsim`` responses simulated and
        refitted on ``workers`` local processes (None: one per core; 0: this process) or the
        Dask cluster ``scheduler``; ``statistic(fit)`` defaults to :attr:`natural_params`
        (:mod:`interlace.inference.bootstrap`)."""
        return parametric_bootstrap(self, nsim, seed, workers, scheduler, conditional, statistic)

    # -- checking the model (interlace.checks) --------------------------------------------
    def icc(self) -> Shares:
        """The intraclass correlation as R's ``performance::icc`` computes it: ``adjusted``
        (random / (random + residual)) and ``unadjusted`` (with the fixed-effects variance in
        the denominator), on the latent scale for GLMMs (:mod:`interlace.checks.variance`)."""
        return icc(self)

    def r2(self) -> Shares:
        """Nakagawa's ``marginal`` and ``conditional`` R² as ``performance::r2_nakagawa``
        computes them (:mod:`interlace.checks.variance`)."""
        return r2(self)

    def simulated_residuals(self, nsim: int = 250, seed: Any = None,
                            conditional: bool = False) -> SimulatedResiduals:
        """DHARMa's scaled residuals (``simulateResiduals``): each observation's randomised
        quantile among ``nsim`` unconditional simulations (:meth:`simulate`), U(0, 1) under the
        model, with DHARMa's tests and plot (:mod:`interlace.checks.residuals`)."""
        return simulated_residuals(self, nsim, seed, conditional)

    def all_fit(self, optimizers: list[str] | None = None, workers: Any = None) -> AllFit:
        """lme4's ``allFit``: the model refitted with every registered optimizer plugin (or
        ``optimizers``) on ``workers`` processes (0: in this process); compare their
        log-likelihoods and estimates to tell a false convergence alarm from a real problem
        (:mod:`interlace.checks.all_fit`)."""
        return all_fit(self, optimizers, workers)

    def response_from_design(self, values: np.ndarray) -> np.ndarray:
        """Responses on the design's scale (0/1 or category codes) as the data wrote them:
        the level labels of an ordinal or two-level text response; numbers as they are."""
        levels = self._ctx.design.response_levels
        if levels is None:
            return values
        return np.asarray(levels)[np.asarray(values).astype(np.intp)]

    def response_to_design(self, y: Any) -> Any:
        """A new response (:meth:`refit`) on the design's scale: level labels to their codes
        (numeric codes are taken as they are when the levels are text); numbers as they are."""
        if isinstance(y, str):
            raise DataError("refit() takes a new response, one value per row of the fit; to "
                            "fit a linear mixed model by the other method use refit_ml() or "
                            "refit_method(method)")
        levels = self._ctx.design.response_levels
        if levels is None:
            return y
        arr = np.asarray(y)
        if arr.ndim != 1:
            return arr  # (check_response names the shape)
        idx = pd.Index(levels).get_indexer(arr)
        if np.all(idx >= 0):
            return idx.astype(float)
        text_levels = not all(isinstance(v, (int, float, np.number)) for v in levels)
        if text_levels and pd.api.types.is_numeric_dtype(arr):
            return arr
        bad = arr[idx < 0][0]
        bad = bad.item() if isinstance(bad, np.generic) else bad
        raise DataError(f"y has {int(np.sum(idx < 0))} value(s) that are not levels of the "
                        f"response {self.response_label!r} (the first: {bad!r}); its levels: "
                        f"{list(levels)}")

    @staticmethod
    def check_refit_response(ctx: ModelContext) -> None:
        """A kind's own conditions on a refit's response, beyond the family's support
        (checked by its refit stage before optimising); none by default."""

    # -- family parameters' coefficients (glmmTMB's fixef(m)$zi / $disp) -------------------
    def _coef_series(self, attr: str, column: str) -> pd.Series | None:
        name = getattr(self.family, attr, None)
        table = getattr(self, "family_coefs", {}).get(name)
        return None if table is None else table[column].rename(column)

    @property
    def zi_params(self) -> pd.Series | None:
        """Zero-part coefficients on the logit scale (glmmTMB's ``fixef(m)$zi``); None if the
        family has no estimated zero probability."""
        return self._coef_series("zi_parameter", "Estimate")

    @property
    def zi_bse(self) -> pd.Series | None:
        """Standard errors of ``zi_params``."""
        return self._coef_series("zi_parameter", "Std. Error")

    @property
    def disp_params(self) -> pd.Series | None:
        """Dispersion coefficients on the log scale (glmmTMB's ``fixef(m)$disp``); None if the
        family has no estimated dispersion."""
        return self._coef_series("dispersion_parameter", "Estimate")

    @property
    def disp_bse(self) -> pd.Series | None:
        """Standard errors of ``disp_params``."""
        return self._coef_series("dispersion_parameter", "Std. Error")

    # -- random effects, built on first use ----------------------------------------------
    def _random_parts(self, name: str):
        """Variance components, modes, group counts and VarCorr, all built on first use."""
        if name not in self.__dict__:
            tables = random_effect_tables(*self._re_args)
            for part in _RANDOM_PARTS:
                self.__dict__[part] = getattr(tables, part)
        return self.__dict__[name]

    @cached_property
    def variance_components(self) -> dict:
        """Per grouping factor, the covariance of its random effects."""
        return self._random_parts("variance_components")

    @cached_property
    def random_effects(self) -> dict:
        """Per grouping factor, the conditional modes b."""
        return self._random_parts("random_effects")

    @cached_property
    def ngroups(self) -> dict:
        """Per grouping factor, its number of levels."""
        return self._random_parts("ngroups")

    @cached_property
    def varcorr(self) -> pd.DataFrame:
        """lme4's VarCorr table."""
        return self._random_parts("varcorr")

    def conditional_variances(self, full: bool = False) -> dict[str, pd.DataFrame] | dict[
            str, np.ndarray]:
        """Conditional (posterior) variances of the random effects at the modes, per term:
        DataFrames shaped like ``random_effects``' tables holding Var(b | y) (lme4's
        ``ranef(fit, condVar = TRUE)``; exact given the estimates for an LMM, the Laplace
        approximation's for a GLMM). ``full=True``: arrays (levels, k, k) of Cov(b_l | y),
        lme4's ``postVar`` with the level first."""
        args = (self._ctx, self._theta_abs, self._modes_factor(), self.random_effects)
        return conditional_covariances(*args) if full else conditional_variances(*args)

    @cached_property
    def random_effects_se(self) -> dict[str, pd.DataFrame]:
        """Conditional SDs of the random effects, sqrt(Var(b | y)), shaped like
        ``random_effects`` (the intervals of the caterpillar plot)."""
        return {k: np.sqrt(v) for k, v in self.conditional_variances().items()}

    def ranef(self, condvar: bool = False) -> pd.DataFrame:
        """The conditional modes as one long table (lme4's ``as.data.frame(ranef(fit))``:
        grpvar, term, grp, condval), with their conditional SDs (``condsd``) when
        ``condvar`` (``ranef(fit, condVar = TRUE)``)."""
        return ranef_table(self.random_effects, self.random_effects_se if condvar else None)

    def _structure_lines(self) -> list[str]:
        """The summary's lines on structured terms' own parameters (none without any)."""
        ctx = self._ctx
        if all(t.linear for t in ctx.design.terms):
            return []
        nat = self.natural_params
        return structure_lines(ctx.design.terms, ctx.theta_slices(), list(nat.index),
                               list(nat.to_numpy(float)))

    def _modes_factor(self):
        """The factor of the penalised system M at the conditional modes (each kind's own)."""
        raise NotImplementedError

    # -- prediction ---------------------------------------------------------------------
    def _linear_predictor(self, newdata: pd.DataFrame | None, include_re: bool = True,
                          offset: Any = None) -> np.ndarray:
        """The linear predictor: at the fitted rows (the modes' eta, or offset + X beta without
        random effects) or on ``newdata`` (unseen levels get b = 0)."""
        d = self._ctx.design
        beta = self.fe_params.to_numpy()
        if newdata is None:
            return self._eta.copy() if include_re else d.offset + d.X @ beta
        return new_data_eta(d, beta, self.random_effects if include_re else {}, newdata,
                            include_re, offset)

    # -- comparison, printing, plots ----------------------------------------------------
    def anova(self, *others, **options) -> pd.DataFrame:
        """Likelihood-ratio test against other fits of the same data (see interlace.anova;
        ``method="bootstrap"`` for the parametric-bootstrap test, with its options)."""
        return anova(self, *others, **options)

    def summary(self) -> Summary:
        """The summary in the layout of the kind's R counterpart: a :class:`Summary`, a string
        (``print(result.summary())`` shows it; nothing is printed here) whose parts are
        DataFrames (``coefficients``, ``random_effects``, ``fit_statistics``, ...)."""
        return Summary(self.summary_text(), self.summary_tables())

    def summary_tables(self) -> dict[str, pd.DataFrame]:
        """The summary's parts: the fixed effects' coefficient table (R's
        ``coef(summary(fit))``), the VarCorr table, the fit statistics; kinds add theirs."""
        return {"coefficients": self.coefficient_table(), "random_effects": self.varcorr.copy(),
                "fit_statistics": fit_statistics_table(self)}

    def coefficient_table(self) -> pd.DataFrame:
        """The fixed effects' Estimate, Std. Error, z value and Pr(>|z|) (Wald, normal)."""
        return wald_coefficient_table(self.fe_params, self.fe_bse)

    def summary_text(self) -> str:
        """The summary text of :meth:`summary`, without printing it."""
        return "\n".join(self._summary_lines())

    def _summary_lines(self) -> list[str]:
        """The summary's lines, composed by each kind from interlace.results.summary."""
        raise NotImplementedError

    def plot_caterpillar(self, term: str | None = None, level: float = 0.95, **kwargs):
        """Caterpillar plot of one random term's conditional modes with intervals."""
        return plot_caterpillar(self, term=term, level=level, **kwargs)

    def plot_fitted(self, **kwargs):
        """Observed response against fitted values."""
        return plot_fitted(self, **kwargs)

    def plot_profile(self, which=None, **kwargs):
        """zeta against each parameter, one panel each (lme4's ``xyplot(profile(fit))``)."""
        return self.profile(which).plot(**kwargs)
