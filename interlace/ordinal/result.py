"""The fitted cumulative link mixed model: thresholds, category probabilities, ordinal's summary."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pandas as pd

from interlace.errors import UnsupportedModelError
from interlace.glmm.result import GLMMResult


class CLMMResult(GLMMResult):
    """Result of :func:`clmm`: a :class:`GLMMResult` with thresholds and category probabilities.

    Attributes beyond GLMMResult's: ``thresholds`` (ordinal's names ``"1|2"``, ...),
    ``threshold_bse``, ``threshold_zvalues``, ``levels`` (the response's ordered levels),
    ``coef`` (thresholds then coefficients, as ``coef()`` of ordinal), ``vcov_all``
    (covariance of thresholds, coefficients and theta), ``cond_H`` (condition number of the
    Hessian of -log L in those parameters, as ordinal's summary reports), and ``fittedvalues``
    = P(Y_i = y_i | b^), as ordinal's ``fitted()``. ``link`` is the cumulative link.
    """

    @classmethod
    def from_fit(cls, ctx, integ, opt, x, fx, H, g, layout, obj, optres, nfev, stage1):
        self = super().from_fit(ctx, integ, opt, x, fx, H, g, layout, obj, optres, nfev, stage1)
        d, fam = ctx.design, ctx.family
        self.link = fam.cumulative
        self.levels = list(d.response_levels)
        self.response = d.response_label
        lv = [str(v) for v in self.levels]
        tnames = [f"{a}|{b}" for a, b in zip(lv[:-1], lv[1:])]
        fp = dict(self.family_params)
        nt, p = layout.ntheta, layout.p
        # shift mode (no covariates): the core fitted an intercept c with tau_1 fixed at 0
        shift = "threshold_1" not in layout.fam_names
        c = float(self.fe_params.iloc[0]) if shift else 0.0
        tau = fam.thresholds(fp) - c
        Jz = fam.threshold_jacobian(fp)
        if shift:
            fam.parameters["threshold_1"].value = None
            fp = fam.threshold_params(tau)
            self.family_params = fp
            d = dataclasses.replace(d, X=d.X[:, :0], fe_names=[], kept_columns=[])
            self._ctx = dataclasses.replace(ctx, design=d)
            self._eta = self._eta - c
            empty = pd.Series([], dtype=float)
            self.fe_params = empty.rename("Estimate")
            self.fe_bse = empty.rename("Std. Error")
            self.fe_zvalues, self.fe_pvalues = empty.copy(), empty.copy()
            self.vcov = pd.DataFrame(np.zeros((0, 0)))
        self.thresholds = pd.Series(tau, index=tnames, name="Estimate")

        # Natural-scale parameters: [tau, beta, theta]; the optimizer's are [theta, beta, z]
        # (in shift mode [theta, c, z_2..] with tau_j = -c + tau_j').
        m = x.size
        K1 = tau.size
        pn = 0 if shift else p
        T = np.zeros((m, m))  # d(tau, beta, theta) / d(theta, beta, z)
        est = [list(fam.parameters).index(n) for n in layout.fam_names]
        T[:K1, nt + p:] = Jz[:, est]
        if shift:
            T[:K1, nt] = -1.0
        else:
            T[K1:K1 + p, nt:nt + p] = np.eye(p)
        T[K1 + pn:, :nt] = np.eye(nt)
        theta_names = [f"theta[{n}]" for t in d.terms for n in t.theta_names()]
        nat_names = tnames + list(d.fe_names) + theta_names
        self.vcov_all = None
        self.cond_H = float("nan")
        self.max_grad_natural = float("nan")
        try:
            np.linalg.cholesky(H)
            V = 2.0 * T @ np.linalg.inv(H) @ T.T
            self.vcov_all = pd.DataFrame(V, index=nat_names, columns=nat_names)
        except np.linalg.LinAlgError:
            V = None
        try:
            Ti = np.linalg.inv(T)
            Hn = 0.5 * Ti.T @ H @ Ti  # Hessian of -log L in (tau, beta, theta)
            ev = np.linalg.eigvalsh(0.5 * (Hn + Hn.T))
            if ev[0] > 0:
                self.cond_H = float(ev[-1] / ev[0])
            self.max_grad_natural = float(np.max(np.abs(0.5 * Ti.T @ g)))
        except np.linalg.LinAlgError:
            pass
        if V is not None:
            se = np.sqrt(np.maximum(np.diag(V)[:K1], 0.0))
        else:
            se = np.full(K1, np.nan)
        self.threshold_bse = pd.Series(se, index=tnames, name="Std. Error")
        self.threshold_zvalues = self.thresholds / self.threshold_bse

        # fitted values as ordinal's: the probability of the observed category given b^
        ll = fam.loglik(d.y, self._eta, np.ones(d.n), fp)
        self.fittedvalues = pd.Series(np.exp(ll), name="fitted")
        return self

    # -- parameters ----------------------------------------------------------------------
    @property
    def coef(self) -> pd.Series:
        """Thresholds then coefficients, in ordinal's ``coef()`` order."""
        return pd.concat([self.thresholds, self.fe_params]).rename("Estimate")

    @property
    def ordinal_link(self) -> str:
        return self.link.name

    # -- prediction ----------------------------------------------------------------------
    def predict_proba(self, newdata: pd.DataFrame | None = None, include_re: bool = True,
                      offset: Any = None) -> pd.DataFrame:
        """Category probabilities P(Y = level | x, b) (rows sum to 1), one column per level.

        Without ``newdata``, for the fitted rows; ``include_re=False`` sets b = 0 (the
        population-level probabilities); group levels not seen in the fit get b = 0.
        """
        eta = GLMMResult.predict(self, newdata, type="link", include_re=include_re,
                                 offset=offset)
        P = self.family.probabilities(eta, self.family_params)
        index = newdata.index if newdata is not None else None
        return pd.DataFrame(P, columns=list(self.levels), index=index)

    def predict(self, newdata: pd.DataFrame | None = None, type: str = "prob",  # noqa: A002
                include_re: bool = True, offset: Any = None):
        """``type``: "prob" (DataFrame of category probabilities, also "response"), "class"
        (the most probable level), "cumprob" (P(Y <= j), one column per threshold) or "link"
        (the linear predictor x'beta + z'b, without thresholds)."""
        kinds = ("prob", "response", "class", "cumprob", "link")
        if type not in kinds:
            raise ValueError(f"type must be one of {', '.join(kinds)}, got {type!r}")
        if type == "link":
            return GLMMResult.predict(self, newdata, type="link", include_re=include_re,
                                      offset=offset)
        if type == "cumprob":
            eta = GLMMResult.predict(self, newdata, type="link", include_re=include_re,
                                     offset=offset)
            C = self.family.cumulative_probabilities(eta, self.family_params)
            index = newdata.index if newdata is not None else None
            return pd.DataFrame(C, columns=list(self.thresholds.index), index=index)
        P = self.predict_proba(newdata, include_re=include_re, offset=offset)
        if type == "class":
            return pd.Series(np.asarray(self.levels, dtype=object)[np.argmax(P.to_numpy(), 1)],
                             index=P.index, name="class")
        return P

    def simulate(self, nsim: int = 1, seed: int | None = None) -> np.ndarray:
        """Responses (level labels, nsim x n) drawn at the conditional modes."""
        rng = np.random.default_rng(seed)
        w = np.ones(self.nobs)
        lv = np.asarray(self.levels)
        return np.vstack([lv[self.family.simulate(self._eta, w, self.family_params, rng)
                             .astype(np.intp)] for _ in range(nsim)])

    # -- residuals: not defined for an ordinal response ----------------------------------
    def _no_residuals(self):
        raise UnsupportedModelError(
            "residuals of a cumulative link model are not defined on the category scale; use "
            "predict_proba() / fittedvalues (the probability of the observed category)"
        )

    @property
    def resid_response(self):
        self._no_residuals()

    @property
    def resid_pearson(self):
        self._no_residuals()

    @property
    def resid_deviance(self):
        self._no_residuals()

    # -- printing ------------------------------------------------------------------------
    def _summary_text(self) -> str:
        method = ("the Laplace approximation" if self.nAGQ == 1
                  else f"the adaptive Gauss-Hermite quadrature approximation with {self.nAGQ} "
                       f"quadrature points")
        lines = [f"Cumulative Link Mixed Model fitted with {method}", "",
                 f"formula: {self.formula}", ""]
        hdr = (f" {'link':<8}{'threshold':<10}{'nobs':>6}{'logLik':>10}{'AIC':>9}"
               f"{'niter':>7}{'max.grad':>10}{'cond.H':>9}")
        lines.append(hdr)
        lines.append(f" {self.link.name:<8}{'flexible':<10}{self.nobs:>6}{self.llf:>10.2f}"
                     f"{self.aic:>9.2f}{self.evaluations:>7d}{self.max_grad_natural:>10.2e}"
                     f"{self.cond_H:>9.1e}")
        lines.append("")
        lines.append("Random effects:")
        vc = self.varcorr
        lines.append(f" {'Groups':<10}{'Name':<14}{'Variance':>10}{'Std.Dev.':>10}{'Corr':>8}")
        for _, r in vc[vc["var2"].isna()].iterrows():
            corr = vc[(vc["grp"] == r["grp"]) & (vc["var2"] == r["var1"])]
            cs = " ".join(f"{v:6.3f}" for v in corr["sdcor"]) if len(corr) else ""
            name = r["var1"] if r["var1"] is not None else ""
            lines.append(f" {r['grp']:<10}{name:<14}{r['vcov']:>10.4g}{r['sdcor']:>10.4g}  {cs}")
        groups = ",  ".join(f"{k} {v}" for k, v in self.ngroups.items())
        lines.append(f"Number of groups:  {groups}")
        lines.append("")
        if len(self.fe_params):
            lines.append("Coefficients:")
            w = max(12, max(len(n) for n in self.fe_params.index) + 1)
            lines.append(f"{'':<{w}}{'Estimate':>10}{'Std. Error':>12}{'z value':>9}"
                         f"{'Pr(>|z|)':>11}")
            for name in self.fe_params.index:
                pv = self.fe_pvalues[name]
                ps = f"{pv:11.3g}" if pv >= 2e-16 else f"{'<2e-16':>11}"
                lines.append(f"{name:<{w}}{self.fe_params[name]:>10.4f}{self.fe_bse[name]:>12.4f}"
                             f"{self.fe_zvalues[name]:>9.3f}{ps}")
            lines.append("")
        lines.append("Threshold coefficients:")
        w = max(8, max(len(n) for n in self.thresholds.index) + 1)
        lines.append(f"{'':<{w}}{'Estimate':>10}{'Std. Error':>12}{'z value':>9}")
        for name in self.thresholds.index:
            lines.append(f"{name:<{w}}{self.thresholds[name]:>10.4f}"
                         f"{self.threshold_bse[name]:>12.4f}{self.threshold_zvalues[name]:>9.3f}")
        for msg in self.messages:
            lines.append(f"note: {msg}")
        if not self.converged:
            lines.append("WARNING: the fit did not converge")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return (f"<CLMMResult ordinal({self.link.name}) K={len(self.levels)} nobs={self.nobs} "
                f"llf={self.llf:.4f} converged={self.converged}>")

