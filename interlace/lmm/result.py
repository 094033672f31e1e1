"""The fitted linear mixed model: lmer's estimates plus REML criterion and Satterthwaite df."""

from __future__ import annotations

import math
from functools import cached_property

import numpy as np
import pandas as pd
from scipy import stats

from interlace.glmm.result import GLMMResult
from interlace.linalg.differences import hessian_from_gradient
from interlace.results.convergence import convergence_check, warn_convergence

_SINGULAR_TOL = 1e-4


class LMMResult(GLMMResult):
    """Result of :func:`interlace.fit`; prediction, residuals and simulation as for GLMMs."""

    @classmethod
    def from_lmm(cls, ctx, obj, theta, dev, H, g, nfev, message, opt, args):
        self = cls()
        d, fam = ctx.design, ctx.family
        sol = obj.solution(theta)
        obj.clear_cache()  # the result holds the objective: keep no factors alive with it
        sigma2 = obj.sigma2(sol)
        sigma = math.sqrt(sigma2)
        self._ctx, self._optimizer, self._fit_args = ctx, opt, args
        self.family, self.link = fam, fam.link
        self.formula = d.parsed.text
        self.method = "REML" if obj.reml else "ML"
        self.nAGQ, self.integrator, self.optimizer = 1, "exact (linear model)", opt.name
        self.nobs, self.nobs_dropped = d.n, d.nobs_dropped
        self.dropped_columns = list(d.dropped_columns)
        self.theta = np.asarray(theta, float).copy()
        self._theta_abs = self.theta * sigma
        self.scale = sigma2
        self.family_params = {"sigma": sigma}
        self._u = sol.u * sigma  # spherical effects on the N(0, I) scale of the GLMM core

        npar = self.theta.size + d.p + 1
        self.df_modelwc = npar
        self.llf = -0.5 * dev
        self.reml_criterion = float(dev) if obj.reml else None
        self.deviance = float(dev)
        self.aic = dev + 2 * npar
        self.bic = dev + math.log(d.n) * npar
        self.df_resid = d.n - npar

        self._beta, self._fe_names = sol.beta, list(d.fe_names)
        self._RX2 = sol.RX2  # the covariance of beta, sigma^2 RX2^-1, is formed on first use
        self._satt = (obj, np.asarray(theta, float).copy(), sigma)
        self._re_args = (ctx, self.theta, sol.u, sigma2, sigma2)
        self._eta = d.y - sol.resid  # offset + X beta + Z b
        self._fitted = self._eta
        self._g, self._H = g, H
        self._H_approx = bool(getattr(obj, "hessian_approximate", False))
        diag = obj.lower == 0
        at_bound = diag & (self.theta <= 1e-8)
        ok, crit, msg = convergence_check(H, g, at_bound)
        self.max_grad, self.optimizer_message, self.evaluations = crit, message, nfev
        self.singular = bool((diag & (np.abs(self.theta) < _SINGULAR_TOL)).any())
        self.converged = bool(ok)
        self.messages = [] if ok else [msg]
        if not ok:
            warn_convergence(msg)
        if self.singular:
            self.messages.append("boundary (singular) fit: see help('isSingular')")
        return self

    # -- pieces built on first use (the rest as GLMMResult's) ----------------------------
    @cached_property
    def _vcov(self) -> np.ndarray:
        """sigma^2 (RX'RX)^-1, the covariance of the fixed effects."""
        return self.scale * np.linalg.inv(self._RX2)

    @cached_property
    def _names(self) -> list[str]:
        """Names of theta's entries (the gradient's and Hessian's labels)."""
        return [f"theta[{n}]" for t in self._ctx.design.terms for n in t.theta_names()]

    @cached_property
    def fe_tvalues(self) -> pd.Series:
        """t statistics of the fixed effects."""
        return self.fe_params / self.fe_bse

    @cached_property
    def fe_zvalues(self) -> pd.Series:
        """The t statistics (the GLMM results' name)."""
        return self.fe_tvalues

    @cached_property
    def hessian(self) -> pd.DataFrame:
        """Hessian of the profiled deviance in theta at the estimate (differences of the exact
        gradient, computed here when the fit itself used its quasi-Newton approximation)."""
        H = self._H
        if self._H_approx:
            H = hessian_from_gradient(self._satt[0].grad, self.theta)
        return pd.DataFrame(H, index=self._names, columns=self._names)

    @property
    def fe_df(self) -> pd.Series:
        """Satterthwaite degrees of freedom per coefficient (computed on first use)."""
        if "_fe_df" not in self.__dict__:
            obj, theta, sigma = self._satt
            self._fe_df = pd.Series(satterthwaite_df(obj, theta, sigma),
                                    index=self.fe_params.index, name="df")
        return self._fe_df

    @property
    def fe_pvalues(self) -> pd.Series:
        """Two-sided t-test p-values with Satterthwaite's degrees of freedom (lmerTest)."""
        return pd.Series(2 * stats.t.sf(np.abs(self.fe_tvalues), self.fe_df),
                         index=self.fe_params.index, name="Pr(>|t|)")

    @fe_pvalues.setter
    def fe_pvalues(self, value) -> None:  # GLMMResult's constructor is not used here
        pass

    def refit(self, method: str) -> LMMResult:
        """The same model fitted by ``method`` ("REML" or "ML")."""
        from interlace.lmm.fitting import fit

        return fit(method=method, **self._fit_args)

    def _summary_text(self) -> str:
        head = [f"Linear mixed model fit by {'REML' if self.method == 'REML' else 'maximum likelihood'}",
                f"Formula: {self.formula}", ""]
        if self.method == "REML":
            head.append(f"REML criterion at convergence: {self.reml_criterion:.4f}")
        else:
            head.append(f"{'AIC':>10}{'BIC':>10}{'logLik':>10}{'deviance':>10}{'df.resid':>10}")
            head.append(f"{self.aic:>10.1f}{self.bic:>10.1f}{self.llf:>10.1f}{self.deviance:>10.1f}"
                        f"{self.df_resid:>10d}")
        body = super()._summary_text().split("\n")
        start = next(i for i, line in enumerate(body)
                     if line.startswith(("Scaled residuals", "Random effects")))
        fixed = next(i for i, line in enumerate(body) if line.startswith("Fixed effects"))
        lines = head + [""] + body[start:fixed]
        lines.append("Fixed effects (Satterthwaite df, as lmerTest):")
        w = max(12, max(len(n) for n in self.fe_params.index) + 1)
        lines.append(f"{'':<{w}}{'Estimate':>10}{'Std. Error':>12}{'df':>9}{'t value':>9}{'Pr(>|t|)':>10}")
        for n in self.fe_params.index:
            lines.append(f"{n:<{w}}{self.fe_params[n]:>10.5g}{self.fe_bse[n]:>12.5g}"
                         f"{self.fe_df[n]:>9.2f}{self.fe_tvalues[n]:>9.3f}{self.fe_pvalues[n]:>10.3g}")
        lines += [f"note: {m}" for m in self.messages]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return (f"<LMMResult {self.method} nobs={self.nobs} llf={self.llf:.4f} "
                f"converged={self.converged}>")


