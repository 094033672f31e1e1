"""Named sections of the printed summaries (lme4's, lmerTest's and ordinal's layouts).

Each function returns a list of lines; the result classes compose them (a header of their own,
then these sections), so no summary is built by cutting up another's printed text.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

#: A table column: (header, width, values in row order, format spec or "p" for a p-value cell).
Column = tuple[str, int, Sequence[float], str]


def pvalue_cell(p: float, width: int) -> str:
    """A p-value right-aligned in ``width`` characters, ``<2e-16`` below R's print limit."""
    return f"{p:{width}.3g}" if p >= 2e-16 else f"{'<2e-16':>{width}}"


def fit_statistics_lines(aic: float, bic: float, llf: float, deviance: float,
                         df_resid: int) -> list[str]:
    """lme4's AIC / BIC / logLik / deviance / df.resid header and row."""
    return [f"{'AIC':>10}{'BIC':>10}{'logLik':>10}{'deviance':>10}{'df.resid':>10}",
            f"{aic:>10.1f}{bic:>10.1f}{llf:>10.1f}{deviance:>10.1f}{df_resid:>10d}"]


def scaled_residual_lines(resid: np.ndarray) -> list[str]:
    """Quantiles of the Pearson residuals as lme4's summary prints them (nothing when some are
    not finite or there are none)."""
    r = np.asarray(resid, float)
    if r.size == 0 or not np.all(np.isfinite(r)):
        return []
    q = np.quantile(r, [0, 0.25, 0.5, 0.75, 1])
    head = "".join(f"{h:>10}" for h in ("Min", "1Q", "Median", "3Q", "Max"))
    return ["Scaled residuals:", head, "".join(f"{v:>10.4f}" for v in q), ""]


def random_effects_lines(varcorr: pd.DataFrame, group_width: int = 12,
                         corr_digits: int = 2) -> list[str]:
    """The "Random effects:" table: one row per variance, correlations on the row of the
    second variable (lme4 prints them with two digits, ordinal with three)."""
    lines = ["Random effects:",
             f" {'Groups':<{group_width}}{'Name':<14}{'Variance':>10}{'Std.Dev.':>10}{'Corr':>8}"]
    vc = varcorr
    for _, r in vc[vc["var2"].isna()].iterrows():
        corr = vc[(vc["grp"] == r["grp"]) & (vc["var2"] == r["var1"])]
        cs = " ".join(f"{v:6.{corr_digits}f}" for v in corr["sdcor"]) if len(corr) else ""
        name = "" if pd.isna(r["var1"]) else r["var1"]
        lines.append(f" {r['grp']:<{group_width}}{name:<14}{r['vcov']:>10.4g}{r['sdcor']:>10.4g}"
                     f"  {cs}")
    return lines


def structure_lines(terms, slices, names: Sequence[str], values: Sequence[float]) -> list[str]:
    """"Covariance structures:" lines: each structured term's own parameters (rho, range,
    loadings ...), read off the natural parameters (entries in theta's order); none for a
    model with only ``|`` / ``||`` terms."""
    lines = []
    for t, sl in zip(terms, slices):
        if t.linear:
            continue
        shown = ", ".join(f"{n} = {v:.4g}" for n, v in zip(names[sl], values[sl]))
        lines.append(f" {t.label}: {shown}")
    return ["Covariance structures:", *lines] if lines else []


def group_count_line(nobs: int, ngroups: dict) -> str:
    """lme4's "Number of obs: n, groups:  g, levels" line."""
    groups = ", ".join(f"{k}, {v}" for k, v in ngroups.items())
    return f"Number of obs: {nobs}, groups:  {groups}"


def coefficient_lines(names: Sequence[str], columns: Sequence[Column],
                      min_width: int = 12) -> list[str]:
    """A coefficient table: a header row, then one row per name; ``columns`` gives each
    column's header, width, values and format (a format spec, or "p" for :func:`pvalue_cell`)."""
    w = max(min_width, max(len(n) for n in names) + 1)
    out = [f"{'':<{w}}" + "".join(f"{h:>{wd}}" for h, wd, _, _ in columns)]
    cols = [(wd, list(vals), fmt) for _, wd, vals, fmt in columns]
    for i, name in enumerate(names):
        cells = [pvalue_cell(v[i], wd) if fmt == "p" else f"{v[i]:>{wd}{fmt}}" for wd, v, fmt in cols]
        out.append(f"{name:<{w}}" + "".join(cells))
    return out


def wald_columns(est, se, z, p, est_fmt: str = ".5g", p_width: int = 10) -> list[Column]:
    """Estimate / Std. Error / z value / Pr(>|z|) columns of a Wald table."""
    se_fmt = est_fmt
    return [("Estimate", 10, est, est_fmt), ("Std. Error", 12, se, se_fmt),
            ("z value", 9, z, ".3f"), ("Pr(>|z|)", p_width, p, "p")]


def correlation_lines(vcov: pd.DataFrame) -> list[str]:
    """Lower triangle of the correlation of the fixed effects (lme4 prints it for p > 1)."""
    V = vcov.to_numpy()
    p = V.shape[0]
    if p < 2 or p > 12 or not np.all(np.isfinite(V)):
        return []
    sd = np.sqrt(np.diag(V))
    C = V / np.outer(sd, sd)
    names = [n[:10] for n in vcov.index]
    out = ["", "Correlation of Fixed Effects:",
           " " * 12 + "".join(f"{n:>11}" for n in names[:-1])]
    for i in range(1, p):
        out.append(f"{names[i]:<12}" + "".join(f"{C[i, j]:>11.3f}" for j in range(i)))
    return out


def note_lines(messages: Sequence[str], converged: bool, warn_unconverged: bool = True
               ) -> list[str]:
    """The fit's messages as "note:" lines, and a closing warning when it did not converge."""
    out = [f"note: {m}" for m in messages]
    if warn_unconverged and not converged:
        out.append("WARNING: the fit did not converge")
    return out
