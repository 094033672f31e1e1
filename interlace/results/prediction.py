"""The rows a prediction is made for, and their linear predictor: fixed part, offsets and the
random terms it includes.

:class:`PredictionRows` holds, for the fitted rows or for new data, the fixed-effects rows X,
the offsets and, per included random term, each row's level (-1 for a group not seen when
fitting, which gets b = 0, as lme4's ``allow.new.levels = TRUE``) and its Z columns. New data
goes through :mod:`interlace.results.newdata` first: every column is converted to its fitted
kind and levels, and what cannot be predicted raises a :class:`DataError` naming it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from interlace.errors import DataError, InterlaceError
from interlace.model.columns import part_columns, used_columns
from interlace.model.design import Design
from interlace.model.grouping import random_columns
from interlace.model.response import eval_numeric, one_line, plain_label
from interlace.results.newdata import PreparedData, check_spec_levels, prepare_newdata


@dataclass
class TermRows:
    """One included random term on the prediction's rows: ``term`` indexes
    ``design.terms``; ``codes`` each row's level (-1: a new group, b = 0); ``Z`` (n, k)."""

    term: int
    codes: np.ndarray
    Z: np.ndarray


@dataclass
class PredictionRows:
    """The rows of a prediction: X (n, p), offsets, included terms; for new data its
    converted frame and index (None for the fitted rows)."""

    X: np.ndarray
    offset: np.ndarray
    terms: list[TermRows]
    frame: pd.DataFrame | None = None
    index: pd.Index | None = None

    @property
    def n(self) -> int:
        return self.X.shape[0]


def fitted_rows(design: Design, terms: list[int]) -> PredictionRows:
    """The fitted rows with the random ``terms`` (indices into ``design.terms``)."""
    return PredictionRows(design.X, design.offset,
                          [TermRows(i, design.terms[i].codes, design.terms[i].Z) for i in terms])


def prepared_newdata(design: Design, newdata: Any, terms: list[int] | None,
                     params_only: bool = False) -> PreparedData:
    """``newdata`` checked and converted for a prediction with the random ``terms`` (all if
    None), or only for the family-parameter formulas (``params_only``)."""
    parts = part_columns(design.parsed)
    cols = sorted(parts.params) if params_only else parts.columns(terms)
    used, _ = used_columns(design.parsed)
    return prepare_newdata(design.column_types, newdata, cols, used)


def _offset_argument(offset: Any, n: int) -> np.ndarray:
    """The ``offset=`` argument as one number per row."""
    try:
        return np.broadcast_to(np.asarray(offset, dtype=float), (n,)).copy()
    except (TypeError, ValueError) as exc:
        raise DataError(f"offset must be a number or one number per row of newdata ({n}): "
                        f"{one_line(exc)}") from None


def fixed_rows(design: Design, prep: PreparedData, offset: Any = None
               ) -> tuple[np.ndarray, np.ndarray]:
    """X and the offsets (formula offsets plus ``offset=``) on prepared new data."""
    used, _ = used_columns(design.parsed)
    check_spec_levels(design.fixed_spec, prep, used)
    try:
        mm = design.fixed_spec.get_model_matrix(prep.frame, na_action="ignore")
    except Exception as exc:  # noqa: BLE001 - formulaic raises many types
        raise DataError(f"cannot build the fixed effects for newdata: {one_line(exc)}") from None
    X = np.asarray(mm, dtype=float)[:, design.kept_columns]
    n = len(prep)
    off = np.zeros(n) if offset is None else _offset_argument(offset, n)
    for expr in design.parsed.offsets:
        off = off + eval_numeric(expr, prep.frame, "offset")
    bad = ~np.isfinite(X).all(axis=1) | ~np.isfinite(off)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise DataError(f"the fixed effects or offsets of newdata are not finite at row "
                        f"{plain_label(prep.index[i])!r} (a transform such as log(0) in the formula)")
    return X, off


def _term_frame(design: Design, prep: PreparedData, cols: frozenset[str]) -> pd.DataFrame:
    """The prepared frame with a term expression's level columns as categories of their
    fitted levels, so that its Z has the fitted columns whichever levels newdata holds."""
    frame = prep.frame
    cats = {}
    for c in cols:
        ct = design.column_types.get(c)
        if ct is not None and ct.kind in ("text", "bool"):
            cats[c] = pd.Categorical(frame[c], categories=list(ct.levels))
    return frame.assign(**cats) if cats else frame


def term_rows(design: Design, prep: PreparedData, i: int) -> TermRows:
    """Random term ``i`` on prepared new data: each row's level (-1 for a new group) and Z."""
    t, spec = design.terms[i], design.parsed.random[i]
    expr_cols = part_columns(design.parsed).terms[i][0]
    Z, names = random_columns(spec, _term_frame(design, prep, expr_cols))
    if list(names) != list(t.columns):
        raise InterlaceError(f"newdata gives random term {t.label} the columns {names}, not the "
                             f"fitted {list(t.columns)}")
    frame = prep.frame
    gv = spec.group_vars
    if len(gv) == 1:
        codes = t.levels.get_indexer(frame[gv[0]])
    else:
        labels = frame[gv[0]].astype(str)
        for v in gv[1:]:
            labels = labels + ":" + frame[v].astype(str)
        codes = t.levels.get_indexer(labels)
    for v in gv:
        if v in prep.new_group:
            codes = np.where(prep.new_group[v], -1, codes)
    return TermRows(i, np.asarray(codes, np.int64), Z)


