"""Pieces of a result fitted on the GLMM core (the Laplace / quadrature objective over theta,
beta and the family's parameters), shared by :class:`~interlace.glmm.result.GLMMResult` and
:class:`~interlace.ordinal.result.CLMMResult` through :class:`CoreFitMixin`: the covariance of
beta, the family parameters' coefficient tables, theta's scale, the convergence checks."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy import stats

from interlace.errors import InterlaceError, InterlaceWarning
from interlace.glmm.parameters import layout_names
from interlace.glmm.pirls import pirls
from interlace.glmm.profiling import CoreProfileProblem
from interlace.glmm.zi_random import eta_key, zi_tables
from interlace.inference.parameters import (
    random_parameter_kinds,
    random_parameter_names,
    random_parameter_values,
    theta_at_bound,
)
from interlace.inference.wald import (
    IDENTITY,
    EstimationScale,
    covariance_from_hessian,
    kind_scale,
    parameter_scale,
)
from interlace.results.base import SINGULAR_TOL, limit_problem


class CoreFitMixin:
    """Construction steps of a GLMM-core fit (the family parameters' coefficient tables
    included)."""

    @property
    def solver(self) -> str:
        """How the penalised system was solved: "cholesky", "pcg" or "slq" (``glmer``'s
        ``solver``, "auto" resolved by the cost model of
        :func:`interlace.linalg.penalized.choose_solver`). With "slq" the optimizer's
        deviances, gradients and the Hessian (so the standard errors) are stochastic
        estimates with fixed probes; the reported log-likelihood is exact."""
        return self._ctx.system.solver

    def _modes_factor(self):
        """PIRLS run once more at the estimates, warm-started at the fit's modes."""
        beta = np.asarray(self.fe_params, dtype=float)
        modes = pirls(self._ctx, self._theta_abs, beta, dict(self.family_params), self._u)
        if modes.factor is None:
            raise InterlaceError("the penalised system could not be factored at the modes")
        return modes.factor

    def profile_problem(self) -> CoreProfileProblem:
        """The fit's deviance in SD/correlation coordinates, for ``profile()``."""
        return CoreProfileProblem(self, self._integrator)

    def _set_core_fit(self, ctx, integ, opt, x, fx, H, g, layout, obj, optres, nfev) -> None:
        """Everything a GLMM-core result holds at the optimum ``x`` (deviance ``fx``, Hessian
        ``H``, gradient ``g``) of ``obj`` (its ``last`` modes are the optimum's)."""
        theta, beta, fp = obj.unpack(x)
        modes = obj.last
        theta, fp = self._set_zero_part_random(ctx, layout, theta, fp, modes)
        self._set_model(ctx, opt.name, integ.name, integ.nAGQ)
        self._integrator, self._optimizer = integ, opt
        self._theta_abs = theta.copy()
        self.family_params = dict(fp)
        self._u = modes.u[: ctx.system.q].copy()
        self._set_fit_statistics(fx, layout.size)
        self._H, self._g, self._names = H, g, layout_names(ctx.design, layout)
        self._x = np.asarray(x, float).copy()
        self._fam_layout = [(n, layout.fam_size(n)) for n in layout.fam_names]
        self._beta, self._fe_names = beta, list(ctx.design.fe_names)
        self._vcov = self._beta_covariance(ctx, layout, H, theta, beta, fp, self._u)
        self._set_family_coefs(ctx, layout, x, H)
        self._set_scale(ctx, theta, fp, modes)
        self.optimizer_message, self.evaluations = optres.message, nfev
        self._set_core_convergence(ctx, layout, x, H, g, modes.converged,
                                   optres.message if optres.limit_reached else None)

    def _set_zero_part_random(self, ctx, layout, theta, fp, modes) -> tuple:
        """Random effects in the ``ziformula`` (:mod:`interlace.glmm.zi_random`): their theta
        and modes split off the conditional model's, their tables (``zi_variance_components``,
        ``zi_random_effects``, ``zi_varcorr``), and the zero probability at the modes as the
        family parameter's per-row value. Returns the conditional theta and the parameters."""
        self.zi_theta = np.zeros(0)
        self.zi_variance_components, self.zi_random_effects = {}, {}
        self.zi_varcorr = None
        fp = dict(fp)
        name = ctx.family.zi_parameter
        if name is None or eta_key(name) not in fp:
            return theta, fp
        fp.pop(eta_key(name))
        nt = layout.ntheta
        self.zi_theta = theta[nt:].copy()
        tables = zi_tables(ctx, self.zi_theta, modes.u[ctx.system.q :])
        self.zi_variance_components = tables.variance_components
        self.zi_random_effects = tables.random_effects
        self.zi_varcorr = tables.varcorr
        if modes.zi is not None:
            fp[name] = modes.zi
        return theta[:nt], fp

    @staticmethod
    def _beta_covariance(ctx, layout, H, theta, beta, fp, u) -> np.ndarray:
        """Covariance of beta: glmmTMB's, from the full Hessian; lmer's (X' V^-1 X)^-1 at the
        estimated theta for a normal-linear model (and whenever H is not positive definite)."""
        d = ctx.design
        sl_beta = slice(layout.ntheta, layout.ntheta + layout.p)
        if not (ctx.family.is_normal_linear() and not d.param_designs):
            try:
                np.linalg.cholesky(H)
                return 2.0 * np.linalg.inv(H)[sl_beta, sl_beta]
            except np.linalg.LinAlgError:
                warnings.warn("Hessian of the deviance is not positive definite; standard errors "
                              "use the information of beta given theta instead", InterlaceWarning,
                              stacklevel=5)
        cond = pirls(ctx, theta, beta, fp, u, fit_beta=True)
        try:
            return np.linalg.inv(cond.schur)
        except (np.linalg.LinAlgError, TypeError, ValueError):
            warnings.warn("the information for the fixed effects is singular: standard "
                          "errors are not available (NaN)", InterlaceWarning, stacklevel=5)
            return np.full((d.p, d.p), np.nan)

    def _set_scale(self, ctx, theta: np.ndarray, fp: dict, modes) -> None:
        """Residual variance, theta on lme4's relative scale, the random-effect tables'
        arguments, and the fitted values."""
        fam = ctx.family
        scale = fp.get(fam.scale_parameter, 1.0) if fam.has_dispersion else 1.0
        self.scale = scale**2 if fam.has_dispersion else 1.0
        self.theta = theta / scale if fam.has_dispersion else theta.copy()
        self._re_args = (ctx, theta, modes.u, 1.0, self.scale if fam.has_dispersion else None)
        self._eta = modes.eta
        self._mu_linked = modes.mu  # the linked mean; E[y] differs for zero-part families
        self._fitted = fam.mean(modes.mu, fp)

    def _set_core_convergence(self, ctx, layout, x, H, g, pirls_converged: bool,
                              limit: str | None = None) -> None:
        """lme4's checks: gradient at the optimum (theta's zero bounds held), PIRLS, singular;
        ``limit``: the optimizer's message when it stopped at its evaluation or iteration limit
        (unconverged, as lme4 reports bobyqa's maxfun, even if the polish then got there)."""
        tl = np.concatenate([t.theta_lower_bounds() for t in ctx.design.terms])
        at_bound = np.zeros(x.size, bool)
        at_bound[: layout.ntheta] = (tl == 0) & (x[: layout.ntheta] <= 1e-8)
        singular = bool(np.any((tl == 0) & (np.abs(self.theta) < SINGULAR_TOL)))
        problems = [] if pirls_converged else ["PIRLS did not converge at the optimum"]
        if limit is not None:
            problems.append(limit_problem(limit))
        self._set_convergence(H, g, at_bound, singular, problems)

    def family_parameter_estimates(self) -> pd.Series:
        """Estimated family parameters: a scalar on its natural scale under its own name, a
        parameter with a formula as its coefficients ``name~column`` (its link scale)."""
        names, values, kinds = [], [], []
        pdes = self._ctx.design.param_designs
        for name, table in self.family_coefs.items():
            if name in pdes:
                names += [f"{name}~{c}" for c in table.index]
                values += list(table["Estimate"].to_numpy(float))
                kinds += ["family"] * len(table)
                terms = pdes[name].terms  # random effects in the formula (ziformula)
                if terms:
                    names += [f"{name}:{n}" for n in random_parameter_names(terms)]
                    values += list(random_parameter_values(terms, theta_slices(terms),
                                                           self.zi_theta))
                    kinds += random_parameter_kinds(terms)
            else:
                names.append(name)
                values.append(float(np.ravel(self.family_params[name])[0]))
                kinds.append("sigma" if name == "sigma" else "family")
        out = pd.Series(values, index=names, dtype=float)
        out.attrs["kinds"] = kinds
        return out

    def estimation_scale(self) -> EstimationScale:
        """theta (absolute) and the family parameters on the optimizer's scale, their
        covariance from the full Hessian (2 H^-1 over theta, beta and the family parameters,
        beta's block dropped: glmmTMB's sdreport), and the map to SDs, correlations and the
        family parameters' natural values."""
        ctx, nt, p = self._ctx, self._ctx.ntheta, len(self._fe_names)
        idx = np.r_[np.arange(nt), np.arange(nt + p, self._x.size)]
        terms, slices, fam = ctx.design.terms, ctx.theta_slices(), ctx.family
        held = np.zeros(self._x.size, bool)
        held[:nt] = theta_at_bound(terms, self._x[:nt])
        pdes = ctx.design.param_designs
        i = nt + p
        for name, k in self._fam_layout:  # the theta of a formula's random terms (ziformula)
            if name in pdes and pdes[name].terms:
                kf = pdes[name].k
                held[i + kf:i + k] = theta_at_bound(pdes[name].terms, self._x[i + kf:i + k])
            i += k
        cov, flat = covariance_from_hessian(self._H, held)

        def natural(psi: np.ndarray) -> np.ndarray:
            parts, i = [random_parameter_values(terms, slices, psi[:nt])], nt
            for name, k in self._fam_layout:
                z = psi[i:i + k]
                if name in pdes:
                    kf, zt = pdes[name].k, pdes[name].terms
                    parts.append(z[:kf])
                    if zt:
                        parts.append(random_parameter_values(zt, theta_slices(zt), z[kf:]))
                else:
                    parts.append(np.atleast_1d(fam.parameters[name].from_unconstrained(z[0])))
                i += k
            return np.concatenate(parts)

        kinds = random_parameter_kinds(terms)
        scales = [kind_scale(k) for k in kinds]
        for name, _k in self._fam_layout:
            if name in pdes:
                scales += [IDENTITY] * pdes[name].k
                scales += [kind_scale(kk) for kk in random_parameter_kinds(pdes[name].terms)]
            else:
                scales += [parameter_scale(fam.parameters[name])]
        return EstimationScale(self._x[idx], cov[np.ix_(idx, idx)], natural, scales, held[idx],
                               flat[idx])

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
            kf = pdes[name].k if name in pdes else k  # the theta of random terms follows
            est = x[i : i + kf]
            with np.errstate(invalid="ignore"):
                se = np.sqrt(np.diag(cov)[i : i + kf])
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


