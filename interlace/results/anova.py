"""Likelihood-ratio comparison of nested fits, as lme4's ``anova(m0, m1)``."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy import stats

from interlace.errors import InterlaceError, InterlaceWarning


def anova(*models) -> pd.DataFrame:
    """Compare nested models by likelihood ratio, smallest first.

    REML fits are refitted by ML first (their likelihoods are not comparable across fixed
    effects), as lme4 does. Returns npar, AIC, BIC, logLik, deviance, Chisq, Df, Pr(>Chisq).
    """
    if len(models) < 2:
        raise InterlaceError("anova() needs at least two fitted models")
    nobs = {m.nobs for m in models}
    if len(nobs) > 1:
        raise InterlaceError(f"models were fitted to different numbers of rows: {sorted(nobs)}")
    responses = {m.response_label for m in models}
    if len(responses) > 1:
        raise InterlaceError(f"models have different responses: {sorted(responses)}")
    fits = list(models)
    if any(getattr(m, "method", "ML") == "REML" for m in fits):
        warnings.warn("refitting model(s) with ML (instead of REML)", InterlaceWarning, stacklevel=2)
        fits = [m.refit_ml() if getattr(m, "method", "ML") == "REML" else m for m in fits]
    fits.sort(key=lambda m: m.df_modelwc)
    labels = _labels(fits)
    rows = []
    for i, m in enumerate(fits):
        row = {"model": labels[i], "npar": m.df_modelwc, "AIC": m.aic, "BIC": m.bic,
               "logLik": m.llf, "deviance": -2.0 * m.llf, "Chisq": np.nan, "Df": np.nan,
               "Pr(>Chisq)": np.nan}
        if i:
            prev = fits[i - 1]
            chisq = max(0.0, 2.0 * (m.llf - prev.llf))
            df = m.df_modelwc - prev.df_modelwc
            row.update({"Chisq": chisq, "Df": df,
                        "Pr(>Chisq)": float(stats.chi2.sf(chisq, df)) if df > 0 else np.nan})
        rows.append(row)
    return pd.DataFrame(rows).set_index("model")


def _labels(fits) -> list[str]:
    """Row names: the formulas, with the family when families differ and any parameter
    formulas (``zi ~ mined``), numbered if still alike."""
    families = {getattr(m.family, "name", None) for m in fits}
    out = []
    for m in fits:
        extra = [m.family.name] if len(families) > 1 else []
        extra += [f"{name} ~ {formula}" for name, formula in m.parameter_formulas.items()]
        out.append(m.formula + (f" [{', '.join(extra)}]" if extra else ""))
    if len(set(out)) < len(out):
        out = [f"{i + 1}: {lab}" for i, lab in enumerate(out)]
    return out