def check_new_groups(design: Design, rows: list[TermRows], prep: PreparedData) -> None:
    """Raise for groups not seen when fitting (and missing group values), naming them."""
    msgs = []
    for tr in rows:
        new = tr.codes < 0
        if not new.any():
            continue
        spec = design.parsed.random[tr.term]
        at = np.flatnonzero(new)
        raw = prep.raw.iloc[at]
        miss = np.zeros(len(at), bool)
        for v in spec.group_vars:
            miss |= np.asarray(raw[v].isna(), dtype=bool)
        labels = raw[spec.group_vars[0]].astype(object).astype(str)
        for v in spec.group_vars[1:]:
            labels = labels + ":" + raw[v].astype(object).astype(str)
        what = []
        if (~miss).any():
            lv = pd.unique(labels.to_numpy()[~miss])
            what.append(f"level{'s' if len(lv) > 1 else ''} "
                        f"{', '.join(repr(x) for x in lv[:5])}{' ...' if len(lv) > 5 else ''} "
                        f"not seen when fitting (row {plain_label(prep.index[at[~miss][0]])!r}"
                        f"{' and others' if (~miss).sum() > 1 else ''})")
        if miss.any():
            what.append(f"a missing value (row {plain_label(prep.index[at[miss][0]])!r}"
                        f"{' and others' if miss.sum() > 1 else ''})")
        msgs.append(f"grouping factor {spec.group!r} of {design.terms[tr.term].label} has "
                    + " and ".join(what))
    if msgs:
        raise DataError("newdata: " + "; ".join(msgs) + ". Pass allow_new_levels=True to "
                        "predict new groups with zero random effects (lme4's "
                        "allow.new.levels), or re_form to leave the term out")


def new_rows(design: Design, newdata: Any, terms: list[int], allow_new_levels: bool = False,
             offset: Any = None) -> PredictionRows:
    """The rows of ``newdata`` with the random ``terms``: converted and checked
    (:mod:`~interlace.results.newdata`); new groups raise unless ``allow_new_levels``."""
    prep = prepared_newdata(design, newdata, terms)
    X, off = fixed_rows(design, prep, offset)
    rows = [term_rows(design, prep, i) for i in terms]
    if not allow_new_levels:
        check_new_groups(design, rows, prep)
    return PredictionRows(X, off, rows, prep.frame, prep.index)


def prediction_rows(design: Design, newdata: Any, terms: list[int],
                    allow_new_levels: bool = False, offset: Any = None) -> PredictionRows:
    """The fitted rows (``newdata=None``, which take the fit's own offsets) or newdata's."""
    if newdata is None:
        if offset is not None:
            raise InterlaceError("offset= adds to newdata's linear predictor; the fitted rows "
                                 "(newdata=None) use the fit's own offsets")
        return fitted_rows(design, terms)
    return new_rows(design, newdata, terms, allow_new_levels, offset)


def linear_predictor(rows: PredictionRows, beta: np.ndarray, modes: list[np.ndarray]
                     ) -> np.ndarray:
    """offset + X beta + the included terms' Z b (``modes``: every term's (levels, k) b in the
    design's order); a new group adds nothing."""
    eta = rows.offset + rows.X @ beta
    for tr in rows.terms:
        seen = tr.codes >= 0
        b = np.asarray(modes[tr.term], dtype=float)
        contrib = np.zeros(rows.n)
        contrib[seen] = np.einsum("ij,ij->i", tr.Z[seen], b[tr.codes[seen]])
        eta = eta + contrib
    return eta


def prediction_eta(design: Design, rows: PredictionRows, beta: np.ndarray,
                   modes: Callable[[], list[np.ndarray]], fitted_eta: np.ndarray) -> np.ndarray:
    """The linear predictor on ``rows`` (``modes()``: every term's b, asked for only when
    needed); on the fitted rows exactly the fit's own (``fitted_eta`` with every term,
    offset + X beta with none)."""
    if rows.frame is None and len(rows.terms) == len(design.terms):
        return np.array(fitted_eta, dtype=float)
    if rows.frame is None and not rows.terms:
        return design.offset + design.X @ beta
    return linear_predictor(rows, beta, modes())


# -- the functions earlier versions offered (unseen groups get b = 0 here) -------------------
def fixed_eta(design: Design, beta: np.ndarray, newdata: pd.DataFrame, offset: Any = None
              ) -> np.ndarray:
    """X beta on ``newdata`` plus the ``offset=`` argument and the formula's offsets."""
    rows = new_rows(design, newdata, [], offset=offset)
    return rows.offset + rows.X @ beta


def random_eta(design: Design, random_effects: dict[str, pd.DataFrame], newdata: pd.DataFrame,
               start: np.ndarray | None = None) -> np.ndarray:
    """Z b on ``newdata`` over every random term (the modes ``random_effects`` in the design's
    term order), added to ``start`` when given; new groups get b = 0."""
    rows = new_rows(design, newdata, list(range(len(design.terms))), allow_new_levels=True)
    zb = linear_predictor(rows, np.zeros(design.p), [b.to_numpy() for b in
                                                     random_effects.values()]) - rows.offset
    return zb if start is None else start + zb


def new_data_eta(design: Design, beta: np.ndarray, random_effects: dict[str, pd.DataFrame],
                 newdata: pd.DataFrame, include_re: bool = True, offset: Any = None
                 ) -> np.ndarray:
    """The linear predictor on ``newdata`` with every random term when ``include_re`` (the
    modes ``random_effects`` in the design's term order); new groups get b = 0."""
    terms = list(range(len(design.terms))) if include_re else []
    rows = new_rows(design, newdata, terms, allow_new_levels=True, offset=offset)
    return linear_predictor(rows, beta, [b.to_numpy() for b in random_effects.values()])