def theta_slices(terms) -> list[slice]:
    """Each term's slice of a theta that holds these terms' entries one after the other."""
    offs = np.cumsum([0] + [t.ntheta for t in terms])
    return [slice(int(a), int(b)) for a, b in zip(offs[:-1], offs[1:])]


def boundary_identified(X: np.ndarray, at_boundary: np.ndarray) -> np.ndarray:
    """Which fixed effects (columns of ``X``) are identified only by the rows ``at_boundary``
    (a bool per row: the fitted mean numerically at the boundary of its range, see
    :meth:`~interlace.families.base.Family.boundary_rows`): a bool per column.

    The criterion: a column is flagged when it takes part in a direction ``d`` of beta with
    ``X d = 0`` on every row off the boundary (the null space of X restricted to those rows,
    columns scaled to unit norm over all rows, eigenvalues of its cross-product below 1e-10).
    Moving beta along such a direction changes the fitted mean only on boundary rows, where
    the likelihood keeps rising towards the boundary: the maximum-likelihood estimate is at
    infinity along ``d`` (all-zero counts in a factor level, every count 0, complete
    separation). When no row is at the boundary nothing is flagged (ordinary fits)."""
    p = X.shape[1]
    if p == 0 or not np.any(at_boundary):
        return np.zeros(p, bool)
    off = X[~at_boundary]
    if off.shape[0] == 0:
        return np.ones(p, bool)
    norms = np.sqrt(np.einsum("ij,ij->j", X, X))
    scaled = off / np.where(norms > 0, norms, 1.0)
    w, V = np.linalg.eigh(scaled.T @ scaled)
    null = w < 1e-10 * max(1.0, float(w[-1]))
    return np.any(np.abs(V[:, null]) > 1e-6, axis=1)


