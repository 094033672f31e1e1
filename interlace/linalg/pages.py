"""No transparent-huge-page advice from numpy during a fit (see :class:`SmallPages`)."""

from __future__ import annotations

import numpy as np


def _madvise_setter():
    """numpy's switch for ``madvise(MADV_HUGEPAGE)`` on large arrays (None where this numpy
    has none)."""
    core = getattr(np, "_core", None) or getattr(np, "core", None)
    return getattr(getattr(core, "multiarray", None), "_set_madvise_hugepage", None)


class SmallPages:
    """``with``: numpy asks for no huge pages, its previous setting restored after. With the
    kernel's default ``defrag=madvise`` each first touch of an advised page may compact memory
    in place: a fresh process's first 1M-row Poisson fit took 1.1-1.7 s with the advice and
    0.6 s without (warm fits 0.38 s and 0.43 s; InstEval's LMM 1.58 -> 1.03 s cold)."""

    def __init__(self) -> None:
        self._set = _madvise_setter()
        self._saved: bool | None = None

    def __enter__(self) -> SmallPages:
        if self._set is not None:
            self._saved = bool(self._set(False))
        return self

    def __exit__(self, *exc) -> None:
        if self._set is not None and self._saved is not None:
            self._set(self._saved)
