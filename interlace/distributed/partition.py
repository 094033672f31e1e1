"""One partition's design, built on the worker that holds it with the in-memory fit's code.

The partition's rows go through :func:`interlace.model.design.build_design` (``whole=False``:
the checks that need every row are the driver's), with the fixed-effect factor columns
converted to categoricals of the levels found over all partitions (so every partition codes
them with the same columns) and each random term's codes mapped to the levels over all
partitions (so a level's random effect has one index everywhere).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from interlace.glmm.rowkernel import FixedEffects, row_kernel
from interlace.model.design import Design, build_design
from interlace.model.formula import ParsedFormula
from interlace.model.terms import RandomTerm


@dataclass
class ModelSpec:
    """What a worker needs to build its partition's design: the parsed formula, the family,
    the weights and offset columns, the columns read as factors and their levels, and each
    random term's levels (in the design's term order)."""

    parsed: ParsedFormula
    family: Any
    weights: str | None
    offset: str | None
    used: list[str]
    categories: dict[str, pd.CategoricalDtype]
    levels: list[pd.Index]
    keep: list[int] | None = None  # columns of X kept after the driver's rank check


@dataclass
class Partition:
    """A partition's arrays: response, prior weights, offset, X (every formula column, or the
    kept ones), the random terms (codes into the levels over all partitions), the family's
    data-only log-density term and the rows dropped for missing values."""

    y: np.ndarray
    w: np.ndarray
    offset: np.ndarray
    X: np.ndarray
    terms: list[RandomTerm]
    const: float
    dropped: int

    @property
    def n(self) -> int:
        return int(self.y.shape[0])

    def kernel(self, family: Any):
        """The family's row kernel on these rows, built once per worker."""
        k = self.__dict__.get("_kernel")
        if k is None:
            k = row_kernel(family, self.y, self.w)
            self.__dict__["_kernel"] = k
        return k

    def fixed(self) -> FixedEffects:
        """X stored by column with the offset (offset + X beta as the in-memory fit sums it)."""
        fe = self.__dict__.get("_fixed")
        if fe is None:
            fe = FixedEffects(self.X, self.offset)
            self.__dict__["_fixed"] = fe
        return fe

    def __getstate__(self) -> dict:  # kernels are rebuilt where the partition lands
        return {k: v for k, v in self.__dict__.items() if k not in ("_kernel", "_fixed")}


def prepared(df: pd.DataFrame, spec: ModelSpec) -> pd.DataFrame:
    """The partition's used columns, factor columns with the levels over all partitions."""
    frame = df[[c for c in spec.used if c in df.columns]].reset_index(drop=True)
    for col, dtype in spec.categories.items():
        if col in frame.columns:
            frame[col] = frame[col].astype(object).astype(dtype)
    return frame


def partition_design(df: pd.DataFrame, spec: ModelSpec) -> Design:
    """The in-memory design of one chunk of rows (warnings are the driver's to give)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return build_design(spec.parsed, prepared(df, spec), spec.family, weights=spec.weights,
                            offset=spec.offset, whole=False)


def global_term(term: RandomTerm, levels: pd.Index) -> RandomTerm:
    """The term with its codes mapped to ``levels`` (the levels over all partitions)."""
    idx = levels.get_indexer(term.levels)
    return replace(term, codes=idx[term.codes].astype(np.int64), level_values=levels,
                   level_dtype=None)


def build_partition(df: pd.DataFrame, spec: ModelSpec) -> Partition | None:
    """The partition's arrays (None for a partition without rows once missing values go)."""
    frame = prepared(df, spec)
    if len(frame) == 0 or len(frame.dropna()) == 0:
        return None
    d = partition_design(frame, spec)
    X = d.X if spec.keep is None else np.ascontiguousarray(d.X[:, spec.keep])
    terms = [global_term(t, lv) for t, lv in zip(d.terms, spec.levels)]
    const = float(spec.family.loglik_constant(d.y, d.weights, spec.family.parameter_values()))
    return Partition(d.y, d.weights, d.offset, X, terms, const, d.nobs_dropped)
