"""Checks the built-in structures make of a term's columns, with errors that name the term."""

from __future__ import annotations

import numpy as np

from interlace.errors import FormulaError


def require_columns(name: str, label: str, columns: list[str], least: int) -> None:
    """At least ``least`` columns left of '|'."""
    if len(columns) < least:
        raise FormulaError(f"covariance structure {name!r} in {label} needs at least {least} "
                           f"columns left of '|' (got {len(columns)}: {', '.join(columns)})")


def require_indicators(name: str, label: str, Z: np.ndarray, columns: list[str]) -> None:
    """Z's columns are the indicators of a factor's levels (one 1 per row): ``0 + f`` with f a
    factor, not a numeric and not with an intercept."""
    Z = np.asarray(Z, float)
    ok = Z.size > 0 and bool(np.all((Z == 0) | (Z == 1))) and bool(np.all(Z.sum(axis=1) == 1))
    if not ok or len(columns) < 2:
        raise FormulaError(
            f"covariance structure {name!r} in {label} runs over the ordered levels of a "
            f"factor: write '{name}(0 + f | group)' with f a factor (categorical column) of at "
            f"least 2 levels; got the column(s) {', '.join(columns)}, which are not the "
            f"indicators of one factor's levels (a numeric, or an intercept left in)")
