"""Reading the response column(s): part of the family contract.

The formula's left-hand side comes in three kinds: ``"simple"`` (``y``, ``log(y)``),
``"ratio"`` (``s / n``) and ``"cbind"`` (``cbind(s, f)``). The design hands the family a
:class:`Response`, which carries the kind, the expressions and the text, and the design's means
to read the data; the family's ``decode_response`` turns it into a :class:`DecodedResponse`.
The helpers here are the two readings families opt into: successes over trials
(:func:`successes_over_trials`) and a two-level text column as 0/1 (:func:`two_level_codes`).
"""

from __future__ import annotations

from typing import Any, NamedTuple, Protocol

import numpy as np
import pandas as pd

from interlace.errors import DataError


class Response(Protocol):
    """What the design tells a family about the response (the design supplies the object).

    ``kind`` is ``"simple"``, ``"ratio"`` (``exprs = (s, n)`` from ``s / n``) or ``"cbind"``
    (``exprs = (s, f)``); ``text`` is the left-hand side as written (for messages).
    """

    kind: str
    exprs: tuple[str, ...]
    text: str

    def numeric(self, expr: str, what: str) -> np.ndarray:
        """``expr`` (a column name or an expression) as one float column, one entry per row;
        a DataError/FormulaError naming ``what`` when it is not numeric."""

    def column(self, expr: str) -> pd.Series | None:
        """The data's own column named ``expr`` (any dtype), or None if ``expr`` is not one."""

    def row(self, i: int) -> Any:
        """The label of row ``i`` (the data frame's index label), for messages."""


class DecodedResponse(NamedTuple):
    """The response as the model uses it."""

    y: np.ndarray  # one float per row (a proportion when ``trials`` is given)
    trials: np.ndarray | None = None  # binomial-type trials, folded into the prior weights
    levels: list | None = None  # a two-level text response: [level read as 0, level read as 1]


def _number(x: Any) -> Any:
    """A value for a message: ``1.5``, not ``np.float64(1.5)``; whole floats as ints."""
    x = x.item() if isinstance(x, np.generic) else x
    return int(x) if isinstance(x, float) and x.is_integer() and abs(x) < 1e15 else x


def _first(mask: np.ndarray) -> int:
    return int(np.flatnonzero(mask)[0])


def successes_over_trials(response: Response) -> DecodedResponse:
    """``s / n`` or ``cbind(s, f)`` as the proportion s / n with n trials: counts must be
    non-negative, trials positive and successes at most trials (a DataError naming the row)."""
    r = response
    if r.kind == "cbind":
        s = r.numeric(r.exprs[0], "cbind() successes")
        f = r.numeric(r.exprs[1], "cbind() failures")
        for what, v, expr in (("successes", s, r.exprs[0]), ("failures", f, r.exprs[1])):
            if np.any(v < 0):
                i = _first(v < 0)
                raise DataError(f"{r.text}: {what} {expr!r} must be non-negative counts; row "
                                f"{r.row(i)!r} has {_number(v[i])!r}")
        n = s + f
        if np.any(n <= 0):
            raise DataError(f"{r.text} has zero trials (successes + failures = 0) at row "
                            f"{r.row(_first(n <= 0))!r}; drop such rows")
    elif r.kind == "ratio":
        s = r.numeric(r.exprs[0], "successes")
        n = r.numeric(r.exprs[1], "trials")
        if np.any(n <= 0):
            i = _first(n <= 0)
            raise DataError(f"trials {r.exprs[1]!r} in {r.text!r} must be positive; row "
                            f"{r.row(i)!r} has {_number(n[i])!r}")
        if np.any(s < 0):
            i = _first(s < 0)
            raise DataError(f"successes {r.exprs[0]!r} in {r.text!r} must be non-negative; row "
                            f"{r.row(i)!r} has {_number(s[i])!r}")
        if np.any(s > n):
            i = _first(s > n)
            raise DataError(
                f"successes {r.exprs[0]!r} exceed trials {r.exprs[1]!r} at row "
                f"{r.row(i)!r} ({_number(s[i])!r} > {_number(n[i])!r})"
            )
    else:
        raise DataError(f"response {r.text!r} is not 'successes / trials' or cbind(s, f)")
    with np.errstate(invalid="ignore", divide="ignore"):
        return DecodedResponse(s / n, n, None)


def text_levels(column: pd.Series) -> tuple[pd.Series, list]:
    """A text, boolean or categorical column as text (categories kept) and its sorted levels
    (a categorical's in its own order)."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        return column, list(column.cat.categories)
    return column.astype(str), sorted(pd.unique(column.astype(str)))


def _shown(levels: list) -> str:
    return ", ".join(map(repr, levels[:6])) + (", ..." if len(levels) > 6 else "")


def is_text(column: pd.Series) -> bool:
    """Whether a column holds labels rather than numbers (text, categorical or boolean)."""
    return not pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column)


def two_level_codes(response: Response, family_name: str) -> DecodedResponse | None:
    """A response naming a text, categorical or boolean column as 0/1: the first level (sorted,
    or the categorical's order) is 0, the second 1, as R; a DataError unless there are exactly
    two levels. None when the response is not such a column."""
    expr = response.exprs[0]
    s = response.column(expr) if response.kind == "simple" else None
    if s is None or not is_text(s):
        return None
    s, levels = text_levels(s)
    if len(levels) != 2:
        raise DataError(
            f"text/categorical response {expr!r} has {len(levels)} level(s) ({_shown(levels)}); "
            f"family={family_name!r} needs exactly two (the first is 0, the second 1, as in "
            f"R) - recode it, e.g. as a 0/1 column"
        )
    return DecodedResponse((s == levels[1]).to_numpy(dtype=float), None, levels)


def numeric_response(response: Response, family_name: str) -> DecodedResponse:
    """The response as one number per row: booleans as 0/1, ``a / b`` an ordinary division (as
    R); a DataError for ``cbind()`` and for a text or categorical column."""
    r = response
    if r.kind == "cbind":
        raise DataError(
            f"response {r.text!r}: family {family_name!r} does not take a cbind(successes, "
            f"failures) response; cbind() is for families that model successes out of trials "
            f"(such as family='binomial'; a family opts in with trials_response = True)"
        )
    s = r.column(r.exprs[0]) if r.kind == "simple" else None
    if s is not None and is_text(s) and not pd.api.types.is_bool_dtype(s):
        s, levels = text_levels(s)
        raise DataError(
            f"response {r.exprs[0]!r} is not numeric (dtype {s.dtype}, levels {_shown(levels)}); "
            f"family {family_name!r} needs a numeric response (a text or categorical response is "
            f"only allowed for a family that reads two levels as 0/1, such as family='binomial', "
            f"with two levels)"
        )
    return DecodedResponse(r.numeric(r.text if r.kind == "ratio" else r.exprs[0], "response"))
