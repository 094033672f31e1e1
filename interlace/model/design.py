"""Build the model's design from a parsed formula and a data frame, in named steps.

:func:`build_design` produces the response (read by the family's ``decode_response`` through
:mod:`interlace.model.response`; the design names no family), prior weights (binomial-type
trials folded in), offset, the dense fixed-effects matrix X (rank-deficient columns dropped
with a warning, as lme4 does) and one :class:`~interlace.model.terms.RandomTerm` per
random-effect term, in a :class:`Design`. The steps' parts live in their own modules:
:mod:`~interlace.model.columns` (the data's columns, missing values),
:mod:`~interlace.model.fixed` (X), :mod:`~interlace.model.grouping` (the random-effect terms)
and :mod:`~interlace.model.param_formulas` (family-parameter formulas).

Missing values, as R's ``na.omit``: rows with a missing value (NaN, None, NA) in any used
column, in ``weights`` or in ``offset`` are dropped with an :class:`InterlaceWarning` saying how
many; so are rows where a transform in the formula gives NaN (``log(x)`` of a negative x).
Infinite values, in the data or produced by a transform, are a :class:`DataError` naming the
column or term and the row (rows are named by the data frame's index labels).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from interlace.errors import DataError, FormulaError, InterlaceWarning
from interlace.model.column_types import ColumnType, record_columns
from interlace.model.columns import (
    as_vector,
    check_columns,
    drop_missing,
    keep_rows,
    used_columns,
    warn_numeric_text,
)
from interlace.model.fixed import fixed_columns, fixed_matrix
from interlace.model.formula import ParsedFormula
from interlace.model.grouping import build_random_terms, random_columns
from interlace.model.param_formulas import ParamDesign, param_design
from interlace.model.response import (
    Columns,
    eval_numeric,
    message_number,
    plain_label,
    read_response,
)
from interlace.model.terms import RandomTerm


@dataclass
class Design:
    """Everything the objective needs, independent of parameter values."""

    y: np.ndarray
    weights: np.ndarray  # prior weights x trials (s / n, cbind() for binomial-type families)
    offset: np.ndarray
    X: np.ndarray
    fe_names: list[str]
    terms: list[RandomTerm]
    response_label: str
    fixed_spec: Any  # formulaic ModelSpec, to rebuild X for new data
    kept_columns: list[int]  # columns of the formulaic matrix kept after the rank check
    parsed: ParsedFormula
    nobs_dropped: int = 0
    dropped_columns: list[str] = field(default_factory=list)
    response_levels: list[Any] | None = None  # two-level text response: [level 0, level 1]
    param_designs: dict[str, ParamDesign] = field(default_factory=dict)  # ziformula etc.
    # each predictor and grouping column's kind, dtype and levels as fitted (for new data)
    column_types: dict[str, ColumnType] = field(default_factory=dict)

    @property
    def n(self) -> int:
        return self.y.shape[0]

    @property
    def p(self) -> int:
        return self.X.shape[1]


def build_design(parsed: ParsedFormula, data: pd.DataFrame, family, weights=None, offset=None,
                 whole: bool = True) -> Design:
    """Validate the data against the formula and build the model's matrices.

    ``whole=False`` builds one chunk of the data (a partition of a distributed fit): the checks
    that need every row (X's rank, a grouping factor's level count, rows vs random effects)
    are left to the caller, and X keeps every column."""
    _check_model_inputs(parsed, data)
    used, valued = used_columns(parsed)
    rows = data.index
    if not (isinstance(rows, pd.RangeIndex) and rows.start == 0 and rows.step == 1):
        data = data.reset_index(drop=True)  # positions, not labels, from here on
    data = Columns(data)
    check_columns(data, used, valued)
    warn_numeric_text(data, used, valued)
    arrays = {name: (None if arr is None else as_vector(name, arr, data))
              for name, arr in (("weights", weights), ("offset", offset))}
    data, arrays, ndrop, rows = drop_missing(data, used, arrays, rows)
    data, arrays, rows, parts, nnan = _drop_transform_nan(parsed, data, family, arrays, rows)
    ndrop += nnan
    y, trials, levels01, mm, offsets, zcols = parts
    wts = _prior_weights(parsed, arrays["weights"], trials, rows)
    _validate_response(parsed, family, y, wts, trials, ndrop)
    check_scales(np.asarray(mm, dtype=float), [str(c) for c in mm.columns])
    X, fe_names, keep, dropped = fixed_columns(parsed, mm, rank_check=whole)
    off = np.zeros(len(data)) if arrays["offset"] is None else arrays["offset"].copy()
    for _, v in offsets:
        off += v
    terms = build_random_terms(parsed, data, zcols, whole=whole)
    warn_term_scales(terms)
    pdesigns = {name: param_design(name, rhs, data, rows) for name, rhs in parsed.params.items()}
    return Design(y=y, weights=wts, offset=off, X=X, fe_names=fe_names, terms=terms,
                  response_label=parsed.response.text, fixed_spec=mm.model_spec,
                  kept_columns=keep, parsed=parsed, nobs_dropped=ndrop,
                  dropped_columns=dropped, response_levels=levels01, param_designs=pdesigns,
                  column_types=record_columns(data, parsed, terms,
                                              getattr(mm, "text_levels", None)))


SCALE_LIMITS = (1e-100, 1e100)


def check_scales(X: np.ndarray, names: list[str]) -> None:
    """Raise DataError for a fixed-effect column whose largest absolute value lies outside
    :data:`SCALE_LIMITS` (1e-100 to 1e100): the fit's sums of squares and products of such a
    column overflow or underflow double precision, so it cannot be fitted as it stands (lme4
    warns "Some predictor variables are on very different scales: consider rescaling").
    All-zero columns are the rank check's."""
    if not X.size:
        return
    low, high = SCALE_LIMITS
    top = np.max(np.abs(X), axis=0)
    for j in np.flatnonzero((top > high) | ((top > 0) & (top < low))):
        raise magnitude_error(f"fixed-effect column {names[j]!r}",
                              "predictors' largest absolute values", float(top[j]))