def satterthwaite_df(obj, theta: np.ndarray, sigma: float, h: float = 1e-4) -> np.ndarray:
    """Satterthwaite's degrees of freedom for each coefficient (lmerTest's method).

    df_j = 2 V_jj^2 / (g' A g), with V(theta, sigma) = sigma^2 (RX'RX)^-1, g its gradient in the
    variance parameters (theta, sigma) and A = 2 H^-1 their asymptotic covariance, H the
    Hessian of the (unprofiled) deviance at the estimate.
    """
    phi = np.concatenate([theta, [sigma]])
    H = hessian_from_gradient(obj.unprofiled_gradient, phi)
    try:
        A = 2.0 * np.linalg.inv(H)
    except np.linalg.LinAlgError:
        A = 2.0 * np.linalg.pinv(H)

    def vdiag(ph):
        sol = obj.solve(ph[:-1])
        return ph[-1] ** 2 * np.diag(np.linalg.inv(sol.RX2))

    m = phi.size
    G = np.empty((m, obj.ctx.design.p))
    for i in range(m):
        e = np.zeros(m)
        e[i] = h * max(1.0, abs(phi[i]))
        G[i] = (vdiag(phi + e) - vdiag(phi - e)) / (2 * e[i])
    V = vdiag(phi)
    den = np.einsum("ij,ik,kj->j", G, A, G)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, 2.0 * V**2 / den, np.inf)
