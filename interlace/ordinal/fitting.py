"""Cumulative link mixed models, as R's ``ordinal::clmm``, on the GLMM core.

``clmm()`` codes the ordered response as category indices 0..K-1, builds the design with the
core's :func:`~interlace.model.design.build_design`, drops the intercept column (the K-1
thresholds of the :class:`~interlace.ordinal.family.OrdinalFamily` take its place) and runs
the core's two-stage fit (:func:`~interlace.glmm.optimize_glmm`): the thresholds are family
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

from interlace.errors import (
    DataError,
    FormulaError,
    InterlaceWarning,
)
from interlace.glmm.fitting import glmm_result, optimize_glmm
from interlace.glmm.resolve import check_nagq, resolve_integrator, resolve_optimizer
from interlace.linalg.fit_limits import fit_limits
from interlace.model.context import ModelContext
from interlace.model.design import build_design
from interlace.model.fixed import drop_rank_deficient
from interlace.model.formula import parse_formula
from interlace.ordinal.family import OrdinalFamily, check_threshold, cumulative_link
from interlace.ordinal.laplace import OrdinalLaplace
from interlace.ordinal.result import CLMMResult
from interlace.ordinal.start import clmm_start, start_hessian


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
        codes = np.asarray(s.array.codes).astype(float)
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
    optimizer: Any = None,
    integrator: Any = None,
    optimizer_options: dict | None = None,
    threshold: str = "flexible",
) -> CLMMResult:
    """Fit a cumulative link mixed model (R's ``ordinal::clmm``) by maximum likelihood.

    ``formula`` is ``response ~ fixed terms + (expr | group)``; the response is one column
    holding an ordered pandas Categorical (its category order is used) or integers (ordered
    numerically). The intercept is absorbed by the thresholds. ``link`` is the cumulative
    link: ``"logit"`` (default), ``"probit"``, ``"cloglog"``, ``"loglog"`` or ``"cauchit"``.
    ``threshold`` is ordinal's structure of the thresholds: ``"flexible"`` (default, K-1
    free thresholds), ``"symmetric"`` (mirrored about a centre) or ``"equidistant"`` (equal
    spacing); the last two need at least three levels. ``groups=`` and
    ``random=`` add random-effect terms as in :func:`interlace.glmer`; ``weights`` are case
    weights and ``offset`` is added to the linear predictor. ``nAGQ=1`` is the Laplace
    approximation; ``nAGQ > 1`` uses adaptive Gauss-Hermite quadrature and needs a single
    scalar random-effect term such as ``(1 | judge)``. ``optimizer=None`` is the default
    optimizer (L-BFGS-B). ``integrator=None`` with ``nAGQ=1`` is the Laplace approximation with
    its exact gradient in every parameter (:class:`~interlace.ordinal.laplace.OrdinalLaplace`);
    a named integrator plugin is used as it is.

    Returns a :class:`CLMMResult` (thresholds named as ordinal names them, ``"1|2"``...; the
    threshold coefficients of a symmetric or equidistant structure as ordinal names them).
    The stages are public: :func:`build_clmm` gives the model, :func:`clmm_integrator` the
    integrator, and :func:`optimize_clmm` (the GLMM's :func:`~interlace.glmm.optimize_glmm`
    from the clm start) and :func:`~interlace.glmm.glmm_result` (with
    ``result_cls=CLMMResult``) fit it, as for a GLMM.
    """
    nAGQ = check_nagq(nAGQ)
    cumulative_link(link)  # an unknown link or threshold is an error before any work
    check_threshold(threshold)
    opt = resolve_optimizer(optimizer)
    integ = clmm_integrator(integrator, nAGQ)
    with fit_limits():  # the design's rank checks too
        ctx = build_clmm(formula, data, link, groups=groups, random=random, weights=weights,
                         offset=offset, threshold=threshold)
        res = glmm_result(ctx, integ, opt, optimize_clmm(ctx, integ, opt, optimizer_options),
                          CLMMResult)
    res.response = response_column(ctx.design.parsed)
    return res


def optimize_clmm(ctx: ModelContext, integ: Any, opt: Any, options: dict | None = None):
    """:func:`~interlace.glmm.optimize_glmm` for a :func:`clmm` model: with the exact Laplace
    gradient, a gradient optimizer and no options for it, the joint fit starts at the clm fit
    scaled for the random effects, with quasi-Newton steps on an approximate Hessian there
    (:mod:`interlace.ordinal.start`); the optimizer takes over if they do not converge."""
    x0 = None
    if isinstance(integ, OrdinalLaplace) and opt.uses_gradient and not options:
        with fit_limits():  # (small dense solves: one BLAS thread, as in the stages)
            x0 = clmm_start(ctx)
    return optimize_glmm(ctx, integ, opt, options, start=x0,
                         start_hessian=None if x0 is None else start_hessian)


def clmm_integrator(integrator: Any = None, nAGQ: int = 1):
    """The integrator a :func:`clmm` call uses: the Laplace approximation with the exact
    gradient (:class:`~interlace.ordinal.laplace.OrdinalLaplace`) for ``integrator=None`` and
    ``nAGQ=1``; otherwise the named plugin (adaptive quadrature for ``nAGQ > 1``)."""
    nAGQ = check_nagq(nAGQ)
    if integrator is None and nAGQ == 1:
        return OrdinalLaplace()
    return resolve_integrator(integrator, nAGQ)


def build_clmm(
    formula: str,
    data: pd.DataFrame,
    link: Any = "logit",
    groups: Any = None,
    random: Any = None,
    weights: Any = None,
    offset: Any = None,
    threshold: str = "flexible",
) -> ModelContext:
    """The model of a :func:`clmm` call, before any fitting (as :func:`interlace.glmm.build_glmm`
    for a GLMM): the ordered response coded 0..K-1 (unobserved levels dropped), the design
    without the intercept (the K-1 thresholds of an :class:`OrdinalFamily` take its place) and
    the thresholds' start. Bad input raises here the error :func:`clmm` raises for it."""
    cumulative_link(link)
    check_threshold(threshold)
    if not isinstance(data, pd.DataFrame):
        raise DataError(f"data must be a pandas DataFrame, got {type(data).__name__}")
    parsed = parse_formula(formula, groups=groups, random=random)
    col = response_column(parsed)
    codes, levels = ordinal_codes(response_values(data, col), col)
    if not levels:
        raise DataError(f"response {col!r} has no non-missing values")
    coded = data.copy(deep=False)
    coded[col] = codes
    design = build_design(parsed, coded, OrdinalFamily(link, ncat=max(len(levels), 2)),
                          weights=weights, offset=offset)
    y, levels = observed_levels(design, col, levels)
    names = list(design.fe_names)
    keep_idx, dropped = threshold_columns(design)
    fam = threshold_family(link, levels, threshold, col)
    if not keep_idx and "(Intercept)" in names:
        # No covariates (e.g. rating ~ 1 + (1 | judge)): the core fits at least one fixed
        # effect, so keep the intercept c and fix the thresholds' location (their first
        # parameter, which moves all of them) at 0 instead, an equivalent model (thresholds
        # tau_j' - c); CLMMResult maps it back to ordinal's parametrisation.
        keep_idx = [names.index("(Intercept)")]
        fam.parameters[fam.structure.names[0]].value = 0.0
    # Starting thresholds from the marginal cumulative proportions; the core's GLM start
    # fits beta given them, then the family's start_parameters hook refits the thresholds
    # given that beta (one step of the fit without random effects, R's clm). That is the
    # start of optimize_glmm (and of clmm() with optimizer options or another integrator);
    # optimize_clmm starts from the full clm fit scaled for the random effects instead, with
    # quasi-Newton steps on an approximate Hessian (ordinal/start.py: wine 22 deviances
    # where L-BFGS-B from this start took 35).
    tau0 = fam.marginal_thresholds(y, design.weights)
    for name, value in fam.threshold_params(tau0).items():
        fam.parameters[name].start = value
    design = dataclasses.replace(
        design,
        y=y.astype(float),
        X=np.ascontiguousarray(design.X[:, keep_idx]),
        fe_names=[names[i] for i in keep_idx],
        kept_columns=[design.kept_columns[i] for i in keep_idx],
        dropped_columns=list(design.dropped_columns) + dropped,
        response_levels=list(levels),
    )
    # ModelContext(...), not .build(): the plugin contract's per-row output check is for
    # family plugins; this family is interlace's own (its outputs are tested, test_clmm.py)
    return ModelContext(design, fam)


