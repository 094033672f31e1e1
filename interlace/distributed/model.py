"""The model of a distributed fit, built on the workers in two passes.

Pass 1 finds the factor levels (:mod:`~interlace.distributed.levels`); then every partition
builds its design on its worker (:mod:`~interlace.distributed.partition`), held there for the
fit, and a summary pass returns the row count, X'X (R's rank rule for X, on the driver) and the
pattern of crossed levels. The driver keeps a skeleton of the in-memory design: the terms
with their levels but no rows, so that the in-memory optimisation stages and result code
read names, bounds and layouts from it.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from interlace.distributed.kernels import summary_stats
from interlace.distributed.layout import ULayout
from interlace.distributed.levels import (
    factor_columns,
    factor_dtypes,
    group_levels,
    partition_levels,
)
from interlace.distributed.partition import ModelSpec, build_partition, partition_design
from interlace.distributed.passes import Passes
from interlace.errors import DataError, InterlaceWarning, UnsupportedModelError
from interlace.model.columns import used_columns
from interlace.model.context import ModelContext
from interlace.model.design import Design
from interlace.model.formula import ParsedFormula


@dataclass
class DistributedDesign(Design):
    """The design's skeleton on the driver: names, terms and levels, no rows (``nobs`` rows
    live on the workers)."""

    nobs: int = 0

    @property
    def n(self) -> int:
        return self.nobs


@dataclass
class DaskModel:
    """The driver's side of a distributed model: the skeleton context, the passes over the
    partitions held on the workers, u's layout and the pattern of crossed levels."""

    ctx: ModelContext
    passes: Passes
    lay: ULayout
    spec: ModelSpec
    pattern: np.ndarray | None


def column_names(data: Any) -> list[str]:
    """The columns of a Dask DataFrame."""
    return [str(c) for c in data.columns]


def meta_frame(data: Any) -> pd.DataFrame:
    """An empty pandas frame with the Dask DataFrame's columns and dtypes."""
    return pd.DataFrame({c: pd.Series(dtype=t) for c, t in data.dtypes.items()})


def model_spec(data: Any, parsed: ParsedFormula, family: Any, weights: Any, offset: Any
               ) -> tuple[ModelSpec, list[str], list[str], pd.DataFrame]:
    """The spec without levels, the factor columns and grouping factors to find levels of."""
    for what, v in (("weights", weights), ("offset", offset)):
        if v is not None and not isinstance(v, str):
            raise UnsupportedModelError(f"{what}= must name a column of the Dask DataFrame "
                                        f"(an array is not partitioned with it)")
    used = list(used_columns(parsed)[0]) + [v for v in (weights, offset) if v is not None]
    cols = set(column_names(data))
    missing = [c for c in used if c not in cols]
    if missing:
        raise DataError(f"column(s) {missing} used by the model are not in the Dask DataFrame "
                        f"(columns: {sorted(cols)})")
    meta = meta_frame(data)
    resp = set()
    for e in parsed.response.exprs:
        resp |= {c for c in cols if c in e}
    for c in resp & set(used):
        if not pd.api.types.is_numeric_dtype(meta[c].dtype):
            raise UnsupportedModelError(f"response column {c!r} is not numeric: a text or "
                                        f"factor response is not supported on Dask data; code "
                                        f"it as 0/1 first")
    factors = factor_columns(meta, used, resp)
    groups = [spec.group for spec in parsed.random]
    spec = ModelSpec(parsed, family, weights, offset, used, {}, [])
    return spec, factors, groups, meta


def skeleton_term(term, levels: pd.Index):
    """A random term with its levels over all partitions and no rows."""
    return replace(term, codes=np.zeros(0, np.int64), Z=np.zeros((0, term.k)),
                   level_values=levels, level_dtype=None)


def rank_keep(XtX: np.ndarray, names: list[str], tol: float = 1e-7) -> list[int]:
    """R's rank rule for X from X'X: a column goes when its part orthogonal to the columns
    kept before it is below ``tol`` of its norm (as :func:`drop_rank_deficient` on X)."""
    d = np.sqrt(np.maximum(np.diag(XtX), 0.0))
    d = np.where(d > 0, d, 1.0)
    G = XtX / np.outer(d, d)
    keep: list[int] = []
    for j in range(G.shape[0]):
        if XtX[j, j] <= 0:
            continue
        if keep:
            K = np.array(keep)
            r2 = G[j, j] - G[j, K] @ np.linalg.solve(G[np.ix_(K, K)], G[K, j])
        else:
            r2 = G[j, j]
        if r2 > tol * tol:
            keep.append(j)
    return keep


