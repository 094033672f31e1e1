"""The process settings a fit runs under: one BLAS thread and no huge-page advice."""

from __future__ import annotations

from interlace.linalg.blas import blas_limit
from interlace.linalg.pages import SmallPages


class _FitLimits:
    """``with``: :func:`~interlace.linalg.blas.blas_limit` and :class:`SmallPages` together,
    both restored after (a plain class: small LMM fits notice an ExitStack's microseconds)."""

    def __init__(self) -> None:
        self._blas, self._pages = blas_limit(), SmallPages()

    def __enter__(self) -> _FitLimits:
        self._blas.__enter__()
        self._pages.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self._pages.__exit__(*exc)
        self._blas.__exit__(*exc)


def fit_limits() -> _FitLimits:
    """What every fit runs under: one BLAS thread (the batch runner parallelises) and numpy
    without huge-page advice (first touches of advised pages stall a fresh process)."""
    return _FitLimits()
