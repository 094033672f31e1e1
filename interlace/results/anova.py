"""Likelihood-ratio comparison of nested fits, as lme4's ``anova(m0, m1)``."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy import stats

from interlace.errors import InterlaceError, InterlaceWarning
from interlace.inference.anova_table import lmm_anova
from interlace.inference.drop1 import drop1
from interlace.inference.pbtest import pb_test

METHODS = ("lrt", "bootstrap")
BOOTSTRAP_OPTIONS = {"nsim", "seed", "workers", "scheduler"}


def anova(*models, method: str = "lrt", type: int | str = 3, ddf: str = "satterthwaite",
          **options) -> pd.DataFrame:
    """One model: its terms' tests; several: compare nested models by likelihood ratio.

    One linear mixed model: lmerTest's ``anova(m, type, ddf)``, an F test per fixed term
    (``type`` 1, 2 or 3; ``ddf`` "satterthwaite" or "kenward-roger"). One GLMM: R's
    ``drop1(m, test="Chisq")``, a likelihood-ratio test of each term no other term contains.

    Several models, smallest first:
    REML fits are refitted by ML first (their likelihoods are not comparable across fixed
    effects), as lme4 does. Returns npar, AIC, BIC, logLik, deviance, Chisq, Df, Pr(>Chisq).
    ``method="bootstrap"`` (two models) adds ``Pr(boot)``, the parametric-bootstrap p-value of
    pbkrtest's ``PBmodcomp`` (:mod:`interlace.inference.pbtest`; ``options``: ``nsim``
    (default 1000), ``seed``, ``workers``, ``scheduler``), and the test itself as
    ``table.attrs["pbtest"]`` (its reference draws, failures and both p-values).
    """
    if method not in METHODS:
        raise InterlaceError(f"method must be one of {METHODS}, got {method!r}")
    unknown = set(options) - (BOOTSTRAP_OPTIONS if method == "bootstrap" else set())
    if unknown:
        raise InterlaceError(f"anova(method={method!r}) takes no option(s) {sorted(unknown)}"
                             + (f"; its options: {sorted(BOOTSTRAP_OPTIONS)}"
                                if method == "bootstrap" else ""))
    if len(models) == 1 and method == "lrt" and not options:
        return one_model_anova(models[0], type, ddf)
    if len(models) < 2:
        raise InterlaceError("anova() needs at least two fitted models (or one, without "
                             "method='bootstrap' and its options)")
    if method == "bootstrap" and len(models) != 2:
        raise InterlaceError(f"anova(method='bootstrap') tests one model against another nested "
                             f"in it: give two models, got {len(models)}")
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
    table = pd.DataFrame(rows).set_index("model")
    if method == "bootstrap":
        test = pb_test(fits[0], fits[1], **options)
        table["Pr(boot)"] = [np.nan, test.p_value]
        table.attrs["pbtest"] = test
    return table


def one_model_anova(model, type: int | str = 3, ddf: str = "satterthwaite") -> pd.DataFrame:
    """The one-model table: lmerTest's F tests for an LMM, drop1's LRTs otherwise."""
    if not hasattr(model, "fe_params"):
        raise InterlaceError(f"anova() needs fitted models, got {type(model).__name__}")
    if hasattr(model, "vcov_gradient"):
        return lmm_anova(model, type, ddf)
    return drop1(model)


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