def structural_pattern(stats: dict, lay: ULayout) -> np.ndarray | None:
    """Flat keys (row * q0 + column) of the cross block's entries any row can touch."""
    if lay.q2 == 0:
        return None
    P = stats["pattern"].tocoo()
    k0 = lay.ks[0]
    keys = []
    starts = np.cumsum([0] + list(lay.nlevels[1:]))
    for pos in range(1, len(lay.ks)):
        sel = (P.row >= starts[pos - 1]) & (P.row < starts[pos])
        lv, l0 = P.row[sel] - starts[pos - 1], P.col[sel]
        for c in range(lay.ks[pos]):
            r = lay.rest_offsets[pos] + lv * lay.ks[pos] + c
            for c2 in range(k0):
                keys.append(r.astype(np.int64) * lay.q0 + l0 * k0 + c2)
    return np.unique(np.concatenate(keys))


def build_model(passes: Passes, data: Any, parsed: ParsedFormula, family: Any, weights: Any,
                offset: Any) -> DaskModel:
    """Find the levels, build every partition's design on its worker and the driver's
    skeleton (the checks that need every row happen here)."""
    spec, factors, groups, meta = model_spec(data, parsed, family, weights, offset)
    raw = data.to_delayed()
    found = passes.run("levels", partition_levels, (spec.used, factors, groups), parts=raw)
    spec.categories = factor_dtypes(found, meta, factors)
    spec.levels = group_levels(found, meta, groups)
    sk = partition_design(first_rows(data, spec), spec)
    terms = [skeleton_term(t, lv) for t, lv in zip(sk.terms, spec.levels)]
    lay = ULayout.of([t.k for t in terms], [t.nlevels for t in terms])
    from dask import delayed

    passes.parts = passes.client.compute([delayed(build_partition)(p, spec) for p in raw])
    stats = passes.run("summary", summary_stats, lay)
    n = int(stats.get("n", 0))
    keep = rank_keep(stats["XtX"], sk.fe_names)
    check_whole(stats, terms, sk.fe_names, keep, n)
    if len(keep) < len(sk.fe_names):
        spec.keep = keep
        passes.parts = passes.client.compute([delayed(build_partition)(p, spec) for p in raw])
    design = DistributedDesign(
        y=np.zeros(0), weights=np.zeros(0), offset=np.zeros(0), X=np.zeros((0, len(keep))),
        fe_names=[sk.fe_names[j] for j in keep], terms=terms, response_label=sk.response_label,
        fixed_spec=sk.fixed_spec, kept_columns=[sk.kept_columns[j] for j in keep],
        parsed=parsed, nobs_dropped=int(stats.get("dropped", 0)),
        dropped_columns=[sk.fe_names[j] for j in range(len(sk.fe_names)) if j not in keep],
        column_types=sk.column_types, nobs=n)
    ctx = ModelContext(design, family)
    model = DaskModel(ctx, passes, lay, spec, structural_pattern(stats, lay))
    xm = stats["xsum"][keep] / n
    var = np.diag(stats["XtX"])[keep] / n - xm * xm
    spread = np.sqrt(np.maximum(var, 0.0))
    model.beta_scale = np.where(spread > 1e-12 * np.maximum(1.0, np.abs(xm)), spread, 1.0)
    return model


def first_rows(data: Any, spec: ModelSpec, n: int = 1000) -> pd.DataFrame:
    """Up to ``n`` complete rows from the first partition that has some (the skeleton's
    names come from them; every partition's levels are already known)."""
    for i in range(data.npartitions):
        head = data.get_partition(i).head(n, npartitions=1, compute=True)
        if len(head[[c for c in spec.used if c in head.columns]].dropna()):
            return head
    raise DataError("the Dask DataFrame has no complete rows (every row has a missing value "
                    "in a column the model uses)")


def check_whole(stats: dict, terms: list, names: list[str], keep: list[int], n: int) -> None:
    """The checks of the in-memory design that need every row, with its messages."""
    if n == 0:
        raise DataError("no complete rows in the Dask DataFrame (every row has a missing value "
                        "in a column the model uses)")
    if stats.get("dropped", 0):
        warnings.warn(f"{int(stats['dropped'])} row(s) with missing values dropped",
                      InterlaceWarning, stacklevel=4)
    if len(keep) < len(names):
        dropped = [names[j] for j in range(len(names)) if j not in keep]
        warnings.warn(f"fixed-effect model matrix is rank deficient so dropping {len(dropped)} "
                      f"column(s): {', '.join(dropped)}", InterlaceWarning, stacklevel=4)
    if not keep:
        raise UnsupportedModelError("the fixed-effects part gives no usable column")
    for t in terms:
        if t.q > n and t.linear:
            raise DataError(f"number of observations ({n}) < number of random effects ({t.q}) "
                            f"for term {t.label} (lme4's check.nobs.vs.nRE)")
