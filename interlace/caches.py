"""Every module-level cache of the package: bounded, named, and listed in one place.

A cache is a function decorated with :func:`bounded_cache` (a :func:`functools.lru_cache`
with a finite bound, registered under a name with its purpose). :func:`cache_info` reports
them all, :func:`clear_caches` empties them all; no other module may use ``lru_cache`` or
``functools.cache`` (``tests/test_caches.py`` scans the source). A cache is registered when
its module is imported, so :func:`cache_info` lists only the caches of modules loaded so far.

Measured on the development machine (December 2026): a warm ``interlace.fit`` of sleepstudy's
``Reaction ~ Days + (Days | Subject)`` takes 0.74 ms; after :func:`clear_caches` it takes 11 ms.

============================  =====  ==================================================================
name                          bound  what it saves (per miss)
============================  =====  ==================================================================
``formula.parse``             256    splitting a formula text into response, fixed part, random terms
                                     and offsets (``model/formula.py``): 72 us, paid by every fit and
                                     refit (``anova``, batch fits of one config)
``columns.required_columns``  512    formulaic's parse of a term expression to the columns it reads
                                     (``model/columns.py``): 0.2 ms an expression
``fixed.simple_terms``        512    recognising a plain sum of columns (``y ~ a + b``), the fast
                                     path that bypasses formulaic (``model/fixed.py``): 2 us
``fixed.simple_spec``         256    formulaic's ModelSpec of a plain sum for given column dtypes
                                     and text levels: 3.3 ms, most of a small LMM's set-up
``terms.tri_positions``       64     theta's (row, col) positions in Lambda per (size, correlated)
                                     (``model/terms.py``): 17 us, read-only arrays shared by terms
``lmm.dense_layout``          8      index arrays of the dense (q + p) LMM system per shape of the
                                     random terms (``lmm/``, ``dense_layout``): 66 us for sleepstudy, 1.9
                                     ms for 60 levels x 2 columns; layouts of more than 65,536
                                     position pairs (megabytes) are never kept
``agq.gauss_hermite``         32     Gauss-Hermite nodes and log-weights per number of points
                                     (``integrators/agq.py``): 0.34 ms for 25 points
``blas.controller``           1      threadpoolctl's inspection of the loaded libraries
                                     (``linalg/blas.py``): 0.7-2 ms, once per process
``blas.libraries``            1      the BLAS libraries among them, held at one thread per fit
``config.file_digest``        256    sha256 of a data file named in configs, keyed by path, size and
                                     modification time (``config/data.py``): a batch hashes a file
                                     once, not once per fit (37 us for 18 kB; linear in the size)
============================  =====  ==================================================================

Bounds: the formula, column and fixed-effects caches hold a few kilobytes an entry, so hundreds
of entries (every formula of a large batch of configs) cost well under a megabyte; the dense
layouts hold up to a few megabytes each, so only eight are kept.

Not a cache: the plugin registry (``interlace.registry.registry()``) is a process-wide
singleton holding state (plugins registered at run time, plugin failures); emptying it would
lose that state, so it is not here; :func:`interlace.reload_plugins` rebuilds it on purpose.
Per-object caches (``cached_property``, a fit's objective keeping its last few solutions)
live and die with their object and are not module-level.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


class CacheInfo(NamedTuple):
    """Statistics of one cache: hits and misses since it was last cleared, entries held now,
    and the most it may hold."""

    hits: int
    misses: int
    size: int
    maxsize: int


@dataclass(frozen=True)
class Cache:
    """One registered cache: its name, bound, purpose and the cached function."""

    name: str
    maxsize: int
    purpose: str
    function: Any  # the functools.lru_cache wrapper

    def info(self) -> CacheInfo:
        """Its hits, misses, size and bound."""
        i = self.function.cache_info()
        return CacheInfo(i.hits, i.misses, i.currsize, self.maxsize)

    def clear(self) -> None:
        """Empty it (and reset its statistics)."""
        self.function.cache_clear()


_CACHES: dict[str, Cache] = {}


def bounded_cache(name: str, maxsize: int, purpose: str | None = None) -> Callable[[F], F]:
    """Decorate a function with ``functools.lru_cache(maxsize)`` and register the cache.

    ``name`` identifies it in :func:`cache_info` (``"<area>.<what>"``, e.g. ``"formula.parse"``);
    ``maxsize`` is its bound, a positive integer (an unbounded cache is refused); ``purpose``
    says what it saves (default: the first paragraph of the function's docstring; one of the two is
    required). Registering a name again (a module reloaded) replaces the earlier cache.
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"a cache needs a name, got {name!r}")
    if isinstance(maxsize, bool) or not isinstance(maxsize, int) or maxsize < 1:
        raise ValueError(f"cache {name!r} needs a positive integer bound, got {maxsize!r}")

    def decorate(func: F) -> F:
        doc = inspect.cleandoc(func.__doc__ or "").split("\n\n")[0]
        what = purpose or " ".join(doc.split())
        if not what:
            raise ValueError(f"cache {name!r}: say what it saves (purpose=... or a docstring)")
        cached = functools.lru_cache(maxsize=maxsize)(func)
        _CACHES[name] = Cache(name, maxsize, what, cached)
        return cached  # type: ignore[return-value]

    return decorate


def registered_caches() -> dict[str, Cache]:
    """Every registered cache by name (those of the modules imported so far)."""
    return dict(_CACHES)


def cache_info() -> dict[str, CacheInfo]:
    """``{name: (hits, misses, size, maxsize)}`` for every registered cache."""
    return {name: c.info() for name, c in sorted(_CACHES.items())}


def clear_caches() -> None:
    """Empty every registered cache (e.g. between benchmarks, or to release memory)."""
    for c in _CACHES.values():
        c.clear()
