"""One BLAS thread per fit: the batch runner, not BLAS, parallelises (see :func:`blas_limit`)."""

from __future__ import annotations

from threadpoolctl import ThreadpoolController

from interlace.caches import bounded_cache


def blas_limit(ctx=None):
    """One BLAS thread per fit. numpy and scipy each load an OpenBLAS with its own pool; on
    small dense blocks the two pools contend (10-20x slower), and on large ones two threads
    won 25% on an idle machine but lost 3x when other processes (batch workers) shared the
    cores. Parallelism belongs to the batch runner, one fit per core."""
    return _OneBlasThread(_blas_libraries())


@bounded_cache("blas.libraries", 1)
def _blas_libraries() -> list:
    """The loaded BLAS libraries' controllers, found once per process."""
    return [lc for lc in _blas_controller().lib_controllers if lc.user_api == "blas"]


class _OneBlasThread:
    """``with``: each BLAS library at one thread, its previous count restored after - what
    threadpoolctl's ``limit`` does, without re-inspecting the libraries on every call (~2 us
    instead of ~15, which small LMM fits notice)."""

    def __init__(self, libs: list) -> None:
        self._libs = libs
        self._saved: list[int] = []

    def __enter__(self) -> _OneBlasThread:
        self._saved = [lc.get_num_threads() for lc in self._libs]
        for lc, n in zip(self._libs, self._saved):
            if n != 1:
                lc.set_num_threads(1)
        return self

    def __exit__(self, *exc) -> None:
        for lc, n in zip(self._libs, self._saved):
            if n != 1:
                lc.set_num_threads(n)


@bounded_cache("blas.controller", 1)
def _blas_controller() -> ThreadpoolController:
    """One controller per process: inspecting the loaded BLAS libraries costs ~0.7 ms."""
    return ThreadpoolController()
