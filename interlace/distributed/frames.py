"""Recognising a Dask DataFrame and finding the Dask client a fit runs on."""

from __future__ import annotations

from typing import Any

from interlace.errors import InterlaceError


def is_dask_frame(data: Any) -> bool:
    """Whether ``data`` is a Dask DataFrame (checked without importing dask)."""
    mod = type(data).__module__ or ""
    return mod.startswith("dask") and hasattr(data, "npartitions") and hasattr(data, "to_delayed")


def active_client(client: Any = None) -> Any:
    """``client``, else the active ``dask.distributed`` client; a clear error without one."""
    if client is not None:
        return client
    try:
        from distributed import get_client
    except ImportError:  # pragma: no cover - dask[distributed] is a dependency of this path
        raise InterlaceError("fitting on a Dask DataFrame needs dask.distributed "
                             "(pip install 'dask[distributed]')") from None
    try:
        return get_client()
    except ValueError:
        raise InterlaceError(
            "fitting on a Dask DataFrame needs a running Dask client: start one with "
            "distributed.Client(...) (or a LocalCluster) before calling glmer / fit, or "
            "pass --scheduler tcp://HOST:PORT on the command line") from None
