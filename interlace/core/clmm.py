"""Cumulative link mixed models, as R's ``ordinal::clmm``, on the GLMM core.

``clmm()`` codes the ordered response as category indices 0..K-1, builds the design with the
core's :func:`~interlace.core.design.build_design`, drops the intercept column (the K-1
thresholds of the :class:`~interlace.families.ordinal.OrdinalFamily` take its place) and runs
the core's two-stage fit (:func:`~interlace.core.fitting.fit_model`): the thresholds are family
parameters, optimised jointly with theta and beta, with the exact Laplace (or adaptive
quadrature) gradient. The model, in ordinal's sign convention:

    P(Y_i <= j | b) = F(tau_j - x_i'beta - z_i'b),    b ~ N(0, Sigma(theta)).
"""

from __future__ import annotations

import dataclasses
import warnings
from typing import Any

import numpy as np
import pandas as pd

from interlace.core.design import build_design, drop_rank_deficient
from interlace.core.errors import (
    DataError,
    FormulaError,
    InterlaceWarning,
    UnsupportedModelError,
)
from interlace.core.fitting import blas_limit, check_nagq, fit_model, resolve_integrator
from interlace.core.formula import parse_formula
from interlace.core.model import ModelContext
from interlace.core.registry import resolve
from interlace.core.result import GLMMResult
from interlace.families.ordinal import OrdinalFamily, cumulative_link


def _shown(values, k: int = 6) -> str:
    vals = list(values)
    return ", ".join(map(repr, vals[:k])) + (", ..." if len(vals) > k else "")


def _plain(x: Any) -> Any:
    return x.item() if isinstance(x, np.generic) else x


def ordinal_codes(s: pd.Series, label: str) -> tuple[np.ndarray, list]:
    """Category indices (float, NaN where missing) and the ordered levels of a response.

    An ordered pandas Categorical keeps its category order; integers (or integer-valued
    floats, or booleans) are ordered numerically. Text and unordered categoricals have no
    order to use and are a :class:`DataError`.
    """
    dt = s.dtype
    if isinstance(dt, pd.CategoricalDtype):
        if not dt.ordered:
            raise DataError(
                f"response {label!r} is an unordered categorical (levels "
                f"{_shown(dt.categories)}); clmm() needs an ordered response: make it ordered "
                f"with pandas.Categorical(data[{label!r}], categories=[lowest, ..., highest], "
                f"ordered=True), or code it as integers"
            )
        codes = s.cat.codes.to_numpy().astype(float)
        codes[codes < 0] = np.nan
        return codes, [_plain(c) for c in dt.categories]
    if pd.api.types.is_bool_dtype(dt):
        v = s.to_numpy(dtype=float, na_value=np.nan)
        return v, [False, True]
    if pd.api.types.is_numeric_dtype(dt):
        v = s.to_numpy(dtype=float, na_value=np.nan)
        if np.isinf(v).any():
            i = int(np.flatnonzero(np.isinf(v))[0])
            raise DataError(f"response {label!r} has an infinite value at row "
                            f"{_plain(s.index[i])!r}")
        ok = ~np.isnan(v)
        frac = ok & (v != np.round(np.where(ok, v, 0.0)))
        if frac.any():
            i = int(np.flatnonzero(frac)[0])
            raise DataError(
                f"response {label!r} has a non-integer value ({_plain(v[i])!r} at row "
                f"{_plain(s.index[i])!r}); clmm() needs ordered categories: integers, or an "
                f"ordered pandas Categorical"
            )
        levels = np.unique(v[ok])
        codes = np.full(v.shape, np.nan)
        codes[ok] = np.searchsorted(levels, v[ok])
        as_int = [int(x) for x in levels]
        return codes, as_int
    vals = pd.unique(s.dropna())
    try:
        vals = sorted(vals)
    except TypeError:
        pass
    raise DataError(
        f"response {label!r} is not ordered (dtype {dt}, values {_shown(vals)}); clmm() needs "
        f"an ordered response and will not guess the order of text: use pandas.Categorical("
        f"data[{label!r}], categories=[lowest, ..., highest], ordered=True), or integer codes"
    )


