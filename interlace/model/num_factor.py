"""``num_factor``: a factor whose levels are points, as glmmTMB's ``numFactor``.

``num_factor(x, y)`` labels each row by its coordinates, ``"(x,y)"``, as a categorical column;
a spatial covariance structure (``exp(0 + pos | group)``) reads the points back from the level
labels of its columns, so the coordinates travel with the data through formulas and configs.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from interlace.errors import DataError


def _label(v: float) -> str:
    return format(float(v), "g")


def num_factor(*coords) -> pd.Categorical:
    """A categorical of points ``"(x,y,...)"`` from one array per coordinate (equal lengths,
    finite numbers), its levels sorted by the coordinates (first, then second, ...)."""
    if not coords:
        raise DataError("num_factor() needs at least one coordinate (an array of numbers)")
    cols = []
    for i, c in enumerate(coords, start=1):
        try:
            a = np.asarray(c, dtype=float)
        except (TypeError, ValueError):
            raise DataError(f"num_factor(): coordinate {i} must hold numbers") from None
        if a.ndim != 1 or (cols and a.size != cols[0].size):
            raise DataError(f"num_factor(): coordinate {i} must be one-dimensional with as many "
                            f"values as coordinate 1 ({cols[0].size if cols else a.size})")
        bad = np.flatnonzero(~np.isfinite(a))
        if bad.size:
            raise DataError(f"num_factor(): coordinate {i} has {bad.size} missing or infinite "
                            f"value(s) (first at row {bad[0]}); every point needs finite "
                            f"coordinates")
        cols.append(a)
    pts = np.column_stack(cols)
    labels = ["(" + ",".join(_label(v) for v in row) + ")" for row in pts]
    uniq = np.unique(pts, axis=0)  # sorted lexicographically by coordinate
    levels = ["(" + ",".join(_label(v) for v in row) + ")" for row in uniq]
    return pd.Categorical(labels, categories=list(dict.fromkeys(levels)))
