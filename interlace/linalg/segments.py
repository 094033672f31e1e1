"""Per-level sums and gathers over rows that come in runs of one level (data sorted or grouped).

``np.bincount`` with weights adds row by row into the level's slot; on rows sorted by level
every addition waits for the previous one (10 ms per million rows here), while
``np.add.reduceat`` over the runs sums contiguous memory (0.4 ms). Likewise ``np.repeat`` of
the per-run values (0.3 ms) replaces the gather ``values.take(codes)`` (1.1 ms). Rows need not
be sorted: any order in which each level's rows mostly sit together has few runs.
"""

from __future__ import annotations

import numpy as np

#: runs are used when there are at most this fraction of the rows (else bincount is as fast)
MAX_RUN_FRACTION = 0.125


class LevelRuns:
    """The runs of equal codes in a row-to-level map: their starts, levels and lengths."""

    def __init__(self, starts: np.ndarray, levels: np.ndarray, n: int, nlevels: int) -> None:
        self.starts, self.levels, self.nlevels = starts, levels, nlevels
        self.lengths = np.diff(np.append(starts, n))
        # each level one run, in level order: the run sums are the level sums
        self.direct = bool(levels.size == nlevels and np.array_equal(levels, np.arange(nlevels)))

    def sums(self, v: np.ndarray) -> np.ndarray:
        """Per level, the sum of ``v`` over its rows (``np.bincount(codes, v, nlevels)``)."""
        s = np.add.reduceat(v, self.starts)
        return s if self.direct else np.bincount(self.levels, s, minlength=self.nlevels)

    def expand(self, values: np.ndarray) -> np.ndarray:
        """Per row, its level's value (``values.take(codes)``)."""
        per_run = values if self.direct else values.take(self.levels)
        return np.repeat(per_run, self.lengths)


def runs_of(codes: np.ndarray, nlevels: int) -> LevelRuns | None:
    """The runs of ``codes`` (integer levels in [0, nlevels)), or None when rows are too
    interleaved for runs to pay (more than :data:`MAX_RUN_FRACTION` of the rows)."""
    n = int(codes.size)
    if n == 0:
        return None
    change = np.flatnonzero(codes[1:] != codes[:-1]) + 1
    if change.size + 1 > MAX_RUN_FRACTION * n:
        return None
    starts = np.concatenate([[0], change]).astype(np.intp)
    return LevelRuns(starts, codes[starts].astype(np.intp), n, nlevels)