def clmm(
    formula: str,
    data: pd.DataFrame,
    link: Any = "logit",
    groups: Any = None,
    random: Any = None,
    weights: Any = None,
    offset: Any = None,
    nAGQ: int = 1,
    optimizer: Any = "lbfgsb",
    integrator: Any = None,
    optimizer_options: dict | None = None,
) -> CLMMResult:
    """Fit a cumulative link mixed model (R's ``ordinal::clmm``) by maximum likelihood.

    ``formula`` is ``response ~ fixed terms + (expr | group)``; the response is one column
    holding an ordered pandas Categorical (its category order is used) or integers (ordered
    numerically). The intercept is absorbed by the thresholds. ``link`` is the cumulative
    link: ``"logit"`` (default), ``"probit"``, ``"cloglog"`` or ``"loglog"``. ``groups=`` and
    ``random=`` add random-effect terms as in :func:`interlace.glmer`; ``weights`` are case
    weights and ``offset`` is added to the linear predictor. ``nAGQ=1`` is the Laplace
    approximation; ``nAGQ > 1`` uses adaptive Gauss-Hermite quadrature and needs a single
    scalar random-effect term such as ``(1 | judge)``.

    Returns a :class:`CLMMResult` (thresholds named as ordinal names them, ``"1|2"``...).
    """
    nAGQ = check_nagq(nAGQ)
    cumulative_link(link)  # an unknown link is a PluginError before any work
    opt = resolve("optimizer", optimizer)
    integ = resolve_integrator(integrator, nAGQ)
    if not isinstance(data, pd.DataFrame):
        raise DataError(f"data must be a pandas DataFrame, got {type(data).__name__}")
    parsed = parse_formula(formula, groups=groups, random=random)
    resp = parsed.response
    col = resp.exprs[0].strip()
    if resp.kind != "simple":
        raise FormulaError(
            f"clmm() needs one ordered column as the response, got {resp.text!r} (cbind() and "
            f"'s / n' responses are for binomial models)"
        )
    if col.startswith("`") and col.endswith("`"):
        col = col[1:-1]
    if col not in data.columns:
        raise DataError(
            f"response {col!r} is not a column of the data; clmm() needs the ordered response "
            f"as a column (transform it beforehand). Available columns: "
            f"{', '.join(map(str, list(data.columns)[:30]))}"
        )
    s = data[col]
    if isinstance(s, pd.DataFrame):
        raise DataError(f"response column {col!r} appears {s.shape[1]} times in the data; "
                        f"column names must be unique")
    codes, levels = ordinal_codes(s, col)
    if not levels:
        raise DataError(f"response {col!r} has no non-missing values")
    coded = data.copy(deep=False)
    coded[col] = codes

    design = build_design(parsed, coded, OrdinalFamily(link, ncat=max(len(levels), 2)),
                          weights=weights, offset=offset)
    y = design.y.astype(np.intp)
    present = np.unique(y)
    if present.size < 2:
        raise DataError(
            f"response {col!r} has a single category ({levels[int(present[0])]!r}) in the "
            f"{design.n} rows used; a cumulative link model needs at least two observed "
            f"ordered categories"
        )
    if present.size < len(levels):
        unused = [levels[i] for i in range(len(levels)) if i not in set(present.tolist())]
        warnings.warn(
            f"response {col!r}: level(s) {_shown(unused)} have no observations"
            f"{' (after dropping rows with missing values)' if design.nobs_dropped else ''} "
            f"and are dropped, as ordinal::clmm drops them; thresholds are for the "
            f"{present.size} observed levels",
            InterlaceWarning,
            stacklevel=2,
        )
        remap = np.full(len(levels), -1, np.intp)
        remap[present] = np.arange(present.size)
        y = remap[y]
        levels = [levels[i] for i in present]

    # The thresholds take the intercept's place: drop it, and any column collinear with it.
    names = list(design.fe_names)
    keep_idx = [i for i, n in enumerate(names) if n != "(Intercept)"]
    X = design.X[:, keep_idx]
    dropped: list[str] = []
    if keep_idx:
        const = np.column_stack([np.ones(design.n), X])
        kept, dropped = drop_rank_deficient(const, ["(thresholds)"] + [names[i] for i in keep_idx])
        sel = [j - 1 for j in kept if j > 0]
        if dropped:
            warnings.warn(
                f"fixed-effect column(s) {', '.join(dropped)} are collinear with the thresholds "
                f"(which play the intercept's part in a cumulative link model) and are dropped",
                InterlaceWarning,
                stacklevel=2,
            )
        keep_idx = [keep_idx[j] for j in sel]
        X = design.X[:, keep_idx]
    fam = OrdinalFamily(link, ncat=len(levels))
    shift = not keep_idx and "(Intercept)" in names
    if shift:
        # No covariates (e.g. rating ~ 1 + (1 | judge)): the core fits at least one fixed
        # effect, so keep the intercept c and fix tau_1 = 0 instead, an equivalent model
        # (thresholds tau_j' - c); CLMMResult maps it back to ordinal's parametrisation.
        keep_idx = [names.index("(Intercept)")]
        X = design.X[:, keep_idx]
        fam.parameters["threshold_1"].value = 0.0
    # Starting thresholds from the marginal cumulative proportions; the core's GLM start
    # fits beta given them, then the family's start_parameters hook refits the thresholds
    # given that beta (one step of the fit without random effects, R's clm). A full clm fit
    # (OrdinalFamily.fit_fixed) saves no evaluations on the fixtures and costs more.
    tau0 = fam.marginal_thresholds(y, design.weights)
    for name, value in fam.threshold_params(tau0).items():
        fam.parameters[name].start = value
    design = dataclasses.replace(
        design,
        y=y.astype(float),
        X=np.ascontiguousarray(X),
        fe_names=[names[i] for i in keep_idx],
        kept_columns=[design.kept_columns[i] for i in keep_idx],
        dropped_columns=list(design.dropped_columns) + dropped,
        response_levels=list(levels),
    )
    ctx = ModelContext.build(design, fam)
    integ.check(ctx)
    with blas_limit(ctx):
        res = fit_model(ctx, integ, opt, optimizer_options, CLMMResult)
    res.response = col
    return res


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

