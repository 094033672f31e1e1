"""Factor levels over all partitions, found in one pass, in the in-memory fit's order.

Each partition reports the distinct values of its factor columns and the levels of each
grouping factor (``g`` or ``a:b``) on its complete rows; the driver joins them and orders them
as the in-memory fit orders one column holding them all (sorted labels, or a categorical's
category order), so a level's index, and so the layout of u and the random-effect tables,
equal the in-memory fit's.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from interlace.errors import DataError
from interlace.model.columns import text_column
from interlace.model.grouping import group_codes


def factor_columns(meta: pd.DataFrame, used: list[str], response_cols: set[str]) -> list[str]:
    """The used columns read as factors (text, categorical or boolean), response excluded."""
    out = []
    for c in used:
        if c not in meta.columns or c in response_cols:
            continue
        s = meta[c]
        if not (pd.api.types.is_numeric_dtype(s.dtype) and not pd.api.types.is_bool_dtype(s.dtype)):
            out.append(c)
    return out


def partition_levels(df: pd.DataFrame, payload: tuple) -> dict[str, Any]:
    """A partition's distinct factor values and grouping levels on its complete rows."""
    used, factors, groups = payload
    frame = df[[c for c in used if c in df.columns]].dropna().reset_index(drop=True)
    out: dict[str, Any] = {"rows": len(df), "complete": len(frame)}
    for c in factors:
        out[f"factor:{c}"] = set(pd.unique(frame[c].astype(object)).tolist())
    for c in set(factors) | {g for g in groups if ":" not in g}:
        if isinstance(df[c].dtype, pd.CategoricalDtype):  # the partition's category order
            out[f"cats:{c}"] = {tuple(df[c].cat.categories.tolist())}
    for g in groups:
        if ":" in g:  # an interaction's labels, as the in-memory fit forms them
            out[f"group:{g}"] = set(group_codes(frame, g)[1].tolist())
        else:
            out[f"group:{g}"] = set(pd.unique(frame[g].astype(object)).tolist())
    return out


UNKNOWN = "__UNKNOWN_CATEGORIES__"  # Dask's placeholder for categories not yet read


def known_categories(stats: dict, meta: pd.DataFrame, col: str) -> list | None:
    """A categorical column's categories in order: the Dask frame's, else the partitions' own
    when they all agree (Parquet keeps pandas' order); None for other columns."""
    dtype = meta[col].dtype if col in meta.columns else None
    if not isinstance(dtype, pd.CategoricalDtype):
        return None
    cats = list(dtype.categories) if dtype.categories is not None else [UNKNOWN]
    if UNKNOWN not in cats:
        return cats
    seen = stats.get(f"cats:{col}", set())
    return list(next(iter(seen))) if len(seen) == 1 else None


def ordered_levels(values: set, cats: list | None) -> pd.Index:
    """Levels in the in-memory order: a categorical's category order (``cats``), else sorted."""
    if cats is not None:
        return pd.Index([c for c in cats if c in values])
    vals = list(values)
    s = pd.Series(vals, dtype=object)
    if all(isinstance(v, str) for v in vals) or text_column(s):
        return pd.Index(sorted(vals), dtype=object)
    try:
        return pd.Index(np.sort(np.asarray(vals)))
    except TypeError:
        return pd.Index(sorted(str(v) for v in vals), dtype=object)


def factor_dtypes(stats: dict, meta: pd.DataFrame, factors: list[str]) -> dict:
    """Each factor column's categorical dtype over all partitions (a categorical keeps its
    categories, unused ones included, as the in-memory formula does)."""
    out = {}
    for c in factors:
        cats = known_categories(stats, meta, c)
        if cats is not None:
            out[c] = pd.CategoricalDtype(cats, ordered=bool(meta[c].dtype.ordered))
        else:
            out[c] = pd.CategoricalDtype(ordered_levels(stats[f"factor:{c}"], None))
    return out


def group_levels(stats: dict, meta: pd.DataFrame, groups: list[str]) -> list[pd.Index]:
    """Each random term's grouping levels over all partitions (an error below 2 levels)."""
    out = []
    for g in groups:
        vals = stats.get(f"group:{g}", set())
        levels = (ordered_levels(vals, known_categories(stats, meta, g)) if ":" not in g
                  else pd.Index(sorted(vals), dtype=object))
        if len(levels) < 2:
            raise DataError(f"grouping factor {g!r} has {len(levels)} level(s) over all "
                            f"partitions; a random effect needs at least 2 levels")
        out.append(levels)
    return out
