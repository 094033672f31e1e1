"""Estimated marginal means as R's emmeans computes them.

The reference grid crosses every level of the fixed formula's factors with the numeric
covariates at their means (or the values of ``at``); each mean of ``specs`` (within ``by``)
averages the grid's predictions over the other factors with equal weights. Standard errors
come from vcov(beta); for a linear mixed model emmeans' default adjusts it and takes the
df by Kenward-Roger (pbkrtest), or takes Satterthwaite's df; GLMMs use the normal (df inf).
``type="response"`` back-transforms through the inverse link with delta-method SEs.
"""

from __future__ import annotations

import itertools
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from interlace.errors import DataError, InterlaceError, InterlaceWarning
from interlace.inference.contrasts import grid_matrix
from interlace.inference.emm_result import EMMeans, LinearInference
from interlace.inference.ftests import check_ddf, satterthwaite_contrast_df
from interlace.inference.kenward_roger import kr_ddf_scale

KR_LIMIT = 3000  # emmeans' pbkrtest.limit: more rows use Satterthwaite's df


@dataclass(frozen=True)
class GridAxes:
    """The reference grid's variables and their values (factors: levels; numeric: values)."""

    values: dict[str, list]
    factors: list[str]


def grid_axes(model, at: dict | None) -> GridAxes:
    """Factor levels and covariate means (emmeans' reference grid), ``at`` overriding."""
    design = model.design
    at = dict(at or {})
    values, factors = {}, []
    for name, state in design.fixed_spec.encoder_state.items():
        kind = getattr(state[0], "value", state[0])
        if kind == "categorical":
            factors.append(name)
            levels = list(state[1]["categories"])
            values[name] = _at_levels(name, at.pop(name), levels) if name in at else levels
        elif name in at:
            values[name] = list(np.atleast_1d(np.asarray(at.pop(name), dtype=float)))
        elif name in design.fe_names:
            values[name] = [float(design.X[:, design.fe_names.index(name)].mean())]
        else:
            raise DataError(f"emmeans: covariate {name!r} enters the model only through a "
                            f"transformation; give its value, e.g. at={{{name!r}: 1.0}}")
    if at:
        raise DataError(f"emmeans: at names variable(s) {sorted(at)} not in the fixed formula; "
                        f"its variables: {sorted(values)}")
    return GridAxes(values, factors)


def _at_levels(name: str, chosen, levels: list) -> list:
    chosen = [str(v) for v in np.atleast_1d(chosen)]
    bad = [v for v in chosen if v not in [str(lv) for lv in levels]]
    if bad:
        raise DataError(f"emmeans: at[{name!r}] has value(s) {bad} that are not levels of "
                        f"{name!r}; its levels: {levels}")
    return [lv for lv in levels if str(lv) in chosen]


def _as_list(x, what: str) -> list[str]:
    if x is None:
        return []
    if isinstance(x, str):
        return [v.strip() for v in x.replace("~", " ").replace("+", " ").split() if v.strip()]
    if isinstance(x, (list, tuple)) and all(isinstance(v, str) for v in x):
        return list(x)
    raise InterlaceError(f"emmeans: {what} must be a variable name or a list of names, got {x!r}")


def mean_rows(axes: GridAxes, Xg: np.ndarray, grid: pd.DataFrame,
              keys: list[str]) -> tuple[pd.DataFrame, np.ndarray]:
    """One row of L per combination of ``keys`` (first varying fastest): the equally weighted
    average of the grid's rows with those values."""
    combos = list(itertools.product(*[axes.values[k] for k in reversed(keys)]))
    labels = pd.DataFrame([c[::-1] for c in combos], columns=keys)
    L = np.empty((len(combos), Xg.shape[1]))
    for i, row in enumerate(labels.itertuples(index=False)):
        mask = np.ones(len(grid), bool)
        for k, v in zip(keys, row):
            mask &= (grid[k] == v).to_numpy()
        L[i] = Xg[mask].mean(axis=0)
    return labels, L


def linear_inference(model, ddf: str | None) -> LinearInference:
    """beta, the covariance used for SEs and the df rule: KR (emmeans' default for an LMM),
    Satterthwaite, or infinite df for GLMMs."""
    beta = np.asarray(model.fe_params, float)
    if not hasattr(model, "vcov_gradient"):
        if ddf is not None and check_ddf(ddf):
            raise InterlaceError("emmeans: ddf applies to linear mixed models only (GLMMs use "
                                 "asymptotic z tests, df = inf)")
        return LinearInference(beta, np.asarray(model.vcov, float), lambda row: np.inf)
    if ddf is None and model.nobs > KR_LIMIT:
        warnings.warn(f"emmeans: {model.nobs} rows are more than {KR_LIMIT}, emmeans' "
                      f"pbkrtest.limit: Satterthwaite's df instead of Kenward-Roger's",
                      InterlaceWarning, stacklevel=3)
        ddf = "satterthwaite"
    ddf = check_ddf(ddf or "kenward-roger")
    if ddf == "kenward-roger":
        adj = model.kr_adjustment
        return LinearInference(beta, adj.PhiA, lambda row: kr_ddf_scale(adj, row)[0])
    vg = model.vcov_gradient
    return LinearInference(beta, vg.V, lambda row: satterthwaite_contrast_df(vg, row))


def emmeans(model, specs, by=None, type: str = "link", at: dict | None = None,
            ddf: str | None = None, level: float = 0.95) -> EMMeans:
    """Estimated marginal means of ``specs`` (a factor name, a list, or ``"~ A | B"``), per
    ``by`` group, as R's
    ``emmeans(model, specs, by=by, type=type, at=at)``; ``type``: "link" or "response"
    (back-transformed, delta-method SEs); ``ddf`` for LMMs: "kenward-roger" (default, as
    emmeans) or "satterthwaite". ``.frame`` holds the table, ``.pairs()`` the comparisons."""
    if type not in ("link", "response"):
        raise InterlaceError(f"emmeans: type must be 'link' or 'response', got {type!r}")
    if isinstance(specs, str) and "|" in specs:  # emmeans' ~ A | B
        specs, extra = specs.split("|", 1)
        by = _as_list(extra, "by") + _as_list(by, "by")
    specs_l, by_l = _as_list(specs, "specs"), _as_list(by, "by")
    axes = grid_axes(model, at)
    for v in specs_l + by_l:
        if v not in axes.factors:
            raise DataError(f"emmeans: {v!r} is not a factor of the fixed formula; its "
                            f"factors: {axes.factors}")
    if not specs_l:
        raise InterlaceError("emmeans: specs names no factor")
    grid = pd.DataFrame(list(itertools.product(*axes.values.values())),
                        columns=list(axes.values))
    Xg = grid_matrix(model.design, grid)
    labels, L = mean_rows(axes, Xg, grid, specs_l + by_l)
    return EMMeans(labels, L, specs_l, by_l, linear_inference(model, ddf), model.link, type, level)
