"""The fitted cumulative link mixed model: thresholds, category probabilities, ordinal's summary."""

from __future__ import annotations

import copy
import dataclasses
from functools import cached_property
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
    ``thresholds`` (the K-1 cut points, ordinal's names ``"1|2"``, ...; its ``Theta``),
    ``threshold_bse``, ``threshold_zvalues``, ``threshold`` (the structure: "flexible",
    "symmetric" or "equidistant"), ``threshold_coefs`` (ordinal's threshold coefficients alpha,
    tau = tJac alpha: the thresholds when flexible, else ``threshold.1``, ``spacing`` or
    ``central``, ``spacing.1``, ... as ordinal names them), ``threshold_coef_bse``,
    ``threshold_coef_zvalues``, ``levels`` (the response's ordered levels), ``coef``
    (threshold coefficients then coefficients, as ``coef()`` of ordinal), ``vcov_all``
    (covariance of threshold coefficients, coefficients and theta),
    ``cond_H`` (condition number of the Hessian of -log L in those parameters, as ordinal's
    summary reports), and ``fittedvalues`` = P(Y_i = y_i | b^), as ordinal's ``fitted()``.
    ``link`` is the cumulative link. An ordinal response has no residuals.
    """

    @classmethod
    def from_fit(cls, ctx, integ, opt, x, fx, H, g, layout, obj, optres, nfev, stage1):
        """The result at the optimum ``x`` of the ordinal family's GLMM-core objective ``obj``;
        without covariates ("shift" mode) the core fitted an intercept c with the thresholds'
        location fixed at 0, which is folded back into the thresholds here."""
        self = cls()
        self._set_core_fit(ctx, integ, opt, x, fx, H, g, layout, obj, optres, nfev)
        fam = ctx.family
        self.link = fam.cumulative
        self.threshold = fam.threshold
        self.levels = list(ctx.design.response_levels)
        self.response = ctx.design.response_label
        location = fam.structure.names[0]
        shift = location not in layout.fam_names
        Jz = fam.coefficient_jacobian(self.family_params)
        if shift:
            self._fold_intercept(ctx, location, float(self._beta[0]))
        # one Index per set of names, shared by the tables (building a text Index costs
        # ~50 us, and Series on the same Index object divide without aligning)
        tnames = pd.Index(fam.structure.labels(self.levels))
        lv = [str(v) for v in self.levels]
        self.thresholds = pd.Series(fam.thresholds(self.family_params),
                                    index=pd.Index([f"{a}|{b}" for a, b in zip(lv[:-1], lv[1:])]),
                                    name="Estimate")
        self.threshold_coefs = pd.Series(fam.threshold_coefficients(self.family_params),
                                         index=tnames, name="Estimate")
        C0 = fam.structure.C[:, 0]
        T = self._natural_jacobian(ctx, layout, x.size, Jz, C0 if shift else None)
        self._set_natural_covariance(ctx, H, g, T, tnames)
        return self

    # -- pandas pieces, built on first use (a small fit's own cost is mostly numpy) --------
    @cached_property
    def fittedvalues(self) -> pd.Series:
        """P(Y_i = y_i | b^) per row, as ordinal's ``fitted()``."""
        d = self._ctx.design
        ll = self.family.loglik(d.y, self._eta, np.ones(d.n), self.family_params)
        return pd.Series(np.exp(ll), name="fitted")

    @property
    def threshold_zvalues(self) -> pd.Series:
        """The thresholds over their standard errors."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return pd.Series(self.thresholds.to_numpy() / self.threshold_bse.to_numpy(),
                             index=self.thresholds.index)

    @property
    def threshold_coef_zvalues(self) -> pd.Series:
        """The threshold coefficients over their standard errors."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return pd.Series(self.threshold_coefs.to_numpy()
                             / self.threshold_coef_bse.to_numpy(),
                             index=self.threshold_coefs.index)

    def _set_family_coefs(self, ctx, layout, x: np.ndarray, H: np.ndarray) -> None:
        """None: the thresholds' parameters are reported as ordinal's threshold coefficients
        with standard errors on their natural scale (``threshold_coefs``), not as tables on
        the optimizer's scale (a GLMM's family parameters)."""
        self.family_coefs, self.family_params_bse = {}, {}

    def _fold_intercept(self, ctx, location: str, c: float) -> None:
        """Shift mode: the intercept c moves into the thresholds' location; no fixed effects
        remain. The result's family is a copy with the location estimated (the fitted
        model's, which its refits use, keeps it fixed at 0)."""
        fam = copy.deepcopy(ctx.family)
        fam.parameters[location].value = None
        self.family = fam
        self.family_params = dict(self.family_params)
        self.family_params[location] = self.family_params[location] - c
        d = ctx.design
        d = dataclasses.replace(d, X=d.X[:, :0], fe_names=[], kept_columns=[])
        self._ctx = dataclasses.replace(ctx, design=d, family=fam)
        self._eta = self._eta - c
        # no coefficients (a default empty index, as the fixed-effect tables of earlier versions)
        self._beta, self._fe_names, self._vcov = np.zeros(0), pd.RangeIndex(0), np.zeros((0, 0))

    @staticmethod
    def _natural_jacobian(ctx, layout, m: int, Jz: np.ndarray, shift_col: np.ndarray | None
                          ) -> np.ndarray:
        """d(alpha, beta, theta) / d(theta, beta, z): natural-scale parameters [alpha, beta,
        theta] (alpha: ordinal's threshold coefficients) from the optimizer's [theta, beta, z]
        (in shift mode [theta, c, z_2..], with alpha = C psi, psi_1 = -c: ``shift_col`` is
        C's first column)."""
        nt, p = layout.ntheta, layout.p
        na = Jz.shape[0]
        pn = 0 if shift_col is not None else p
        T = np.zeros((m, m))
        est = [list(ctx.family.parameters).index(n) for n in layout.fam_names]
        T[:na, nt + p:] = Jz[:, est]
        if shift_col is not None:
            T[:na, nt] = -shift_col
        else:
            T[na:na + p, nt:nt + p] = np.eye(p)
        T[na + pn:, :nt] = np.eye(nt)
        return T

    def _set_natural_covariance(self, ctx, H: np.ndarray, g: np.ndarray, T: np.ndarray,
                                tnames: pd.Index) -> None:
        """``vcov_all``, ``cond_H``, ``max_grad_natural`` and the standard errors of the
        threshold coefficients and of the thresholds, from the Hessian mapped to the natural
        parameters."""
        d = ctx.design
        theta_names = [f"theta[{n}]" for t in d.terms for n in t.theta_names()]
        nat_names = pd.Index(list(tnames) + list(self._fe_names) + theta_names)
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
            Hn = 0.5 * Ti.T @ H @ Ti  # Hessian of -log L in (alpha, beta, theta)
            ev = np.linalg.eigvalsh(0.5 * (Hn + Hn.T))
            if ev[0] > 0:
                self.cond_H = float(ev[-1] / ev[0])
            self.max_grad_natural = float(np.max(np.abs(0.5 * Ti.T @ g)))
        except np.linalg.LinAlgError:
            pass
        na, Tt = len(tnames), ctx.family.structure.T
        Va = V[:na, :na] if V is not None else np.full((na, na), np.nan)
        se_a = np.sqrt(np.maximum(np.diag(Va), 0.0))
        se_t = np.sqrt(np.maximum(np.diag(Tt @ Va @ Tt.T), 0.0))
        self.threshold_coef_bse = pd.Series(se_a, index=tnames, name="Std. Error")
        self.threshold_bse = pd.Series(se_t, index=self.thresholds.index, name="Std. Error")

    # -- parameters ----------------------------------------------------------------------
    def profile_problem(self) -> OrdinalProfileProblem:
        """The fit's deviance for ``profile()``, with the thresholds as parameters."""
        return OrdinalProfileProblem(self, self._integrator)

    @property
    def coef(self) -> pd.Series:
        """Threshold coefficients then coefficients, in ordinal's ``coef()`` order."""
        return pd.concat([self.threshold_coefs, self.fe_params]).rename("Estimate")

    def family_parameter_estimates(self) -> pd.Series:
        """The threshold coefficients (ordinal's names: ``1|2``, ... for flexible thresholds,
        ``threshold.1``, ``spacing`` / ``central``, ``spacing.1``, ... for the others)."""
        out = self.threshold_coefs.astype(float).rename(None)
        out.attrs["kinds"] = ["threshold"] * len(out)
        return out

    def estimation_scale(self) -> EstimationScale:
        """theta (absolute) and the threshold coefficients with their covariance from
        ``vcov_all`` (the Hessian mapped to them, coefficients and theta; ordinal's ``vcov``),
        and the map to SDs, correlations and the threshold coefficients themselves."""
        ctx = self._ctx
        terms, slices, nt = ctx.design.terms, ctx.theta_slices(), ctx.ntheta
        K1 = len(self.threshold_coefs)  # ordinal's threshold coefficients, as vcov_all
        n_all = K1 + len(self._fe_names) + nt
        idx = np.r_[np.arange(n_all - nt, n_all), np.arange(K1)]
        V = (np.full((n_all, n_all), np.nan) if self.vcov_all is None
             else self.vcov_all.to_numpy())
        psi = np.r_[self._theta_abs, self.threshold_coefs.to_numpy(float)]

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
                f" {self.link.name:<8}{self.threshold:<10}{self.nobs:>6}{self.llf:>10.2f}"
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
        """ordinal's "Threshold coefficients:" table (its alpha: the thresholds themselves when
        flexible), with R's digits: estimates and SEs to the decimals that give the smallest of
        them 4 significant digits, z values likewise (printCoefmat)."""
        est, se, z = self.threshold_coefs, self.threshold_coef_bse, self.threshold_coef_zvalues
        d, dz = r_decimals(np.r_[est.to_numpy(), se.to_numpy()]), r_decimals(z.to_numpy())
        cols = [("Estimate", 10, est, f".{d}f"), ("Std. Error", 12, se, f".{d}f"),
                ("z value", 9, z, f".{dz}f")]
        return ["Threshold coefficients:",
                *coefficient_lines(list(est.index), cols, min_width=8)]

    def summary_tables(self) -> dict[str, pd.DataFrame]:
        """The shared parts (``coefficients`` without thresholds, as ordinal's
        "Coefficients:"), ``thresholds`` (the threshold coefficients as printed: Estimate, Std.
        Error, z value) and ordinal's niter,
        max.grad and cond.H among the fit statistics."""
        tables = super().summary_tables()
        tables["thresholds"] = wald_coefficient_table(
            self.threshold_coefs, self.threshold_coef_bse).iloc[:, :3]
        fs = tables["fit_statistics"]
        fs["niter"], fs["max.grad"], fs["cond.H"] = (self.evaluations, self.max_grad_natural,
                                                     self.cond_H)
        return tables

    def _summary_lines(self) -> list[str]:
        groups = ",  ".join(f"{k} {v}" for k, v in self.ngroups.items())
        return [*self._header_lines(), "",
                *random_effects_lines(self.varcorr, group_width=10, corr_digits=3),
                *self._structure_lines(),
                f"Number of groups:  {groups}", "",
                *self._coefficient_lines(), *self._threshold_lines(),
                *note_lines(self.messages, self.converged)]

    def __repr__(self) -> str:
        return (f"<CLMMResult ordinal({self.link.name}) K={len(self.levels)} nobs={self.nobs} "
                f"llf={self.llf:.4f} converged={self.converged}>")


def r_decimals(values: np.ndarray, digits: int = 4) -> int:
    """The decimals R's ``format(x, digits = 4)`` gives a column: enough for every entry to
    show ``digits`` significant digits, trailing zeros dropped (at least 0, at most 10)."""
    out = 0
    for v in np.abs(np.asarray(values, float)):
        if not np.isfinite(v) or v == 0:
            continue
        d = min(max(digits - 1 - int(np.floor(np.log10(v))), 0), 10)
        text = f"{v:.{d}f}".rstrip("0")
        out = max(out, len(text.split(".")[1]) if "." in text else 0)
    return out
