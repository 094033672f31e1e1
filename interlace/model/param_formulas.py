"""Linear predictors for family parameters: glmmTMB's ``ziformula`` and ``dispformula``.

A family parameter with a formula varies by row: its value on row i is
``from_unconstrained(x_i' gamma)`` (logit for a zero probability, log for a dispersion), and
the optimizer estimates the coefficients gamma instead of one number. Intercept-only formulas
(``~1``, the default) keep the scalar parameter. A ``ziformula`` may hold random-effect terms
(``~ x + (1 | site)``, glmmTMB's): their terms are built as the conditional model's
(:class:`~interlace.model.terms.RandomTerm`) and kept on the parameter's design, and the
Laplace approximation integrates them with the conditional model's
(:mod:`interlace.glmm.zi_random`). Here: reading the formulas (:func:`param_formulas`) and
building each one's full-rank model matrix and random terms (:func:`param_design`).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from formulaic import model_matrix

from interlace.errors import (
    DataError,
    FormulaError,
    InterlaceWarning,
    PluginError,
    UnsupportedModelError,
)
from interlace.model.fixed import drop_rank_deficient
from interlace.model.formula import ParsedFormula, ResponseSpec, parse_formula, split_top_level
from interlace.model.grouping import build_random_terms
from interlace.model.response import frame_of, one_line, plain_label


@dataclass
class ParamDesign:
    """One family parameter's model matrix (rows as the response's) and how to rebuild it."""

    name: str  # the family parameter, e.g. "zi" or "theta"
    formula: str  # right-hand side, e.g. "mined"
    X: np.ndarray  # (n, k)
    columns: list[str]
    spec: Any  # formulaic ModelSpec, for new data
    kept_columns: list[int]
    terms: list = field(default_factory=list)  # random-effect terms (ziformula only)
    text: str = ""  # the formula as given (random terms included)

    @property
    def k(self) -> int:
        """Columns of the fixed part (its coefficients)."""
        return self.X.shape[1]

    @property
    def ntheta(self) -> int:
        """Entries of theta of its random terms (0 without)."""
        return sum(t.ntheta for t in self.terms)


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
    if "|" in rhs and key != "ziformula":
        raise UnsupportedModelError(
            f"{key}={text!r}: random effects in {key} are not supported (glmmTMB allows them "
            f"in ziformula only); use fixed terms only")
    if rhs.replace(" ", "") in ("1", "+1"):
        return None
    if rhs.replace(" ", "") in ("0", "-1", "+0", "1-1"):
        raise UnsupportedModelError(
            f"{key}={text!r} removes the parameter's intercept: for no zero-inflation use the "
            f"family without it (e.g. 'poisson' rather than 'zipoisson')")
    return rhs


def removes_zero_part(text: Any) -> bool:
    """Whether a ``ziformula`` is glmmTMB's ``~0`` (no zero part)."""
    if not isinstance(text, str):
        return False
    parts = split_top_level(text, "~")
    rhs = parts[-1] if len(parts) in (1, 2) and not (len(parts) == 2 and parts[0].strip()) else ""
    return rhs.replace(" ", "") in ("0", "-1", "+0", "1-1")


def zero_part_family(family, ziformula: Any = None):
    """The family a ``ziformula`` asks for, glmmTMB's way: a formula other than ``~0`` on a
    family without a zero part gives the family with one (``poisson`` -> zero-inflated
    Poisson, ``truncated_poisson`` -> the hurdle, ``gamma`` -> the Gamma hurdle), through the
    family's ``with_zero_part``; an UnsupportedModelError names a family that cannot have one.
    A family that already has a zero part, no formula and ``~0`` leave the family as it is."""
    if ziformula is None or removes_zero_part(ziformula) or family.zi_parameter is not None:
        return family
    one_sided_rhs(ziformula, "ziformula")  # its own checks first
    wrapped = family.with_zero_part()
    if wrapped is None:
        raise UnsupportedModelError(
            f"ziformula={ziformula!r}: family {family.name!r} cannot be zero-inflated (it has "
            f"no zero part in glmmTMB's sense: a count family is zero-inflated, a zero-truncated "
            f"or positive one gets a hurdle); fit it without ziformula, or use a family that "
            f"has one (e.g. 'poisson', 'nbinom2', 'truncated_poisson', 'gamma'; 'zoib' for "
            f"proportions with exact 0s and 1s)")
    return wrapped


def param_formulas(family, ziformula: Any = None, dispformula: Any = None) -> dict[str, str]:
    """Map the family's zero-part and dispersion parameters to their formulas (right-hand
    sides), checking that the family has such a parameter and estimates it."""
    out: dict[str, str] = {}
    if family.zi_parameter is None and removes_zero_part(ziformula):
        ziformula = None  # glmmTMB's ~0: no zero part, nothing to model
    for key, text, attr, what in (
        ("ziformula", ziformula, "zi_parameter", "zero-inflation or hurdle probability"),
        ("dispformula", dispformula, "dispersion_parameter", "dispersion parameter"),
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


def split_random(rhs: str) -> tuple[str, list]:
    """(the fixed part, the random-term specs) of a right-hand side with bar terms."""
    if "|" not in rhs:
        return rhs, []
    parsed = parse_formula(f"__response__ ~ {rhs}")
    if parsed.offsets:
        raise UnsupportedModelError(f"formula '~ {rhs}': offset() is not supported in a family "
                                    f"parameter's formula")
    return parsed.fixed, parsed.random


def param_design(name: str, rhs: str, data: pd.DataFrame, rows: pd.Index) -> ParamDesign:
    """The model matrix of a family parameter's formula, full rank, finite, and the random
    terms of its bar terms (``ziformula`` only)."""
    text = rhs
    rhs, specs = split_random(rhs)
    pd_ = _fixed_param_design(name, rhs, data, rows)
    if specs:
        parsed = ParsedFormula(ResponseSpec("simple", ("__response__",), "__response__"), rhs,
                               random=specs, text=text)
        pd_.terms = build_random_terms(parsed, data)
    pd_.text = text
    return pd_


def _fixed_param_design(name: str, rhs: str, data: pd.DataFrame, rows: pd.Index) -> ParamDesign:
    """The model matrix of a formula's fixed part, full rank, finite."""
    where = f"formula '~ {rhs}' of family parameter {name!r}"
    try:
        mm = model_matrix(rhs, frame_of(data), na_action="ignore")
    except Exception as exc:  # noqa: BLE001 - formulaic raises many types
        raise FormulaError(f"cannot build the {where}: {one_line(exc)}") from None
    names = ["(Intercept)" if c == "Intercept" else str(c) for c in mm.columns]
    M = np.asarray(mm, dtype=float)
    bad = ~np.isfinite(M)
    if bad.any():
        i, j = np.argwhere(bad)[0]
        raise DataError(f"the {where} gives a non-finite value ({M[i, j]}) in column "
                        f"{names[j]!r} at row {plain_label(rows[i])!r}")
    keep, dropped = drop_rank_deficient(M, names)
    if dropped:
        warnings.warn(f"the {where} is rank deficient so dropping {len(dropped)} column(s): "
                      f"{', '.join(dropped)}", InterlaceWarning, stacklevel=4)
    if not keep:
        raise UnsupportedModelError(f"the {where} gives no usable column")
    return ParamDesign(name, rhs, np.ascontiguousarray(M[:, keep]), [names[j] for j in keep],
                       mm.model_spec, keep)
