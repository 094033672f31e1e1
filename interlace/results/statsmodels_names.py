"""statsmodels' names for a result's coefficients: ``params``, ``bse``, ``tvalues``,
``pvalues``, ``cov_params()`` (with ``conf_int(alpha=...)`` on the result itself).

``params`` holds the **fixed effects** (the same Series as ``fe_params``), so ``bse``,
``tvalues``, ``pvalues`` and ``cov_params()`` line up with it entry by entry. statsmodels'
``MixedLM`` appends the variance parameters to ``params``; here they are in
``natural_params`` / ``conf_int()`` (every parameter on its natural scale) and ``varcorr``.
"""

from __future__ import annotations

import pandas as pd


class StatsmodelsNamesMixin:
    """Aliases of the fixed-effect accessors under statsmodels' names."""

    fe_params: pd.Series
    fe_bse: pd.Series
    fe_zvalues: pd.Series
    fe_pvalues: pd.Series
    vcov: pd.DataFrame

    @property
    def params(self) -> pd.Series:
        """The fixed-effect estimates (``fe_params``; statsmodels' ``params``)."""
        return self.fe_params

    @property
    def bse(self) -> pd.Series:
        """Standard errors of ``params`` (``fe_bse``)."""
        return self.fe_bse

    @property
    def tvalues(self) -> pd.Series:
        """Wald statistics of ``params``, estimate / SE (``fe_zvalues``; an LMM's t values;
        statsmodels calls both ``tvalues``)."""
        return self.fe_zvalues

    @property
    def pvalues(self) -> pd.Series:
        """Two-sided p-values of ``params`` (``fe_pvalues``: normal for GLMMs and CLMMs,
        Satterthwaite's t for LMMs)."""
        return self.fe_pvalues

    def cov_params(self) -> pd.DataFrame:
        """Covariance of ``params`` (a copy of ``vcov``)."""
        return self.vcov.copy()
