"""The fitted cumulative link mixed model: thresholds, category probabilities, ordinal's summary."""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

import numpy as np
import pandas as pd

from interlace.errors import DataError, UnsupportedModelError
from interlace.glmm.result_core import CoreFitMixin
from interlace.inference.parameters import random_parameter_kinds, random_parameter_values
from interlace.inference.wald import IDENTITY, EstimationScale, kind_scale
from interlace.ordinal.profiling import OrdinalProfileProblem
from interlace.results.base import MixedModelResult
from interlace.results.prediction import prediction_eta, prediction_rows
from interlace.results.re_form import included_terms
from interlace.results.summary import coefficient_lines, note_lines, random_effects_lines, wald_columns
from interlace.results.summary_object import wald_coefficient_table


class CLMMResult(CoreFitMixin, MixedModelResult):
    """Result of :func:`clmm`: a mixed model result with thresholds and category probabilities.

    Attributes beyond the shared ones (:class:`~interlace.results.base.MixedModelResult`):
    ``thresholds`` (ordinal's names ``"1|2"``, ...), ``threshold_bse``, ``threshold_zvalues``,
    ``levels`` (the response's ordered levels), ``coef`` (thresholds then coefficients, as
    ``coef()`` of ordinal), ``vcov_all`` (covariance of thresholds, coefficients and theta),
    ``cond_H`` (condition number of the Hessian of -log L in those parameters, as ordinal's
    summary reports), and ``fittedvalues`` = P(Y_i = y_i | b^), as ordinal's ``fitted()``.
    ``link`` is the cumulative link. An ordinal response has no residuals.
    """

    @classmethod
    def from_fit(cls, ctx, integ, opt, x, fx, H, g, layout, obj, optres, nfev, stage1):
        """The result at the optimum ``x`` of the ordinal family's GLMM-core objective ``obj``;
        without covariates ("shift" mode) the core fitted an intercept c with tau_1 fixed at 0,
        which is folded back into the thresholds here."""
        self = cls()
        self._set_core_fit(ctx, integ, opt, x, fx, H, g, layout, obj, optres, nfev)
        fam = ctx.family
        self.link = fam.cumulative
        self.levels = list(ctx.design.response_levels)
        self.response = ctx.design.response_label
        shift = "threshold_1" not in layout.fam_names
        c = float(self._beta[0]) if shift else 0.0
        tau = fam.thresholds(self.family_params) - c
        Jz = fam.threshold_jacobian(self.family_params)
        if shift:
            self._fold_intercept(ctx, tau, c)
        lv = [str(v) for v in self.levels]
        tnames = [f"{a}|{b}" for a, b in zip(lv[:-1], lv[1:])]
        self.thresholds = pd.Series(tau, index=tnames, name="Estimate")
        T = self._natural_jacobian(ctx, layout, x.size, tau.size, Jz, shift)
        self._set_natural_covariance(ctx, H, g, T, tnames)
        d = self._ctx.design
        ll = fam.loglik(d.y, self._eta, np.ones(d.n), self.family_params)
        self.fittedvalues = pd.Series(np.exp(ll), name="fitted")
        return self

    def _fold_intercept(self, ctx, tau: np.ndarray, c: float) -> None:
        """Shift mode: the intercept c moves into the thresholds; no fixed effects remain. The
        result's family is a copy with tau_1 estimated (the fitted model's, which its refits
        use, keeps tau_1 fixed at 0)."""
        fam = copy.deepcopy(ctx.family)
        fam.parameters["threshold_1"].value = None
        self.family = fam
        self.family_params = fam.threshold_params(tau)
        d = ctx.design
        d = dataclasses.replace(d, X=d.X[:, :0], fe_names=[], kept_columns=[])
        self._ctx = dataclasses.replace(ctx, design=d, family=fam)
        self._eta = self._eta - c
        # no coefficients (a default empty index, as the fixed-effect tables of earlier versions)
        self._beta, self._fe_names, self._vcov = np.zeros(0), pd.RangeIndex(0), np.zeros((0, 0))

    @staticmethod
    def _natural_jacobian(ctx, layout, m: int, K1: int, Jz: np.ndarray, shift: bool) -> np.ndarray:
        """d(tau, beta, theta) / d(theta, beta, z): natural-scale parameters [tau, beta, theta]
        from the optimizer's [theta, beta, z] (in shift mode [theta, c, z_2..] with
        tau_j = -c + tau_j')."""
        nt, p = layout.ntheta, layout.p
        pn = 0 if shift else p
        T = np.zeros((m, m))
        est = [list(ctx.family.parameters).index(n) for n in layout.fam_names]
        T[:K1, nt + p:] = Jz[:, est]
        if shift:
            T[:K1, nt] = -1.0
        else:
            T[K1:K1 + p, nt:nt + p] = np.eye(p)
        T[K1 + pn:, :nt] = np.eye(nt)
        return T

    def _set_natural_covariance(self, ctx, H: np.ndarray, g: np.ndarray, T: np.ndarray,
                                tnames: list[str]) -> None:
        """``vcov_all``, ``cond_H``, ``max_grad_natural`` and the thresholds' standard errors,
        from the Hessian mapped to the natural parameters."""
        d = ctx.design
        theta_names = [f"theta[{n}]" for t in d.terms for n in t.theta_names()]
        nat_names = tnames + list(self._fe_names) + theta_names
        self.vcov_all, self.cond_H, self.max_grad_natural = None, float("nan"), float("nan")
        V = None
        try:
            np.linalg.cholesky(H)
            V = 2.0 * T @ np.linalg.inv(H) @ T.T
            self.vcov_all = pd.DataFrame(V, index=nat_names, columns=nat_names)
        except np.linalg.LinAlgError:
            pass
        try:
            Ti = np.linalg.inv(T)
            Hn = 0.5 * Ti.T @ H @ Ti  # Hessian of -log L in (tau, beta, theta)
            ev = np.linalg.eigvalsh(0.5 * (Hn + Hn.T))
            if ev[0] > 0:
                self.cond_H = float(ev[-1] / ev[0])
            self.max_grad_natural = float(np.max(np.abs(0.5 * Ti.T @ g)))
        except np.linalg.LinAlgError:
            pass
        K1 = len(tnames)
        se = np.sqrt(np.maximum(np.diag(V)[:K1], 0.0)) if V is not None else np.full(K1, np.nan)
        self.threshold_bse = pd.Series(se, index=tnames, name="Std. Error")
        self.threshold_zvalues = self.thresholds / self.threshold_bse

    # -- parameters ----------------------------------------------------------------------
    def profile_problem(self) -> OrdinalProfileProblem:
        """The fit's deviance for ``profile()``, with the thresholds as parameters."""
        return OrdinalProfileProblem(self, self._integrator)

    @property
    def coef(self) -> pd.Series:
        """Thresholds then coefficients, in ordinal's ``coef()`` order."""
        return pd.concat([self.thresholds, self.fe_params]).rename("Estimate")

    def family_parameter_estimates(self) -> pd.Series:
        """The thresholds (ordinal's names ``1|2``, ...)."""
        out = self.thresholds.astype(float).rename(None)
        out.attrs["kinds"] = ["threshold"] * len(out)
        return out

    def estimation_scale(self) -> EstimationScale:
        """theta (absolute) and the thresholds with their covariance from ``vcov_all`` (the
        Hessian mapped to thresholds, coefficients and theta; ordinal's ``vcov``), and the
        map to SDs, correlations and the thresholds themselves."""
        ctx = self._ctx
        terms, slices, nt = ctx.design.terms, ctx.theta_slices(), ctx.ntheta
        K1 = len(self.thresholds)
        n_all = K1 + len(self._fe_names) + nt
        idx = np.r_[np.arange(n_all - nt, n_all), np.arange(K1)]
        V = (np.full((n_all, n_all), np.nan) if self.vcov_all is None
             else self.vcov_all.to_numpy())
        psi = np.r_[self._theta_abs, self.thresholds.to_numpy(float)]

        def natural(p: np.ndarray) -> np.ndarray:
            return np.r_[random_parameter_values(terms, slices, p[:nt]), p[nt:]]

        kinds = random_parameter_kinds(terms)
        return EstimationScale(psi, V[np.ix_(idx, idx)], natural,
                               [*(kind_scale(k) for k in kinds), *[IDENTITY] * K1])

    @property
    def ordinal_link(self) -> str:
        """The cumulative link's name."""
        return self.link.name

    # -- prediction ----------------------------------------------------------------------
    def _predicted_eta(self, newdata: pd.DataFrame | None, include_re: bool, re_form: Any,
                       allow_new_levels: bool, offset: Any) -> np.ndarray:
        """x'beta + z'b for the fitted rows or newdata (converted and checked as for GLMMs:
        see :meth:`predict`)."""
        d = self._ctx.design
        terms = included_terms(d.parsed.random, re_form, include_re)
        rows = prediction_rows(d, newdata, terms, allow_new_levels, offset)
        return prediction_eta(d, rows, np.asarray(self._beta, float),
                              lambda: [b.to_numpy() for b in self.random_effects.values()],
                              self._eta)

    def predict_proba(self, newdata: pd.DataFrame | None = None, include_re: bool = True,
                      re_form: Any = None, allow_new_levels: bool = False,
                      offset: Any = None) -> pd.DataFrame:
        """Category probabilities P(Y = level | x, b) (rows sum to 1), one column per level.

        Without ``newdata``, for the fitted rows; ``include_re=False`` (``re_form="~0"``)
        sets b = 0 (the population-level probabilities); ``re_form`` and
        ``allow_new_levels`` as in :meth:`predict`.
        """
        eta = self._predicted_eta(newdata, include_re, re_form, allow_new_levels, offset)
        P = self.family.probabilities(eta, self.family_params)
        index = newdata.index if newdata is not None else None
        return pd.DataFrame(P, columns=list(self.levels), index=index)

    def predict(self, newdata: pd.DataFrame | None = None, type: str = "prob",  # noqa: A002
                include_re: bool = True, re_form: Any = None, allow_new_levels: bool = False,
                offset: Any = None):
        """``type``: "prob" (DataFrame of category probabilities, also "response"), "class"
        (the most probable level), "cumprob" (P(Y <= j), one column per threshold) or "link"
        (the linear predictor x'beta + z'b, without thresholds).

        ``re_form`` picks the random terms included (lme4's ``re.form``: None all, ``"~0"``
        none, or a formula naming some); ``include_re=False`` is ``re_form="~0"``. newdata's
        columns are converted to the kind and levels they had when fitting; a missing value
        or an unseen level of a predictor raises a DataError naming the column and value, and
        so does a group not seen when fitting unless ``allow_new_levels`` (its b is then 0).
        """
        kinds = ("prob", "response", "class", "cumprob", "link")
        if type not in kinds:
            raise ValueError(f"type must be one of {', '.join(kinds)}, got {type!r}")
        args = (include_re, re_form, allow_new_levels, offset)
        if type == "link":
            return self._predicted_eta(newdata, *args)
        if type == "cumprob":
            eta = self._predicted_eta(newdata, *args)
            C = self.family.cumulative_probabilities(eta, self.family_params)
            index = newdata.index if newdata is not None else None
            return pd.DataFrame(C, columns=list(self.thresholds.index), index=index)
        P = self.predict_proba(newdata, *args)
        if type == "class":
            return pd.Series(np.asarray(self.levels, dtype=object)[np.argmax(P.to_numpy(), 1)],
                             index=P.index, name="class")
        return P

    @staticmethod
    def check_refit_response(ctx) -> None:
        """Every category observed: a refit keeps the model's K - 1 thresholds, and a threshold
        next to an empty category has no finite estimate."""
        K = ctx.family.ncat
        counts = np.bincount(ctx.design.y.astype(np.intp), minlength=K)
        if np.any(counts == 0):
            empty = [ctx.design.response_levels[k] for k in np.flatnonzero(counts == 0)]
            raise DataError(f"the new response has no observations in level(s) {empty} of "
                            f"{ctx.design.response_label!r}: a refit keeps the model's {K - 1} "
                            f"thresholds, which need every level observed")

    def residuals(self, type: str = "deviance"):  # noqa: A002 - R's argument name
        """Not defined for an ordinal response (the base class has no residuals; this says why
        and what to use instead)."""
        raise UnsupportedModelError(
            "residuals of a cumulative link model are not defined on the category scale; use "
            "predict_proba() / fittedvalues (the probability of the observed category)"
        )

    # -- printing ------------------------------------------------------------------------
    def _header_lines(self) -> list[str]:
        """ordinal's title, formula and the link / threshold / fit-statistics row."""
        method = ("the Laplace approximation" if self.nAGQ == 1
                  else f"the adaptive Gauss-Hermite quadrature approximation with {self.nAGQ} "
                       f"quadrature points")
        return [f"Cumulative Link Mixed Model fitted with {method}", "",
                f"formula: {self.formula}", "",
                f" {'link':<8}{'threshold':<10}{'nobs':>6}{'logLik':>10}{'AIC':>9}"
                f"{'niter':>7}{'max.grad':>10}{'cond.H':>9}",
                f" {self.link.name:<8}{'flexible':<10}{self.nobs:>6}{self.llf:>10.2f}"
                f"{self.aic:>9.2f}{self.evaluations:>7d}{self.max_grad_natural:>10.2e}"
                f"{self.cond_H:>9.1e}"]

    def _coefficient_lines(self) -> list[str]:
        """ordinal's "Coefficients:" table (none in shift mode)."""
        if not len(self.fe_params):
            return []
        names = list(self.fe_params.index)
        cols = wald_columns(self.fe_params, self.fe_bse, self.fe_zvalues, self.fe_pvalues,
                            est_fmt=".4f", p_width=11)
        return ["Coefficients:", *coefficient_lines(names, cols), ""]

    def _threshold_lines(self) -> list[str]:
        """ordinal's "Threshold coefficients:" table."""
        cols = wald_columns(self.thresholds, self.threshold_bse, self.threshold_zvalues, [],
                            est_fmt=".4f")[:3]
        return ["Threshold coefficients:",
                *coefficient_lines(list(self.thresholds.index), cols, min_width=8)]

    def summary_tables(self) -> dict[str, pd.DataFrame]:
        """The shared parts (``coefficients`` without thresholds, as ordinal's
        "Coefficients:"), ``thresholds`` (Estimate, Std. Error, z value) and ordinal's niter,
        max.grad and cond.H among the fit statistics."""
        tables = super().summary_tables()
        tables["thresholds"] = wald_coefficient_table(
            self.thresholds, self.threshold_bse).iloc[:, :3]
        fs = tables["fit_statistics"]
        fs["niter"], fs["max.grad"], fs["cond.H"] = (self.evaluations, self.max_grad_natural,
                                                     self.cond_H)
        return tables

    def _summary_lines(self) -> list[str]:
        groups = ",  ".join(f"{k} {v}" for k, v in self.ngroups.items())
        return [*self._header_lines(), "",
                *random_effects_lines(self.varcorr, group_width=10, corr_digits=3),
                f"Number of groups:  {groups}", "",
                *self._coefficient_lines(), *self._threshold_lines(),
                *note_lines(self.messages, self.converged)]

    def __repr__(self) -> str:
        return (f"<CLMMResult ordinal({self.link.name}) K={len(self.levels)} nobs={self.nobs} "
                f"llf={self.llf:.4f} converged={self.converged}>")
