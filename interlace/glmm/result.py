"""The fitted GLMM: estimates, standard errors, variance components, modes, predictions."""

from __future__ import annotations

import warnings
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from interlace.errors import DataError, InterlaceWarning
from interlace.glmm.pirls import pirls
from interlace.model.design import random_columns
from interlace.model.response import eval_numeric
from interlace.results.convergence import convergence_check, warn_convergence

_SINGULAR_TOL = 1e-4  # lme4's isSingular tolerance on theta


class GLMMResult:
    """Result of :func:`interlace.glmer` (names follow the GLMM quickstart)."""

    # -- construction --------------------------------------------------------------------
    @classmethod
    def from_fit(cls, ctx, integ, opt, x, fx, H, g, layout, obj, optres, nfev, stage1):
        self = cls()
        d, fam = ctx.design, ctx.family
        self._ctx, self._integrator, self._optimizer = ctx, integ, opt
        self.family, self.link = fam, fam.link
        self.formula = d.parsed.text
        theta, beta, fp = obj.unpack(x)
        self._theta_abs = theta.copy()
        self.family_params = dict(fp)
        modes = obj.last
        self._u = modes.u.copy()
        self.nAGQ = integ.nAGQ
        self.integrator = integ.name
        self.optimizer = opt.name
        self.nobs = d.n
        self.nobs_dropped = d.nobs_dropped
        self.dropped_columns = list(d.dropped_columns)

        # fit statistics
        self.llf = -0.5 * fx
        self.df_modelwc = layout.size
        self.aic = fx + 2 * layout.size
        self.bic = fx + np.log(d.n) * layout.size
        self.deviance = fx
        self.df_resid = d.n - layout.size

        # covariance of the estimates
        names = self._param_names(ctx, layout)
        sl_beta = slice(layout.ntheta, layout.ntheta + layout.p)
        # lmer's covariance of beta for a Gaussian GLMM; with a dispersion formula (no lme4
        # counterpart) glmmTMB's, from the full Hessian
        is_gauss_identity = fam.is_normal_linear() and not d.param_designs
        vcov_beta = None
        self._H, self._g, self._names = H, g, names
        if not is_gauss_identity:
            try:
                np.linalg.cholesky(H)
                vcov_beta = 2.0 * np.linalg.inv(H)[sl_beta, sl_beta]
            except np.linalg.LinAlgError:
                warnings.warn("Hessian of the deviance is not positive definite; standard errors "
                              "use the information of beta given theta instead", InterlaceWarning,
                              stacklevel=3)
        if vcov_beta is None:  # lmer's form: (X' V^-1 X)^-1 at the estimated theta
            cond = pirls(ctx, theta, beta, fp, modes.u, fit_beta=True)
            try:
                vcov_beta = np.linalg.inv(cond.schur)
            except (np.linalg.LinAlgError, TypeError, ValueError):
                warnings.warn("the information for the fixed effects is singular: standard "
                              "errors are not available (NaN)", InterlaceWarning, stacklevel=3)
                vcov_beta = np.full((d.p, d.p), np.nan)
        self._beta, self._fe_names, self._vcov = beta, list(d.fe_names), vcov_beta
        self._set_family_coefs(ctx, layout, x, H)

        # variance components (absolute scale) and theta (lme4's relative scale)
        scale = fp.get(fam.scale_parameter, 1.0) if fam.has_dispersion else 1.0
        self.scale = scale**2 if fam.has_dispersion else 1.0
        self.theta = theta / scale if fam.has_dispersion else theta.copy()
        self._re_args = (ctx, theta, modes.u, 1.0, self.scale if fam.has_dispersion else None)

        # fitted values and convergence diagnostics
        self._eta = modes.eta
        self._mu_linked = modes.mu  # the linked mean; E[y] differs for zero-part families
        self._fitted = fam.mean(modes.mu, fp)
        at_bound = np.zeros(x.size, bool)
        tl = np.concatenate([t.theta_lower_bounds() for t in d.terms])
        at_bound[: layout.ntheta] = (tl == 0) & (x[: layout.ntheta] <= 1e-8)
        ok, crit, msg = convergence_check(H, g, at_bound)
        self.max_grad = crit
        self.optimizer_message = optres.message
        self.evaluations = nfev
        self.singular = bool(np.any((tl == 0) & (np.abs(self._theta_rel()) < _SINGULAR_TOL)))
        self.converged = bool(ok and modes.converged)
        self.messages = [] if ok else [msg]
        if not modes.converged:
            self.messages.append("PIRLS did not converge at the optimum")
        if not self.converged:
            warn_convergence("; ".join(self.messages))
        if self.singular:
            self.messages.append("boundary (singular) fit: see help('isSingular')")
        zi = fam.zi_parameter
        if zi in layout.fam_names and np.max(fp[zi]) < 1e-8:
            msg = (f"the zero probability {zi!r} is numerically 0 on every row: the data carry no "
                   f"excess zeros, so its coefficients are not identified (and their standard "
                   f"errors not finite); fit the family without a zero part instead")
            self.messages.append(msg)
            warnings.warn(msg, InterlaceWarning, stacklevel=3)
        for msg in fam.fit_warnings(d.y, modes.mu, d.weights, fp):
            self.messages.append(msg)
            warnings.warn(msg, InterlaceWarning, stacklevel=3)
        return self

    # -- pandas pieces, built on first use (a fit's own cost is mostly numpy) ---------------
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
        """Wald z statistics of the fixed effects."""
        return self.fe_params / self.fe_bse

    @cached_property
    def fe_pvalues(self) -> pd.Series:
        """Two-sided Wald p-values of the fixed effects."""
        return pd.Series(2 * stats.norm.sf(np.abs(self.fe_zvalues)), index=self._fe_names)

    @cached_property
    def fittedvalues(self) -> pd.Series:
        """E[y] per row at the conditional modes."""
        return pd.Series(self._fitted, name="fitted")

    @cached_property
    def gradient(self) -> pd.Series:
        """Gradient of the deviance at the estimate (optimizer's parameters)."""
        return pd.Series(self._g, index=self._names, name="gradient")

    @cached_property
    def hessian(self) -> pd.DataFrame:
        """Hessian of the deviance at the estimate (optimizer's parameters)."""
        return pd.DataFrame(self._H, index=self._names, columns=self._names)

    def _random_parts(self, name: str):
        """Variance components, modes, group counts and VarCorr, all built on first use."""
        if name not in self.__dict__:
            self._set_random_effects(*self._re_args)
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

    def _set_random_effects(self, ctx, theta, u, cov_scale: float, residual_var: float | None
                            ) -> None:
        """Variance components, conditional modes b = Lambda u per factor, and lme4's
        VarCorr table; ``cov_scale`` multiplies Lambda Lambda' (sigma^2 for an LMM)."""
        d = ctx.design
        self.variance_components: dict[str, pd.DataFrame] = {}
        self.random_effects: dict[str, pd.DataFrame] = {}
        self.ngroups: dict[str, int] = {}
        rows = []
        ub = ctx.u_blocks(u)
        for ti, (t, sl) in enumerate(zip(d.terms, ctx.theta_slices())):
            key = t.group
            while key in self.variance_components:
                key = key + ".1"
            cov = t.covariance(theta[sl], scale=cov_scale)
            self.variance_components[key] = pd.DataFrame(cov, index=t.columns, columns=t.columns)
            b = ub[ti] @ t.Lambda(theta[sl]).T
            self.random_effects[key] = pd.DataFrame(b, index=t.levels.copy(), columns=t.columns)
            self.random_effects[key].index.name = t.group
            self.ngroups[key] = t.nlevels
            sd = np.sqrt(np.diag(cov))
            for a in range(t.k):
                rows.append((key, t.columns[a], None, cov[a, a], sd[a]))
            for a in range(t.k):
                for b_ in range(a + 1, t.k):
                    if t.correlated:
                        den = sd[a] * sd[b_]
                        rows.append((key, t.columns[a], t.columns[b_], cov[a, b_],
                                     cov[a, b_] / den if den > 0 else np.nan))
        if residual_var is not None:
            rows.append(("Residual", None, None, residual_var, np.sqrt(residual_var)))
        self.varcorr = pd.DataFrame(rows, columns=["grp", "var1", "var2", "vcov", "sdcor"])

    def anova(self, *others):
        """Likelihood-ratio test against other fits of the same data (see interlace.anova)."""
        from interlace.results.anova import anova

        return anova(self, *others)

    def _theta_rel(self) -> np.ndarray:
        return self.theta

    @staticmethod
    def _param_names(ctx, layout) -> list[str]:
        names = []
        for t in ctx.design.terms:
            names += [f"theta[{n}]" for n in t.theta_names()]
        names += list(ctx.design.fe_names)
        pdes = ctx.design.param_designs
        for n in layout.fam_names:
            names += ([f"{n}~{c}" for c in pdes[n].columns] if n in pdes
                      else [f"{n} (unconstrained)"])
        return names

    def _set_family_coefs(self, ctx, layout, x: np.ndarray, H: np.ndarray) -> None:
        """Estimated family parameters on the optimizer's scale (logit / log ...), with standard
        errors from the Hessian: one table per parameter, one row per coefficient of its
        formula (``(Intercept)`` alone for ``~1``), as glmmTMB's ``fixef(m)$zi`` / ``$disp``.
        ``family_params_bse`` gives scalar parameters' errors on their natural scale (delta
        method)."""
        fam, pdes = ctx.family, ctx.design.param_designs
        try:
            cov = 2.0 * np.linalg.inv(H)
        except np.linalg.LinAlgError:
            cov = np.full(H.shape, np.nan)
        self.family_coefs: dict[str, pd.DataFrame] = {}
        self.family_params_bse: dict[str, float] = {}
        i = layout.ntheta + layout.p
        for name in layout.fam_names:
            k = layout.fam_size(name)
            est = x[i : i + k]
            with np.errstate(invalid="ignore"):
                se = np.sqrt(np.diag(cov)[i : i + k])
            cols = pdes[name].columns if name in pdes else ["(Intercept)"]
            z = est / se
            self.family_coefs[name] = pd.DataFrame(
                {"Estimate": est, "Std. Error": se, "z value": z,
                 "Pr(>|z|)": 2 * stats.norm.sf(np.abs(z))}, index=pd.Index(cols, name=name))
            if name not in pdes:
                p = fam.parameters[name]
                h = 1e-6 * max(1.0, abs(est[0]))
                deriv = (p.from_unconstrained(est[0] + h) - p.from_unconstrained(est[0] - h)) / (2 * h)
                self.family_params_bse[name] = float(abs(deriv) * se[0])
            i += k

    def _coef_series(self, name: str | None, column: str) -> pd.Series | None:
        table = getattr(self, "family_coefs", {}).get(name)
        return None if table is None else table[column].rename(column)

    @property
    def zi_params(self) -> pd.Series | None:
        """Zero-part coefficients on the logit scale (glmmTMB's ``fixef(m)$zi``); None if the
        family has no estimated zero probability."""
        return self._coef_series(self.family.zi_parameter, "Estimate")

    @property
    def zi_bse(self) -> pd.Series | None:
        """Standard errors of ``zi_params``."""
        return self._coef_series(self.family.zi_parameter, "Std. Error")

    @property
    def disp_params(self) -> pd.Series | None:
        """Dispersion coefficients on the log scale (glmmTMB's ``fixef(m)$disp``); None if the
        family has no estimated dispersion."""
        return self._coef_series(self.family.dispersion_parameter, "Estimate")

    @property
    def disp_bse(self) -> pd.Series | None:
        """Standard errors of ``disp_params``."""
        return self._coef_series(self.family.dispersion_parameter, "Std. Error")

    # -- residuals -----------------------------------------------------------------------
    _mu_linked: np.ndarray | None = None

    def _mu(self) -> np.ndarray:
        """The linked mean mu per row (E[y] = fittedvalues when the family has no zero part;
        results that do not set it, e.g. LMMs, have mu = E[y])."""
        if self._mu_linked is None:
            return self.fittedvalues.to_numpy()
        return self._mu_linked

    @property
    def resid_response(self) -> pd.Series:
        return pd.Series(self._ctx.design.y - self.fittedvalues.to_numpy(), name="resid")

    @property
    def resid_pearson(self) -> pd.Series:
        d = self._ctx.design
        var = self.family.variance(self._mu(), self.family_params) / d.weights
        return pd.Series((d.y - self.fittedvalues.to_numpy()) / np.sqrt(var), name="resid_pearson")

    @property
    def resid_deviance(self) -> pd.Series:
        """sign(y - mu) sqrt(2 (l_saturated - l_fitted)), R's default GLMM residual."""
        d = self._ctx.design
        mu = self._mu()
        fam, fp = self.family, self.family_params
        ysat = d.y
        dev = 2 * (fam.loglik(d.y, ysat, d.weights, fp) - fam.loglik(d.y, mu, d.weights, fp))
        if fam.has_dispersion:
            dev = dev * fp.get(fam.scale_parameter, 1.0) ** 2
        return pd.Series(np.sign(d.y - mu) * np.sqrt(np.maximum(dev, 0)), name="resid_deviance")

    def residuals(self, type: str = "deviance") -> pd.Series:  # noqa: A002 - R's argument name
        """Residuals of ``type`` "deviance" (default, as R), "pearson" or "response"."""
        table = {"deviance": "resid_deviance", "pearson": "resid_pearson",
                 "response": "resid_response"}
        if type not in table:
            raise ValueError(f"type must be one of {', '.join(table)}, got {type!r}")
        return getattr(self, table[type])

    @property
    def resid(self) -> pd.Series:
        return self.resid_deviance

    # -- prediction ----------------------------------------------------------------------
    _PREDICT_TYPES = ("response", "link", "conditional", "zprob", "disp")

    def predict(self, newdata: pd.DataFrame | None = None, type: str = "response",  # noqa: A002
                include_re: bool = True, offset: Any = None) -> np.ndarray:
        """Predictions; unseen levels get b = 0. ``type`` as glmmTMB's: ``"response"`` E[y],
        ``"link"`` the linear predictor, ``"conditional"`` the mean of the count part (mu for
        zero inflation, the zero-truncated mean for a hurdle; E[y] for families without a zero
        part), ``"zprob"`` the zero probability, ``"disp"`` the dispersion parameter."""
        if type not in self._PREDICT_TYPES:
            raise ValueError(f"type must be one of {', '.join(map(repr, self._PREDICT_TYPES))}, "
                             f"got {type!r}")
        if type in ("zprob", "disp"):
            name = self.family.zi_parameter if type == "zprob" else self.family.dispersion_parameter
            if name is None:
                raise ValueError(f"type={type!r}: family {self.family.name!r} has no "
                                 f"{'zero probability' if type == 'zprob' else 'dispersion'}")
            n = self.nobs if newdata is None else len(newdata)
            return np.broadcast_to(self._params_for(newdata)[name], (n,)).astype(float)
        d = self._ctx.design
        if newdata is None:
            eta = d.offset + d.X @ self.fe_params.to_numpy()
            if include_re:
                eta = self._eta.copy()
        else:
            eta = self._predict_eta(newdata, include_re, offset)
        if type == "link":
            return eta
        mu = self.link.inverse(eta)
        params = self._params_for(newdata)
        zi = self.family.zi_parameter
        if type == "conditional":
            if zi is None:
                return mu
            params = dict(params, **{zi: 0.0})  # the count part alone (no structural zeros)
        return np.asarray(self.family.mean(mu, params), float)

    def _params_for(self, newdata: pd.DataFrame | None) -> dict:
        """Family parameters for the rows of ``newdata`` (the fit's rows if None): formula
        parameters from their linear predictor on the new rows."""
        pdes = self._ctx.design.param_designs
        if newdata is None or not pdes:
            return self.family_params
        out = dict(self.family_params)
        for name, pd_ in pdes.items():
            try:
                mm = pd_.spec.get_model_matrix(newdata, na_action="ignore")
            except Exception as exc:  # noqa: BLE001 - formulaic raises many types
                raise DataError(f"cannot build the formula '~ {pd_.formula}' of family "
                                f"parameter {name!r} for newdata: {exc}") from None
            Xn = np.asarray(mm, dtype=float)[:, pd_.kept_columns]
            z = np.clip(Xn @ self.family_coefs[name]["Estimate"].to_numpy(), -30.0, 30.0)
            out[name] = self.family.parameters[name].from_unconstrained(z)
        return out

    def _predict_eta(self, newdata, include_re, offset) -> np.ndarray:
        d = self._ctx.design
        if not isinstance(newdata, pd.DataFrame):
            raise DataError(f"newdata must be a pandas DataFrame, got {type(newdata).__name__}")
        try:
            mm = d.fixed_spec.get_model_matrix(newdata, na_action="ignore")
        except Exception as exc:  # noqa: BLE001
            raise DataError(f"cannot build the fixed effects for newdata: {exc}") from None
        X = np.asarray(mm, dtype=float)[:, d.kept_columns]
        eta = X @ self.fe_params.to_numpy()
        n = len(newdata)
        if offset is not None:
            eta = eta + np.broadcast_to(np.asarray(offset, float), (n,))
        for expr in d.parsed.offsets:
            eta = eta + eval_numeric(expr, newdata, "offset")
        if not include_re:
            return eta
        for b, t in zip(self.random_effects.values(), d.terms):
            spec = next(s for s in d.parsed.random if s.group == t.group and s.expr == t.expr)
            missing = [v for v in spec.group_vars if v not in newdata.columns]
            if missing:
                raise DataError(f"newdata lacks grouping column(s) {missing} needed by {t.label}")
            Z, _ = random_columns(spec, newdata)
            if len(spec.group_vars) == 1:
                idx = t.levels.get_indexer(newdata[spec.group_vars[0]])
            else:
                labels = newdata[spec.group_vars[0]].astype(str)
                for v in spec.group_vars[1:]:
                    labels = labels + ":" + newdata[v].astype(str)
                idx = t.levels.get_indexer(labels)
            bv = b.to_numpy()
            seen = idx >= 0
            contrib = np.zeros(n)
            contrib[seen] = np.sum(Z[seen] * bv[idx[seen]], axis=1)
            eta = eta + contrib
        return eta

    def simulate(self, nsim: int = 1, seed: int | None = None) -> np.ndarray:
        """Draw responses from the fitted model at the conditional modes (nsim x n)."""
        rng = np.random.default_rng(seed)
        mu = self._mu()
        w = self._ctx.design.weights
        return np.vstack([self.family.simulate(mu, w, self.family_params, rng)
                          for _ in range(nsim)])

    # -- printing ------------------------------------------------------------------------
    def summary(self) -> str:
        """lme4-style summary text (also printed)."""
        text = self._summary_text()
        print(text)
        return text

    def _summary_text(self) -> str:
        fam = self.family
        method = ("Laplace Approximation" if self.nAGQ == 1
                  else f"Adaptive Gauss-Hermite Quadrature, nAGQ = {self.nAGQ}")
        lines = [f"Generalized linear mixed model fit by maximum likelihood ({method})",
                 f" Family: {fam.name}  ( {self.link.name} )"]
        extra = {k: v for k, v in self.family_params.items()
                 if k != fam.scale_parameter and np.ndim(v) == 0}
        if extra:
            bse = getattr(self, "family_params_bse", {})
            lines.append(" Family parameters: " + ", ".join(
                f"{k} = {v:.4g}" + (f" (SE {bse[k]:.3g})" if k in bse else "")
                for k, v in extra.items()))
        lines.append(f"Formula: {self.formula}")
        lines.append("")
        lines.append(f"{'AIC':>10}{'BIC':>10}{'logLik':>10}{'deviance':>10}{'df.resid':>10}")
        lines.append(f"{self.aic:>10.1f}{self.bic:>10.1f}{self.llf:>10.1f}{self.deviance:>10.1f}"
                     f"{self.df_resid:>10d}")
        lines.append("")
        lines.extend(self._scaled_residual_lines())
        lines.append("Random effects:")
        vc = self.varcorr
        lines.append(f" {'Groups':<12}{'Name':<14}{'Variance':>10}{'Std.Dev.':>10}{'Corr':>8}")
        for _, r in vc[vc["var2"].isna()].iterrows():
            corr = vc[(vc["grp"] == r["grp"]) & (vc["var2"] == r["var1"])]
            cs = " ".join(f"{v:6.2f}" for v in corr["sdcor"]) if len(corr) else ""
            name = "" if pd.isna(r["var1"]) else r["var1"]
            lines.append(f" {r['grp']:<12}{name:<14}{r['vcov']:>10.4g}{r['sdcor']:>10.4g}  {cs}")
        groups = ", ".join(f"{k}, {v}" for k, v in self.ngroups.items())
        lines.append(f"Number of obs: {self.nobs}, groups:  {groups}")
        lines.append("")
        lines.append("Fixed effects:")
        w = max(12, max(len(n) for n in self.fe_params.index) + 1)
        lines.append(f"{'':<{w}}{'Estimate':>10}{'Std. Error':>12}{'z value':>9}{'Pr(>|z|)':>10}")
        for name in self.fe_params.index:
            p = self.fe_pvalues[name]
            ps = f"{p:10.3g}" if p >= 2e-16 else f"{'<2e-16':>10}"
            lines.append(f"{name:<{w}}{self.fe_params[name]:>10.5g}{self.fe_bse[name]:>12.5g}"
                         f"{self.fe_zvalues[name]:>9.3f}{ps}")
        lines.extend(self._correlation_lines())
        lines.extend(self._family_formula_lines())
        for m in self.messages:
            lines.append(f"note: {m}")
        if not self.converged:
            lines.append("WARNING: the fit did not converge")
        return "\n".join(lines)

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
            out += ["", f"{title}: ~ {pdes[name].formula}  ({scale} scale)"]
            w = max(12, max(len(c) for c in table.index) + 1)
            out.append(f"{'':<{w}}{'Estimate':>10}{'Std. Error':>12}{'z value':>9}"
                       f"{'Pr(>|z|)':>10}")
            for c, r in table.iterrows():
                p = r["Pr(>|z|)"]
                ps = f"{p:10.3g}" if p >= 2e-16 else f"{'<2e-16':>10}"
                out.append(f"{c:<{w}}{r['Estimate']:>10.5g}{r['Std. Error']:>12.5g}"
                           f"{r['z value']:>9.3f}{ps}")
        return out

    def _scaled_residual_lines(self) -> list[str]:
        """Quantiles of the Pearson residuals, as lme4's summary prints them."""
        try:
            r = np.asarray(self.resid_pearson, float)
        except Exception:  # noqa: BLE001 - families without a variance function
            return []
        if r.size == 0 or not np.all(np.isfinite(r)):
            return []
        q = np.quantile(r, [0, 0.25, 0.5, 0.75, 1])
        head = "".join(f"{h:>10}" for h in ("Min", "1Q", "Median", "3Q", "Max"))
        return ["Scaled residuals:", head, "".join(f"{v:>10.4f}" for v in q), ""]

    def _correlation_lines(self) -> list[str]:
        """Lower triangle of the correlation of the fixed effects (lme4 prints it for p > 1)."""
        V = self.vcov.to_numpy()
        p = V.shape[0]
        if p < 2 or p > 12 or not np.all(np.isfinite(V)):
            return []
        sd = np.sqrt(np.diag(V))
        C = V / np.outer(sd, sd)
        names = [n[:10] for n in self.vcov.index]
        out = ["", "Correlation of Fixed Effects:",
               " " * 12 + "".join(f"{n:>11}" for n in names[:-1])]
        for i in range(1, p):
            out.append(f"{names[i]:<12}" + "".join(f"{C[i, j]:>11.3f}" for j in range(i)))
        return out

    def __repr__(self) -> str:
        return (f"<GLMMResult {self.family.name}({self.link.name}) nobs={self.nobs} "
                f"llf={self.llf:.4f} converged={self.converged}>")

    # -- plots (matplotlib, the optional "plot" extra; see interlace.plotting) ---------------
    def plot_caterpillar(self, term: str | None = None, level: float = 0.95, **kwargs):
        """Caterpillar plot of one random term's conditional modes with intervals."""
        from interlace.plotting import plot_caterpillar

        return plot_caterpillar(self, term=term, level=level, **kwargs)

    def plot_fitted(self, **kwargs):
        """Observed response against fitted values."""
        from interlace.plotting import plot_fitted

        return plot_fitted(self, **kwargs)

    def plot_residuals(self, type: str = "pearson", **kwargs):  # noqa: A002 - R's argument name
        """Residuals against fitted values and a normal Q-Q plot."""
        from interlace.plotting import plot_residuals

        return plot_residuals(self, type=type, **kwargs)