def magnitude_error(what: str, whose: str, top: float, after: str = "") -> DataError:
    """The error for values whose largest magnitude ``top`` lies outside :data:`SCALE_LIMITS`:
    what overflows, whose magnitudes the limits bound, the limits and a factor that brings the
    values inside them."""
    low, high = SCALE_LIMITS
    factor = 10.0 ** -np.floor(np.log10(top))
    return DataError(
        f"{what} has values of magnitude up to {top:.3g}: its sums of squares overflow or "
        f"underflow double precision ({whose} must lie between {low:g} and {high:g}); rescale "
        f"it, e.g. multiply it by {factor:g}{after}")


TERM_SCALE_RATIO = 1e3  # lme4's tolerance for predictors "on very different scales"


def warn_term_scales(terms: list[RandomTerm]) -> None:
    """Warn when a random-effect term's columns differ in scale by more than
    :data:`TERM_SCALE_RATIO` (root mean squares, the intercept's being 1): theta's entries then
    differ by as much, and the optimizer can stop short of the optimum (a slope on Days * 1000
    in sleepstudy did), as lme4 warns for its fixed effects."""
    for t in terms:
        if t.k < 2:
            continue
        rms = t.column_rms()
        used = rms > 0
        if used.sum() < 2 or rms[used].max() <= TERM_SCALE_RATIO * rms[used].min():
            continue
        shown = ", ".join(f"{c} ~{r:.3g}" for c, r in zip(t.columns, rms) if r > 0)
        warnings.warn(
            f"random-effect term {t.label}: its columns are on very different scales ({shown}, "
            f"root mean squares): the optimizer may stop short of the optimum; rescale the "
            f"predictors (e.g. days rather than hours) so that they are of similar size",
            InterlaceWarning, stacklevel=4)


def _check_model_inputs(parsed: ParsedFormula, data: Any) -> None:
    """A data frame with rows, and a formula with random effects."""
    if not isinstance(data, pd.DataFrame):
        raise DataError(f"data must be a pandas DataFrame, got {type(data).__name__}; convert it "
                        f"with pandas.DataFrame(...) and name the columns used in the formula")
    if not parsed.random:
        raise FormulaError(
            "the model has no random-effect terms; add '(1 | group)' to the formula or pass "
            "groups='column' (use a GLM library for models without random effects)"
        )
    if len(data) == 0:
        raise DataError("data has no rows")


