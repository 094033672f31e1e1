"""The result of :func:`interlace.emmeans`: a table of marginal means with ``.pairs()``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from interlace.inference.emm_pairs import adjusted_pvalues, check_adjust, pair_indices


@dataclass(frozen=True)
class LinearInference:
    """Estimates, SEs and df of linear functions l'beta: beta, the covariance used, the df rule."""

    beta: np.ndarray
    V: np.ndarray
    df: Callable[[np.ndarray], float]

    def table(self, L: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Estimates, standard errors and df of the rows of L."""
        est = L @ self.beta
        se = np.sqrt(np.einsum("ij,jk,ik->i", L, self.V, L))
        return est, se, np.array([self.df(row) for row in L], float)


def _is_identity(link, eta: np.ndarray) -> bool:
    """The link maps the means to themselves (nothing to back-transform)."""
    eta = np.concatenate([np.atleast_1d(eta), [0.5, 2.0]])
    return bool(np.allclose(link.inverse(eta), eta) and np.allclose(link.mu_eta(eta), 1.0))


def _quantile(level: float, df: np.ndarray) -> np.ndarray:
    return stats.t.ppf(0.5 + level / 2, df)


class EMMeans:
    """Estimated marginal means (emmeans' ``summary``): ``.frame`` is the table (the factors,
    the mean, SE, df, confidence limits); ``.pairs(adjust=...)`` compares them."""

    def __init__(self, labels: pd.DataFrame, L: np.ndarray, specs: list[str], by: list[str],
                 inference: LinearInference, link, type: str, level: float) -> None:
        self.labels, self.L, self.specs, self.by = labels.reset_index(drop=True), L, specs, by
        self.inference, self.link, self.type, self.level = inference, link, type, level
        self.frame = self._frame()

    def _frame(self) -> pd.DataFrame:
        est, se, df = self.inference.table(self.L)
        half = _quantile(self.level, df) * se
        lo, hi = est - half, est + half
        name = "emmean"
        if self.type == "response" and not _is_identity(self.link, est):
            name = "response"  # emmeans says prob (logit etc.), rate (log) or response
            se = se * np.abs(self.link.mu_eta(est))
            lo, hi = np.sort(np.vstack([self.link.inverse(lo), self.link.inverse(hi)]), axis=0)
            est = self.link.inverse(est)
        out = self.labels.copy()
        out[name], out["SE"], out["df"] = est, se, df
        out["lower.CL"], out["upper.CL"] = lo, hi
        return out

    def pairs(self, adjust: str = "tukey") -> EMMContrasts:
        """All pairwise differences (on the link scale) within each ``by`` group, with
        p-values adjusted by "tukey", "holm", "bonferroni" or "none" (emmeans' ``pairs``)."""
        adjust = check_adjust(adjust)
        groups = (self.labels.groupby(self.by, sort=False).indices.values() if self.by
                  else [np.arange(len(self.labels))])
        names = [self._level_names(c) for c in self.specs]
        rows, Ls = [], []
        for idx in groups:
            idx = np.asarray(idx)
            for i, j in pair_indices(idx.size):
                a, b = idx[i], idx[j]
                label = " ".join(names[k][a] for k in range(len(self.specs))), \
                    " ".join(names[k][b] for k in range(len(self.specs)))
                rows.append({"contrast": f"{label[0]} - {label[1]}",
                             **{v: self.labels.at[a, v] for v in self.by}})
                Ls.append(self.L[a] - self.L[b])
        return EMMContrasts(pd.DataFrame(rows), np.array(Ls), self.by, self.inference, adjust,
                            len(groups[0]) if not self.by else None, self.labels, self.level)

    def _level_names(self, var: str) -> list[str]:
        """Level labels as emmeans prints them in contrasts (numeric-looking levels get the
        variable's name in front: period1)."""
        vals = self.labels[var].astype(str)
        numeric = pd.to_numeric(vals, errors="coerce").notna().all()
        return [f"{var}{v}" if numeric else v for v in vals]

    def __repr__(self) -> str:
        return self.frame.to_string(index=False)

    def _repr_html_(self) -> str:
        return self.frame.to_html(index=False)


class EMMContrasts:
    """Pairwise comparisons of marginal means: ``.frame`` has estimate, SE, df, t (or z)
    ratio and the adjusted p-value; ``.adjust`` names the adjustment."""

    def __init__(self, labels: pd.DataFrame, L: np.ndarray, by: list[str],
                 inference: LinearInference, adjust: str, nmeans: int | None,
                 means: pd.DataFrame, level: float) -> None:
        self.L, self.adjust, self.level = L, adjust, level
        est, se, df = inference.table(L)
        t = est / se
        frame = labels.copy()
        frame["estimate"], frame["SE"], frame["df"] = est, se, df
        frame["t.ratio" if np.all(np.isfinite(df)) else "z.ratio"] = t
        p = np.empty(len(frame))
        keys = frame.groupby(by, sort=False).indices.values() if by else [np.arange(len(frame))]
        sizes = means.groupby(by, sort=False).size().to_numpy() if by else [nmeans]
        for idx, k in zip(keys, sizes):
            p[idx] = adjusted_pvalues(t[idx], df[idx], adjust, int(k))
        frame["p.value"] = p
        self.frame = frame

    def __repr__(self) -> str:
        return (self.frame.to_string(index=False)
                + f"\n\nP value adjustment: {self.adjust}")

    def _repr_html_(self) -> str:
        return self.frame.to_html(index=False)
