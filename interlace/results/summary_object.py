"""The object ``summary()`` returns: the printed table as a string, its parts as DataFrames.

:class:`Summary` is a ``str`` (so ``print(result.summary())`` shows the table once and two
summaries compare as text) whose ``repr`` is the text itself (a notebook cell ending in
``result.summary()`` shows the table, not a quoted string), and whose parts are attributes:
``coefficients`` (R's ``coef(summary(fit))``), ``random_effects`` (lme4's VarCorr table),
``fit_statistics`` and, where the model has them, ``thresholds`` (ordinal),
``family_coefficients`` (glmmTMB's zero-inflation / dispersion tables) and
``family_parameters``. ``tables`` holds them all by name.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats


class Summary(str):
    """A fit's summary: the text (this string) and its tables (attributes, and ``tables``)."""

    tables: dict[str, pd.DataFrame]

    def __new__(cls, text: str, tables: dict[str, pd.DataFrame] | None = None) -> Summary:
        obj = super().__new__(cls, text)
        obj.tables = dict(tables or {})
        return obj

    def __repr__(self) -> str:
        return str(self)

    def _repr_pretty_(self, p, cycle: bool) -> None:  # IPython / Jupyter
        p.text(str(self))

    def __getattr__(self, name: str) -> pd.DataFrame:
        tables = self.__dict__.get("tables", {})
        if name in tables:
            return tables[name]
        raise AttributeError(f"this summary has no part {name!r}; its parts are "
                             f"{sorted(tables)}")

    def __dir__(self) -> list[str]:
        return sorted(set(super().__dir__()) | set(self.__dict__.get("tables", {})))


def wald_coefficient_table(est: pd.Series, se: pd.Series, stat: str = "z",
                           df: pd.Series | None = None) -> pd.DataFrame:
    """R's coefficient table: Estimate, Std. Error, [df,] z or t value, two-sided p-value
    (normal, or t with ``df``)."""
    est = pd.Series(est, dtype=float)
    se = pd.Series(se, dtype=float, index=est.index)
    with np.errstate(divide="ignore", invalid="ignore"):
        value = est / se
    out = {"Estimate": est, "Std. Error": se}
    if df is not None:
        out["df"] = pd.Series(df, index=est.index, dtype=float)
        p = 2 * stats.t.sf(np.abs(value), out["df"])
    else:
        p = 2 * stats.norm.sf(np.abs(value))
    out[f"{stat} value"] = value
    out[f"Pr(>|{stat}|)"] = pd.Series(p, index=est.index)
    return pd.DataFrame(out, index=est.index)


def fit_statistics_table(result, **extra) -> pd.DataFrame:
    """One row: AIC, BIC, logLik, deviance, df.resid, nobs (and ``extra`` columns)."""
    row = {"AIC": result.aic, "BIC": result.bic, "logLik": result.llf,
           "deviance": result.deviance, "df.resid": result.df_resid, "nobs": result.nobs, **extra}
    return pd.DataFrame([row])