def threshold_family(link: Any, levels: list, threshold: str, col: str) -> OrdinalFamily:
    """The family for the observed levels; a symmetric or equidistant structure on fewer than
    three levels is a DataError naming the response."""
    try:
        return OrdinalFamily(link, ncat=len(levels), threshold=threshold)
    except DataError as e:
        raise DataError(f"response {col!r}: {e}") from None


def response_column(parsed) -> str:
    """The response's column name; a clmm response is one column (no cbind(), no 's / n')."""
    resp = parsed.response
    if resp.kind != "simple":
        raise FormulaError(
            f"clmm() needs one ordered column as the response, got {resp.text!r} (cbind() and "
            f"'s / n' responses are for binomial models)"
        )
    col = resp.exprs[0].strip()
    return col[1:-1] if col.startswith("`") and col.endswith("`") else col


def response_values(data: pd.DataFrame, col: str) -> pd.Series:
    """The response column of the data (one column of that name, not an expression)."""
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
    return s


def observed_levels(design, col: str, levels: list) -> tuple[np.ndarray, list]:
    """The category indices and levels of the rows used, levels without observations dropped
    (with a warning, where ordinal::clmm drops them silently); fewer than two is an error."""
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
            stacklevel=4,
        )
        remap = np.full(len(levels), -1, np.intp)
        remap[present] = np.arange(present.size)
        y = remap[y]
        levels = [levels[i] for i in present]
    return y, levels


def threshold_columns(design) -> tuple[list[int], list[str]]:
    """The fixed-effect columns kept beside the thresholds, which take the intercept's place:
    the intercept goes, and any column collinear with it (dropped with a warning, named)."""
    names = list(design.fe_names)
    keep_idx = [i for i, n in enumerate(names) if n != "(Intercept)"]
    if not keep_idx:
        return keep_idx, []
    X = design.X[:, keep_idx]
    const = np.column_stack([np.ones(design.n), X])
    kept, dropped = drop_rank_deficient(const, ["(thresholds)"] + [names[i] for i in keep_idx])
    sel = [j - 1 for j in kept if j > 0]
    if dropped:
        warnings.warn(
            f"fixed-effect column(s) {', '.join(dropped)} are collinear with the thresholds "
            f"(which play the intercept's part in a cumulative link model) and are dropped",
            InterlaceWarning,
            stacklevel=4,
        )
    return [keep_idx[j] for j in sel], dropped
