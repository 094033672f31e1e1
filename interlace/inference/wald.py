"""Wald intervals: estimate -/+ z * standard error on each parameter's natural scale.

Fixed effects use the result's ``vcov`` (for an LMM, lme4's ``confint(method = "Wald")``:
normal quantiles). Random-effect parameters have no Wald interval here (NaN, as lme4 reports).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from interlace.inference.parameters import natural_parameters


def wald_intervals(result, level: float) -> pd.DataFrame:
    """``lower``/``upper`` for every natural parameter (NaN where no Wald interval is given)."""
    params = natural_parameters(result)
    lower = pd.Series(np.nan, index=params.index)
    upper = pd.Series(np.nan, index=params.index)
    z = stats.norm.ppf(0.5 + level / 2)
    fe, se = result.fe_params, result.fe_bse
    names = [str(n) for n in fe.index]
    lower[names] = fe.to_numpy(float) - z * se.to_numpy(float)
    upper[names] = fe.to_numpy(float) + z * se.to_numpy(float)
    return pd.DataFrame({"lower": lower, "upper": upper})
