"""Grouping factors and the random-effect terms built on them.

The integer codes and sorted levels of a grouping factor ``g`` or interaction ``a:b`` (unused
categories dropped, as lme4 does), each term's raw Z columns, and one
:class:`~interlace.model.terms.RandomTerm` per random-effect term.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd
from formulaic import model_matrix

from interlace.covariance import CovarianceStructure, default_structure
from interlace.errors import DataError, FormulaError, PluginError
from interlace.model.columns import sorted_codes, text_column
from interlace.model.fixed import simple_matrix
from interlace.model.formula import ParsedFormula, RandomTermSpec
from interlace.model.response import Columns, frame_of, one_line, plain_label
from interlace.model.terms import RandomTerm
from interlace.registry import registry, resolve


def option_value(text: str) -> Any:
    """A structure option written in a formula: an int, a float, or the text itself."""
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text.strip().strip("'\"")


def term_structure(spec: RandomTermSpec) -> CovarianceStructure:
    """The covariance structure plugin of a term: the one it names, or the registry's default
    for ``|`` / ``||``; an unknown name lists the registered ones."""
    name = spec.structure or default_structure(spec.correlated)
    args, kwargs = [], {}
    for opt in spec.options:
        key, eq, value = opt.partition("=")
        if eq and re.match(r"^\s*[A-Za-z_]\w*\s*$", key):
            kwargs[key.strip()] = option_value(value)
        else:
            args.append(option_value(opt))
    try:
        return resolve("covariance", name, *args, **kwargs)
    except PluginError:
        known = ", ".join(registry().names("covariance"))
        raise FormulaError(f"unknown covariance structure {name!r} in random-effect term "
                           f"{spec}; registered structures: {known}") from None
    except TypeError as exc:
        raise FormulaError(f"covariance structure {name!r} in random-effect term {spec}: bad "
                           f"options ({exc})") from None


def group_codes(data: pd.DataFrame | Columns, group: str) -> tuple[np.ndarray, pd.Index]:
    """Integer codes and level labels of a grouping factor ``a`` or interaction ``a:b``."""
    codes, values, dtype = _group_codes(data, group)
    return codes, values if isinstance(values, pd.Index) else pd.Index(values, dtype=dtype)


def _group_codes(data: pd.DataFrame | Columns, group: str) -> tuple[np.ndarray, Any, Any]:
    """Codes, sorted level labels (an Index, or an array with the dtype its Index takes)."""
    parts = [v.strip() for v in group.split(":")]
    if len(parts) == 1:
        s = data[parts[0]]
        if isinstance(s.dtype, pd.CategoricalDtype):
            codes = np.asarray(s.array.codes, dtype=np.int64)  # (not the .cat accessor: 30 us)
            levels = pd.Index(s.dtype.categories)
            used = np.unique(codes)
            if len(used) < len(levels):  # drop unused levels, as lme4 does
                remap = -np.ones(len(levels), np.int64)
                remap[used] = np.arange(len(used))
                codes, levels = remap[codes], levels[used]
            return codes, levels, None
        if text_column(s):
            codes, levels = sorted_codes(s)
            return codes, levels, s.dtype
        try:
            codes, levels = pd.factorize(s, sort=True)
        except TypeError:  # unorderable mixed labels: fall back to their text
            codes, levels = pd.factorize(s.astype(str), sort=True)
        return codes.astype(np.int64), pd.Index(levels), None
    labels = data[parts[0]].astype(str)
    for v in parts[1:]:
        labels = labels + ":" + data[v].astype(str)
    codes, levels = pd.factorize(labels, sort=True)
    return codes.astype(np.int64), pd.Index(levels), None


def random_columns(spec: RandomTermSpec, data: pd.DataFrame) -> tuple[np.ndarray, list[str]]:
    """The raw Z columns of a term's left-hand expression (R's naming for the intercept)."""
    if spec.expr.replace(" ", "") in ("1", "1+0", "0+1"):  # the common case, without formulaic
        return np.ones((len(data), 1)), ["(Intercept)"]
    simple = simple_matrix(spec.expr, data)
    if simple is not None:
        return simple[0], ["(Intercept)" if c == "Intercept" else c for c in simple[1]]
    try:
        mm = model_matrix(spec.expr, frame_of(data), na_action="ignore")
    except Exception as exc:  # noqa: BLE001
        raise FormulaError(f"cannot build random-effect term {spec}: {one_line(exc)}") from None
    names = ["(Intercept)" if c == "Intercept" else str(c) for c in mm.columns]
    if not names:
        raise FormulaError(f"random-effect term {spec} has no columns (nothing left of '|' "
                           f"once '0' or '- 1' removes the intercept)")
    return np.asarray(mm, dtype=float), names


def build_random_terms(parsed: ParsedFormula, data: pd.DataFrame,
                       columns: list[tuple[np.ndarray, list[str]]] | None = None,
                       whole: bool = True) -> list[RandomTerm]:
    """One RandomTerm per spec; ``columns`` are the terms' Z columns when already built.
    ``whole=False``: ``data`` is a chunk of the rows, whose level counts are not checked."""
    terms = []
    n = len(data)
    for i, spec in enumerate(parsed.random):
        codes, levels, dtype = _group_codes(data, spec.group)
        structure = term_structure(spec)
        if whole and len(levels) < 2 and (structure.linear or not len(levels)):  # (a spatial field: one)
            shown = f" ({plain_label(levels[0])!r})" if len(levels) else ""
            raise DataError(
                f"grouping factor {spec.group!r} in {spec} has {len(levels)} level{shown}; a "
                f"random effect needs at least 2 levels"
            )
        Z, names = random_columns(spec, data) if columns is None else columns[i]
        q = len(levels) * Z.shape[1]
        # lme4's check.nobs.vs.nRE, for the terms it knows: a structure with a few parameters
        # (ou over many distinct times, one visit each) is identified with fewer rows
        if whole and q > n and structure.linear:
            raise DataError(
                f"number of observations ({n}) < number of random effects ({q} = {len(levels)} "
                f"levels x {Z.shape[1]} columns) for term {spec}; the random-effects parameters "
                f"are unidentifiable (lme4's check.nobs.vs.nRE)"
            )
        structure.check_term(str(spec), Z, names, len(levels))
        terms.append(RandomTerm(spec.group, names, codes, levels, Z, spec.correlated, spec.expr,
                                dtype, structure, spec.structure))
    return terms
