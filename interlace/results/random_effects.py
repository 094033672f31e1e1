"""Variance components, conditional modes and lme4's VarCorr table of a fitted model."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass
class RandomEffectTables:
    """Per grouping factor (keys made unique with ".1"): covariance of its random effects,
    conditional modes b and number of levels; and lme4's VarCorr table."""

    variance_components: dict[str, pd.DataFrame]
    random_effects: dict[str, pd.DataFrame]
    ngroups: dict[str, int]
    varcorr: pd.DataFrame


def _varcorr_rows(key: str, t, cov: np.ndarray) -> list[tuple]:
    """VarCorr rows of one term: its variances, then its correlations (correlated terms)."""
    sd = np.sqrt(np.diag(cov))
    rows = [(key, t.columns[a], None, cov[a, a], sd[a]) for a in range(t.k)]
    if t.correlated:
        for a in range(t.k):
            for b in range(a + 1, t.k):
                den = sd[a] * sd[b]
                rows.append((key, t.columns[a], t.columns[b], cov[a, b],
                             cov[a, b] / den if den > 0 else np.nan))
    return rows


def random_effect_tables(ctx, theta: np.ndarray, u: np.ndarray, cov_scale: float,
                         residual_var: float | None) -> RandomEffectTables:
    """The tables at ``theta`` and spherical modes ``u`` of a model context: b = Lambda u per
    factor, covariances ``cov_scale`` Lambda Lambda' (sigma^2 for an LMM, 1 for a GLMM's
    absolute theta); a "Residual" VarCorr row when ``residual_var`` is given."""
    d = ctx.design
    vcs: dict[str, pd.DataFrame] = {}
    res: dict[str, pd.DataFrame] = {}
    ngroups: dict[str, int] = {}
    rows: list[tuple] = []
    ub = ctx.u_blocks(u)
    for ti, (t, sl) in enumerate(zip(d.terms, ctx.theta_slices())):
        key = t.group
        while key in vcs:
            key = key + ".1"
        cov = t.covariance(theta[sl], scale=cov_scale)
        vcs[key] = pd.DataFrame(cov, index=t.columns, columns=t.columns)
        b = ub[ti] @ t.Lambda(theta[sl]).T
        res[key] = pd.DataFrame(b, index=t.levels.copy(), columns=t.columns)
        res[key].index.name = t.group
        ngroups[key] = t.nlevels
        rows += _varcorr_rows(key, t, cov)
    if residual_var is not None:
        rows.append(("Residual", None, None, residual_var, np.sqrt(residual_var)))
    varcorr = pd.DataFrame(rows, columns=["grp", "var1", "var2", "vcov", "sdcor"])
    return RandomEffectTables(vcs, res, ngroups, varcorr)


def conditional_covariances(ctx, theta: np.ndarray, factor, random_effects: dict
                            ) -> dict[str, np.ndarray]:
    """Cov(b_l | y) per term and level at the modes, lme4's ``postVar``: Lambda M^-1 Lambda'
    blocks from the factor of the penalised system M there (``theta`` on the absolute scale,
    so that b = Lambda u with u ~ N(0, I)); arrays (levels, k, k) in ``random_effects``'
    row order (lme4's postVar is k x k x levels)."""
    q = factor.system.q
    Minv = factor.solve(np.eye(q))
    pos = ctx.u_blocks(np.arange(q, dtype=float))  # each (level, column)'s place in u
    out: dict[str, np.ndarray] = {}
    for ti, (t, sl, key) in enumerate(zip(ctx.design.terms, ctx.theta_slices(), random_effects)):
        idx = pos[ti].astype(np.intp)  # (levels, k)
        lam = t.Lambda(theta[sl])
        blocks = Minv[idx[:, :, None], idx[:, None, :]]  # (levels, k, k) blocks of M^-1
        out[key] = np.einsum("ab,lbc,dc->lad", lam, blocks, lam)
    return out


def conditional_variances(ctx, theta: np.ndarray, factor, random_effects: dict
                          ) -> dict[str, pd.DataFrame]:
    """Var(b | y) per term at the modes (the diagonals of :func:`conditional_covariances`);
    DataFrames shaped like ``random_effects``' tables."""
    out: dict[str, pd.DataFrame] = {}
    for key, cov in conditional_covariances(ctx, theta, factor, random_effects).items():
        var = np.diagonal(cov, axis1=1, axis2=2)
        ref = random_effects[key]
        out[key] = pd.DataFrame(np.maximum(var, 0.0), index=ref.index, columns=ref.columns)
    return out


def ranef_table(random_effects: dict[str, pd.DataFrame],
                sds: dict[str, pd.DataFrame] | None = None) -> pd.DataFrame:
    """lme4's ``as.data.frame(ranef(fit, condVar = TRUE))``: one row per term and level with
    columns grpvar, term, grp, condval (and condsd, the conditional SDs ``sds`` shaped like
    ``random_effects``, when given)."""
    parts = []
    for key, modes in random_effects.items():
        long = modes.melt(ignore_index=False, var_name="term", value_name="condval")
        part = pd.DataFrame({"grpvar": key, "term": long["term"].to_numpy(),
                             "grp": long.index.astype(str), "condval": long["condval"].to_numpy()})
        if sds is not None:
            part["condsd"] = sds[key].melt(ignore_index=False)["value"].to_numpy()
        parts.append(part)
    cols = ["grpvar", "term", "grp", "condval"] + (["condsd"] if sds is not None else [])
    return (pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=cols))
