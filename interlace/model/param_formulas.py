"""Linear predictors for family parameters: glmmTMB's ``ziformula`` and ``dispformula``.

A family parameter with a formula varies by row: its value on row i is
``from_unconstrained(x_i' gamma)`` (logit for a zero probability, log for a dispersion), and
the optimizer estimates the coefficients gamma instead of one number. Intercept-only formulas
(``~1``, the default) keep the scalar parameter. Random effects in these formulas are not
supported (glmmTMB allows them in ``ziformula``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from interlace.errors import FormulaError, PluginError, UnsupportedModelError
from interlace.model.formula import split_top_level


@dataclass
class ParamDesign:
    """One family parameter's model matrix (rows as the response's) and how to rebuild it."""

    name: str  # the family parameter, e.g. "zi" or "theta"
    formula: str  # right-hand side, e.g. "mined"
    X: np.ndarray  # (n, k)
    columns: list[str]
    spec: Any  # formulaic ModelSpec, for new data
    kept_columns: list[int]

    @property
    def k(self) -> int:
        return self.X.shape[1]


def one_sided_rhs(text: Any, key: str) -> str | None:
    """The right-hand side of a one-sided formula, or None when it is intercept-only."""
    if text is None:
        return None
    if not isinstance(text, str):
        raise FormulaError(f"{key} must be a one-sided formula string like '~ x', got "
                           f"{type(text).__name__}")
    parts = split_top_level(text, "~")
    if len(parts) == 1:
        rhs = parts[0]
    elif len(parts) == 2 and not parts[0].strip():
        rhs = parts[1]
    else:
        raise FormulaError(f"{key}={text!r} must be one-sided, like '~ x' (no response)")
    rhs = rhs.strip()
    if not rhs:
        raise FormulaError(f"{key}={text!r} has no terms right of '~' (use '~ 1')")
    if "|" in rhs:
        raise UnsupportedModelError(
            f"{key}={text!r}: random effects in {key} are not supported; use fixed terms only")
    if rhs.replace(" ", "") in ("1", "+1"):
        return None
    if rhs.replace(" ", "") in ("0", "-1", "+0", "1-1"):
        raise UnsupportedModelError(
            f"{key}={text!r} removes the parameter's intercept: for no zero-inflation use the "
            f"family without it (e.g. 'poisson' rather than 'zipoisson')")
    return rhs


def param_formulas(family, ziformula: Any = None, dispformula: Any = None) -> dict[str, str]:
    """Map the family's zero-part and dispersion parameters to their formulas (right-hand
    sides), checking that the family has such a parameter and estimates it."""
    out: dict[str, str] = {}
    for key, text, attr, what in (
        ("ziformula", ziformula, "zi_parameter", "a zero-inflation or hurdle probability"),
        ("dispformula", dispformula, "dispersion_parameter", "a dispersion parameter"),
    ):
        rhs = one_sided_rhs(text, key)
        if rhs is None:
            continue
        name = getattr(family, attr, None)
        if name is None or name not in family.parameters:
            raise UnsupportedModelError(
                f"{key}={text!r}: family {family.name!r} has no {what}; "
                + ("use a zero-inflated or hurdle family such as 'zipoisson'"
                   if key == "ziformula" else "use a family with a dispersion, e.g. 'nbinom2'"))
        if family.parameters[name].fixed:
            raise PluginError(
                f"{key}={text!r} models family {family.name!r} parameter {name!r}, which is "
                f"fixed at {family.parameters[name].value!r}; leave it unset to estimate it")
        out[name] = rhs
    return out
