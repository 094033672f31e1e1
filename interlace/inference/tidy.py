"""broom.mixed's ``tidy()``: one row per parameter (or random-effect level) in a DataFrame.

Columns: ``effect`` ("fixed", "ran_pars", "ran_vals"), ``component`` (glmmTMB's: "cond"; a
family parameter's formula, e.g. "zi"; "disp" / "zi" for a scalar family parameter;
"threshold" for ordinal thresholds), ``group`` (the grouping factor; "Residual" for the
residual SD and scalar family parameters), ``level`` (ran_vals only), ``term`` (broom.mixed's:
``(Intercept)``, ``sd__(Intercept)``, ``cor__(Intercept).Days``, ``sd__Observation``),
``estimate``, ``std_error``, ``statistic``, ``df`` (LMMs: Satterthwaite's), ``p_value``, and
with ``conf_int=True`` ``conf_low`` / ``conf_high``.

As broom.mixed, ran_pars rows carry no standard error, statistic or p-value (a test of an SD
against 0 is on the boundary); their intervals come from ``conf_int(method=conf_method)``
(Wald: on the log / correlation scale, as glmmTMB's). ran_vals rows are the conditional modes
with their conditional SDs, intervals mode -/+ z SD (broom.mixed's).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from interlace.errors import InterlaceError
from interlace.inference.intervals import check_level
from interlace.inference.parameters import natural_parameters, random_parameter_labels

EFFECTS = ("fixed", "ran_pars", "ran_vals")
COLUMNS = ["effect", "component", "group", "level", "term", "estimate", "std_error",
           "statistic", "df", "p_value", "conf_low", "conf_high"]


def check_effects(effects) -> list[str]:
    """The chosen effects: None (fixed and ran_pars), one name or a list of names."""
    if effects is None:
        return ["fixed", "ran_pars"]
    chosen = [effects] if isinstance(effects, str) else list(effects)
    bad = [e for e in chosen if e not in EFFECTS]
    if bad or not chosen:
        raise InterlaceError(f"effects must be among {EFFECTS}, got {effects!r}")
    return chosen


def _family_row(result, name: str) -> dict:
    """A family parameter: a coefficient of its formula (``zi~mined``: effect fixed, with its
    Wald statistic) or a scalar (ran_pars, group Residual, component zi / disp)."""
    if "~" in name:
        par, term = name.split("~", 1)
        table = result.family_coefs[par]
        se = float(table.loc[term, "Std. Error"])
        return {"effect": "fixed", "component": par, "term": term, "std_error": se}
    zi = getattr(result.family, "zi_parameter", None)
    return {"effect": "ran_pars", "component": "zi" if name == zi else "disp",
            "group": "Residual", "term": name}


def parameter_rows(result) -> pd.DataFrame:
    """One row per natural parameter (see the module docstring), in broom.mixed's order:
    thresholds, fixed effects, formula coefficients, then the random-effect parameters."""
    params = natural_parameters(result)
    kinds = params.attrs["kinds"]
    labels = iter(random_parameter_labels(result.context.design.terms))
    se_fixed = result.fe_bse
    df = getattr(result, "fe_df", None)
    rows = []
    for name, kind, est in zip(params.index, kinds, params.to_numpy(float)):
        row = {"effect": "fixed", "component": "cond", "group": None, "term": name,
               "estimate": est, "std_error": np.nan, "parameter": name}
        if kind in ("sd", "cor", "loading"):
            group, term = next(labels)
            row.update(effect="ran_pars", group=group, term=term)
        elif kind == "sigma":
            row.update(effect="ran_pars", group="Residual", term="sd__Observation")
        elif kind == "family":
            row.update(_family_row(result, name))
        elif kind == "threshold":
            row.update(component="threshold", std_error=float(result.threshold_bse[name]))
        else:
            row["std_error"] = float(se_fixed[name])
            if df is not None:
                row["df"] = float(df[name])
        rows.append(row)
    out = pd.DataFrame(rows)
    fixed = (out["effect"] == "fixed").to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        stat = np.where(fixed, out["estimate"] / out["std_error"], np.nan)
    out["statistic"] = stat
    tail = stats.norm.sf(np.abs(stat))
    if "df" in out:  # an LMM's fixed effects: Satterthwaite's t (lmerTest)
        dfs = out["df"].to_numpy(float)
        tail = np.where(np.isfinite(dfs), stats.t.sf(np.abs(stat), np.where(
            np.isfinite(dfs), dfs, 1.0)), tail)
    out["p_value"] = np.where(fixed, 2 * tail, np.nan)
    order = out["effect"].map({"fixed": 0, "ran_pars": 1}) * 3 + out["component"].map(
        lambda c: 0 if c == "threshold" else 1 if c == "cond" else 2)
    return out.iloc[np.argsort(order.to_numpy(), kind="stable")].reset_index(drop=True)


def ran_vals_rows(result, z: float | None) -> pd.DataFrame:
    """The conditional modes with their conditional SDs (broom.mixed's ran_vals)."""
    r = result.ranef(condvar=True)
    out = pd.DataFrame({"effect": "ran_vals", "component": "cond", "group": r["grpvar"],
                        "level": r["grp"], "term": r["term"], "estimate": r["condval"],
                        "std_error": r["condsd"]})
    if z is not None:
        out["conf_low"] = out["estimate"] - z * out["std_error"]
        out["conf_high"] = out["estimate"] + z * out["std_error"]
    return out


def tidy(result, effects=None, conf_int: bool = False, conf_level: float = 0.95,
         conf_method: str = "wald", **options) -> pd.DataFrame:
    """broom.mixed's ``tidy(fit, effects, conf.int, conf.level, conf.method)`` of a result
    (see the module docstring); ``options`` go to ``conf_int`` (e.g. ``nsim`` for "boot")."""
    chosen = check_effects(effects)
    level = check_level(conf_level) if conf_int else None
    parts = []
    if "fixed" in chosen or "ran_pars" in chosen:
        rows = parameter_rows(result)
        rows = rows[rows["effect"].isin(chosen)]
        if conf_int:
            ci = result.conf_int(level=level, method=conf_method, **options)
            rows = rows.assign(conf_low=ci["lower"].reindex(rows["parameter"]).to_numpy(),
                               conf_high=ci["upper"].reindex(rows["parameter"]).to_numpy())
        parts.append(rows.drop(columns="parameter"))
    if "ran_vals" in chosen:
        parts.append(ran_vals_rows(result, stats.norm.ppf(0.5 + level / 2) if conf_int
                                   else None))
    out = pd.concat(parts, ignore_index=True)
    return out[[c for c in COLUMNS if c in out.columns]]
