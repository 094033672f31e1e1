"""Likelihood-ratio tests of each fixed term of one model, as R's ``drop1(m, test="Chisq")``.

Each term that no other term contains (R's ``drop.scope``) is dropped in turn: the model is
refitted without the term's columns of X (warm-started at the fit's other parameters) and
compared with the full model by twice the log-likelihood difference.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
from scipy import stats

from interlace.errors import InterlaceError
from interlace.inference.contrasts import FixedTerm, fixed_terms
from interlace.inference.refit import Refitter
from interlace.model.context import ModelContext


def droppable_terms(terms: list[FixedTerm]) -> list[FixedTerm]:
    """Terms contained in no other term (the only ones R's drop1 drops)."""
    return [t for t in terms
            if not any(o is not t and set(t.factors) < set(o.factors) for o in terms)]


def reduced_fit(model, term: FixedTerm):
    """``model`` refitted without ``term``'s columns of X."""
    refitter = model.refitter
    d = refitter.ctx.design
    keep = [j for j in range(d.p) if j not in term.columns]
    design = replace(d, X=d.X[:, keep], fe_names=[d.fe_names[j] for j in keep],
                     kept_columns=[d.kept_columns[j] for j in keep])
    ctx = ModelContext(design, refitter.ctx.family)
    start, settings = refitter.start, dict(refitter.settings)
    if start is not None and len(start) > refitter.ctx.ntheta:  # [theta, beta, ...] layout
        gone = [refitter.ctx.ntheta + j for j in term.columns]
        start = np.delete(np.asarray(start, float), gone)
        if settings.get("hessian") is not None:
            H = np.asarray(settings["hessian"], float)
            settings["hessian"] = np.delete(np.delete(H, gone, axis=0), gone, axis=1)
    return Refitter(ctx, start, refitter.stages, settings).fit()


def drop1(model) -> pd.DataFrame:
    """R's ``drop1(m, test="Chisq")``: npar, AIC, LRT, Pr(Chi) per droppable term, with the
    full model's AIC in the row ``<none>``."""
    if getattr(model, "refitter", None) is None:
        raise InterlaceError("drop1 needs a fitted model that can be refitted (its refitter)")
    terms = droppable_terms(fixed_terms(model.design))
    if not terms:
        raise InterlaceError("the model has no fixed-effect term besides the intercept to drop")
    rows = {"<none>": {"npar": np.nan, "AIC": model.aic, "LRT": np.nan, "Pr(Chi)": np.nan}}
    for t in terms:
        red = reduced_fit(model, t)
        lrt = max(0.0, 2.0 * (model.llf - red.llf))
        k = len(t.columns)
        rows[t.label] = {"npar": k, "AIC": red.aic, "LRT": lrt,
                         "Pr(Chi)": float(stats.chi2.sf(lrt, k))}
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.attrs["heading"] = "Single term deletions (likelihood-ratio tests)"
    return table