def boundary_message(names: list[str], estimates: np.ndarray, flagged: np.ndarray,
                     y_carrying: np.ndarray) -> str:
    """The warning naming the fixed effects whose estimates run off to infinity
    (:func:`boundary_identified`); ``y_carrying`` is the response on the boundary rows."""
    idx = np.flatnonzero(flagged)
    vals = np.unique(y_carrying)
    why = (f"every response is {vals[0]:g}" if len(vals) == 1 and y_carrying.size
           else "responses at the boundary of the family's range")
    if len(idx) == 1:
        j = idx[0]
        what = f"the estimate of {names[j]!r} runs off to {'-' if estimates[j] < 0 else '+'}infinity"
    else:
        parts = [f"{names[j]!r} (stopped at {estimates[j]:.4g})" for j in idx]
        what = f"the estimates of {', '.join(parts[:-1])} and {parts[-1]} are not finite"
    return (f"{what} ({why} on the rows that identify {'it' if len(idx) == 1 else 'them'}): "
            f"the fitted mean is numerically at the boundary of its range there, so the "
            f"maximum-likelihood estimate is not finite; the value reported is where the "
            f"optimizer stopped and its standard error is not meaningful. Drop the term or "
            f"those rows, merge the level, or use a penalised (Bayesian) fit")