def _drop_transform_nan(parsed: ParsedFormula, data: Columns, family, arrays: dict,
                        rows: pd.Index) -> tuple:
    """The evaluated formula parts, after dropping rows where a transform gives NaN (as R's
    na.omit); returns the data, arrays, row labels, parts and the number of rows dropped."""
    parts = _evaluate(parsed, data, family, rows)
    nan = _nonfinite(parsed, parts, rows)
    if not nan.any():
        return data, arrays, rows, parts, 0
    k = int(nan.sum())
    if k == len(data):
        raise DataError(f"no rows left: transforms in {parsed.text!r} give NaN on every row")
    warnings.warn(
        f"dropped {k} of {len(data)} rows where a transform in {parsed.text!r} gives NaN "
        f"(e.g. log of a negative number), as R's na.omit does",
        InterlaceWarning,
        stacklevel=4,
    )
    data, arrays, rows = keep_rows(data, arrays, rows, ~nan)
    parts = _evaluate(parsed, data, family, rows)
    _nonfinite(parsed, parts, rows)
    return data, arrays, rows, parts, k


def _evaluate(parsed: ParsedFormula, data: pd.DataFrame, family: Any, rows: pd.Index):
    """Response, fixed matrix, formula offsets and random-term columns on ``data``."""
    y, trials, levels01 = read_response(parsed.response, data, family, rows)
    mm = fixed_matrix(parsed, data)
    offsets = [(f"offset({e})", eval_numeric(e, data, "offset")) for e in parsed.offsets]
    zcols = [random_columns(spec, data) for spec in parsed.random]
    return y, trials, levels01, mm, offsets, zcols


def _nonfinite(parsed: ParsedFormula, parts, rows: pd.Index) -> np.ndarray:
    """Rows where a transform gave NaN (to drop); a DataError for infinite values."""
    y, trials, _, mm, offsets, zcols = parts
    X = np.asarray(mm, dtype=float)
    named = [(f"response {parsed.response.text!r}", y[:, None])]
    if trials is not None:
        named.append((f"trials of {parsed.response.text!r}", trials[:, None]))
    named.append((f"fixed-effects part {parsed.fixed!r}", X))
    named += [(o, v[:, None]) for o, v in offsets]
    named += [(f"random-effect term {spec}", Z) for spec, (Z, _) in zip(parsed.random, zcols)]
    nan = np.zeros(len(y), bool)
    for what, M in named:
        if M.shape[0] != len(y):
            raise DataError(f"{what} gives {M.shape[0]} rows but the data has {len(y)}; check "
                            f"the formula's transforms")
        if np.isfinite(M).all():
            continue  # the common case: one pass
        inf = np.isinf(M)
        if inf.any():
            i, j = (int(a[0]) for a in np.nonzero(inf))
            col = f", column {str(mm.columns[j])!r}," if M is X else ""
            raise DataError(f"{what}{col} is infinite ({M[i, j]}) at row {plain_label(rows[i])!r}; a "
                            f"transform such as log(0) or 1/0 produced it")
        nan |= np.isnan(M).any(axis=1)
    return nan


def _prior_weights(parsed: ParsedFormula, w: np.ndarray | None, trials: np.ndarray | None,
                   rows: pd.Index) -> np.ndarray:
    """Prior weights times the trials of a successes / trials response."""
    if w is not None and np.any(w <= 0):
        i = int(np.flatnonzero(w <= 0)[0])
        raise DataError(f"weights must be positive; row {plain_label(rows[i])!r} has weight "
                        f"{message_number(w[i])!r} ({int(np.sum(w <= 0))} non-positive in all)")
    if parsed.response.kind == "ratio" and trials is not None and w is not None:
        if not np.allclose(w, trials):
            raise DataError(
                f"response {parsed.response.text!r} already gives the trials "
                f"({parsed.response.exprs[1]!r}); weights= must equal them or be omitted"
            )
        w = None
    n = len(rows)
    prior = np.ones(n) if w is None else w
    return prior * trials if trials is not None else prior


def _validate_response(parsed: ParsedFormula, family, y: np.ndarray, wts: np.ndarray,
                       trials: np.ndarray | None, ndrop: int) -> None:
    """The family's check of y, its message completed with how the response was read."""
    try:
        family.validate(y, wts, parsed.response.text)
    except DataError as exc:
        notes = []
        if parsed.response.kind == "ratio" and trials is None:
            notes.append(f"'{parsed.response.text}' is a division for family {family.name!r}; it "
                         f"is a proportion of trials only for families that read successes / "
                         f"trials, such as family='binomial'")
        if trials is not None:
            notes.append("a 's / n' or cbind(s, f) response is a proportion of trials, for "
                         "binomial-type families")
        if ndrop:
            notes.append(f"row numbers count rows after dropping {ndrop} with missing values")
        if notes:
            raise DataError(f"{exc} ({'; '.join(notes)})") from None
        raise
