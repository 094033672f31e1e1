"""lmerTest's ``anova(m)`` of one linear mixed model: a Type I, II or III F test per term."""

from __future__ import annotations

import numpy as np
import pandas as pd

from interlace.errors import InterlaceError
from interlace.inference.contrasts import (
    fixed_terms,
    type1_contrasts,
    type2_contrasts,
    type3_contrasts,
)
from interlace.inference.ftests import check_ddf, contrast_ftest

TYPES = {1: 1, 2: 2, 3: 3, "1": 1, "2": 2, "3": 3, "I": 1, "II": 2, "III": 3}


def term_contrasts(model, type: int | str = 3) -> dict[str, np.ndarray]:
    """Each fixed term's hypothesis matrix L (rows: functions of beta) for the Type."""
    if type not in TYPES:
        raise InterlaceError(f"type must be 1, 2 or 3 (or 'I', 'II', 'III'), got {type!r}")
    kind = TYPES[type]
    design = model.design
    terms = fixed_terms(design)
    if not terms:
        raise InterlaceError("the model has no fixed-effect term besides the intercept to test")
    if kind == 1:
        return type1_contrasts(design.X, terms)
    if kind == 2:
        return type2_contrasts(design.X, terms)
    return type3_contrasts(design, terms)


def lmm_anova(model, type: int | str = 3, ddf: str = "satterthwaite") -> pd.DataFrame:
    """lmerTest's table: Sum Sq, Mean Sq, NumDF, DenDF, F value, Pr(>F) per fixed term
    (Mean Sq = F sigma^2, as lmerTest)."""
    ddf = check_ddf(ddf)
    rows = {}
    for label, L in term_contrasts(model, type).items():
        test = contrast_ftest(model, L, ddf)
        ms = test.F * model.scale
        rows[label] = {"Sum Sq": ms * test.num_df, "Mean Sq": ms, "NumDF": test.num_df,
                       "DenDF": test.den_df, "F value": test.F, "Pr(>F)": test.p_value}
    table = pd.DataFrame.from_dict(rows, orient="index")
    kind = {1: "I", 2: "II", 3: "III"}[TYPES[type]]
    name = "Satterthwaite" if ddf == "satterthwaite" else "Kenward-Roger"
    table.attrs["heading"] = f"Type {kind} Analysis of Variance Table with {name}'s method"
    return table
