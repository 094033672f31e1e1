"""The linear predictor of a fitted model on new data: fixed part, offsets, random part.

Unseen group levels get b = 0, as lme4's ``predict(..., allow.new.levels = TRUE)``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from interlace.errors import DataError
from interlace.model.design import Design
from interlace.model.grouping import random_columns
from interlace.model.response import eval_numeric


def fixed_eta(design: Design, beta: np.ndarray, newdata: pd.DataFrame, offset: Any = None
              ) -> np.ndarray:
    """X beta on ``newdata`` plus the ``offset=`` argument and the formula's offsets."""
    if not isinstance(newdata, pd.DataFrame):
        raise DataError(f"newdata must be a pandas DataFrame, got {type(newdata).__name__}")
    try:
        mm = design.fixed_spec.get_model_matrix(newdata, na_action="ignore")
    except Exception as exc:  # noqa: BLE001
        raise DataError(f"cannot build the fixed effects for newdata: {exc}") from None
    X = np.asarray(mm, dtype=float)[:, design.kept_columns]
    eta = X @ beta
    n = len(newdata)
    if offset is not None:
        eta = eta + np.broadcast_to(np.asarray(offset, float), (n,))
    for expr in design.parsed.offsets:
        eta = eta + eval_numeric(expr, newdata, "offset")
    return eta


def _level_index(t, spec, newdata: pd.DataFrame) -> np.ndarray:
    """Per row of ``newdata``, the index of its level of term t (-1 for unseen levels)."""
    if len(spec.group_vars) == 1:
        return t.levels.get_indexer(newdata[spec.group_vars[0]])
    labels = newdata[spec.group_vars[0]].astype(str)
    for v in spec.group_vars[1:]:
        labels = labels + ":" + newdata[v].astype(str)
    return t.levels.get_indexer(labels)


def random_eta(design: Design, random_effects: dict[str, pd.DataFrame], newdata: pd.DataFrame,
               start: np.ndarray | None = None) -> np.ndarray:
    """Z b on ``newdata`` (the modes ``random_effects`` in the design's term order), added
    term by term to ``start`` when given."""
    n = len(newdata)
    eta = np.zeros(n) if start is None else start
    for b, t in zip(random_effects.values(), design.terms):
        spec = next(s for s in design.parsed.random if s.group == t.group and s.expr == t.expr)
        missing = [v for v in spec.group_vars if v not in newdata.columns]
        if missing:
            raise DataError(f"newdata lacks grouping column(s) {missing} needed by {t.label}")
        Z, _ = random_columns(spec, newdata)
        idx = _level_index(t, spec, newdata)
        bv = b.to_numpy()
        seen = idx >= 0
        contrib = np.zeros(n)
        contrib[seen] = np.sum(Z[seen] * bv[idx[seen]], axis=1)
        eta = eta + contrib
    return eta


def new_data_eta(design: Design, beta: np.ndarray, random_effects: dict[str, pd.DataFrame],
                 newdata: pd.DataFrame, include_re: bool = True, offset: Any = None
                 ) -> np.ndarray:
    """The linear predictor on ``newdata``: :func:`fixed_eta`, plus :func:`random_eta` when
    ``include_re``."""
    eta = fixed_eta(design, beta, newdata, offset)
    return random_eta(design, random_effects, newdata, eta) if include_re else eta
