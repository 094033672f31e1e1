"""The fitted GLMM: estimates, standard errors, variance components, modes, predictions."""

from __future__ import annotations

import warnings
from functools import cached_property

import numpy as np
import pandas as pd

from interlace.errors import InterlaceWarning
from interlace.glmm.mode_sensitivity import glmm_sensitivity
from interlace.glmm.result_core import CoreFitMixin, boundary_identified, boundary_message
from interlace.results.base import MixedModelResult
from interlace.results.response import ResponseResultMixin
from interlace.results.summary import (
    coefficient_lines,
    correlation_lines,
    fit_statistics_lines,
    group_count_line,
    note_lines,
    random_effects_lines,
    wald_columns,
)


class GLMMResult(CoreFitMixin, ResponseResultMixin, MixedModelResult):
    """Result of :func:`interlace.glmer` (names follow the GLMM quickstart)."""

    # -- construction --------------------------------------------------------------------
    @classmethod
    def from_fit(cls, ctx, integ, opt, x, fx, H, g, layout, obj, optres, nfev, stage1):
        """The result at the optimum ``x`` (deviance ``fx``, Hessian ``H``, gradient ``g``) of
        the objective ``obj`` (its ``last`` modes are the optimum's)."""
        self = cls()
        self._set_core_fit(ctx, integ, opt, x, fx, H, g, layout, obj, optres, nfev)
        self._add_fit_warnings(layout, obj.last.mu)
        return self

    def _add_fit_warnings(self, layout, mu: np.ndarray) -> None:
        """Messages about the estimates: an unidentified zero part, separation."""
        fam, fp = self.family, self.family_params
        zi = fam.zi_parameter
        if zi in layout.fam_names and np.max(fp[zi]) < 1e-8:
            msg = (f"the zero probability {zi!r} is numerically 0 on every row: the data carry no "
                   f"excess zeros, so its coefficients are not identified (and their standard "
                   f"errors not finite); fit the family without a zero part instead")
            self.messages.append(msg)
            warnings.warn(msg, InterlaceWarning, stacklevel=4)
        d = self.design
        msgs = list(fam.fit_warnings(d.y, mu, d.weights, fp))
        at = fam.boundary_rows(d.y, mu, d.weights, fp)
        if at is not None:
            flagged = boundary_identified(d.X, np.asarray(at, bool))
            if flagged.any():
                msgs.append(boundary_message(list(d.fe_names), np.asarray(self.fe_params, float),
                                             flagged, d.y[np.asarray(at, bool)]))
        for msg in msgs:
            self.messages.append(msg)
            warnings.warn(msg, InterlaceWarning, stacklevel=4)

    # -- pandas pieces, built on first use (a fit's own cost is mostly numpy) ---------------
    @cached_property
    def fittedvalues(self) -> pd.Series:
        """E[y] per row at the conditional modes."""
        return pd.Series(self._fitted, name="fitted")

    def _prediction_sensitivity(self):
        """How predictions move with the estimates (their standard errors with random
        effects, :mod:`interlace.glmm.mode_sensitivity`)."""
        return glmm_sensitivity(self)

    # -- printing ------------------------------------------------------------------------
    def _header_lines(self) -> list[str]:
        """lme4's title, family (and its scalar parameters) and formula."""
        method = ("Laplace Approximation" if self.nAGQ == 1
                  else f"Adaptive Gauss-Hermite Quadrature, nAGQ = {self.nAGQ}")
        lines = [f"Generalized linear mixed model fit by maximum likelihood ({method})",
                 f" Family: {self.family.name}  ( {self.link.name} )"]
        scale_name = self.family.scale_parameter
        extra = {k: v for k, v in self.family_params.items() if k != scale_name and np.ndim(v) == 0}
        if extra:
            bse = getattr(self, "family_params_bse", {})
            lines.append(" Family parameters: " + ", ".join(
                f"{k} = {v:.4g}" + (f" (SE {bse[k]:.3g})" if k in bse else "")
                for k, v in extra.items()))
        lines.append(f"Formula: {self.formula}")
        return lines

    def _fixed_effect_lines(self) -> list[str]:
        """lme4's Wald table of the fixed effects."""
        names = list(self.fe_params.index)
        return ["Fixed effects:", *coefficient_lines(names, wald_columns(
            self.fe_params, self.fe_bse, self.fe_zvalues, self.fe_pvalues))]

    def _family_formula_lines(self) -> list[str]:
        """glmmTMB's "Zero-inflation model" / "Dispersion model" tables for parameters with a
        formula."""
        out = []
        pdes = self._ctx.design.param_designs
        for name, table in getattr(self, "family_coefs", {}).items():
            if name not in pdes:
                continue
            scale = self.family.parameters[name].transform
            title = ("Zero-inflation model" if name == self.family.zi_parameter
                     else f"Dispersion model ({name})")
            out += ["", f"{title}: ~ {pdes[name].text or pdes[name].formula}  ({scale} scale)"]
            if name == self.family.zi_parameter and self.zi_varcorr is not None:
                out += random_effects_lines(self.zi_varcorr)
            out += coefficient_lines(list(table.index), wald_columns(
                table["Estimate"], table["Std. Error"], table["z value"], table["Pr(>|z|)"]))
        return out

    def summary_tables(self) -> dict[str, pd.DataFrame]:
        """The shared parts, and glmmTMB's tables of parameters with a formula
        (``family_coefficients``, indexed by parameter and term, on the link scale) and the
        scalar family parameters (``family_parameters``, natural scale, delta-method SE)."""
        tables = super().summary_tables()
        pdes = self._ctx.design.param_designs
        coefs = {n: t for n, t in getattr(self, "family_coefs", {}).items() if n in pdes}
        if coefs:
            tables["family_coefficients"] = pd.concat(coefs, names=["parameter", "term"])
        scalars = {k: float(np.ravel(v)[0]) for k, v in self.family_params.items()
                   if k not in pdes and np.ndim(v) == 0}
        if scalars:
            bse = getattr(self, "family_params_bse", {})
            tables["family_parameters"] = pd.DataFrame(
                {"Estimate": scalars, "Std. Error": {k: bse.get(k, np.nan) for k in scalars}})
        return tables

    def _summary_lines(self) -> list[str]:
        return [*self._header_lines(), "",
                *fit_statistics_lines(self.aic, self.bic, self.llf, self.deviance, self.df_resid),
                "", *self._scaled_residual_lines(),
                *random_effects_lines(self.varcorr), *self._structure_lines(),
                group_count_line(self.nobs, self.ngroups),
                "", *self._fixed_effect_lines(), *correlation_lines(self.vcov),
                *self._family_formula_lines(), *note_lines(self.messages, self.converged)]

    def __repr__(self) -> str:
        return (f"<GLMMResult {self.family.name}({self.link.name}) nobs={self.nobs} "
                f"llf={self.llf:.4f} converged={self.converged}>")
