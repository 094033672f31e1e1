"""Map-reduce passes over the partitions held on the workers, and their log.

A pass sends a small payload (parameters, a few broadcast matrices) to every partition, runs a
statistics function there and sums the results in a tree on the workers; only the total
reaches the driver. A worker lost during a pass makes Dask recompute its partitions from their
lineage and rerun its tasks; a cluster that stops answering raises
:class:`~interlace.errors.InterlaceError` after ``timeout`` seconds instead of hanging.
"""

from __future__ import annotations

import pickle
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from interlace.errors import InterlaceError

FAN_IN = 8  # partial sums added together per reduction task
SCATTER_BYTES = 100_000  # payloads above this are broadcast to the workers once


@dataclass
class PassLog:
    """What a distributed fit cost: one entry per pass (its kind, seconds, bytes of the
    partitions' partial sums, bytes of the total the driver received, bytes broadcast)."""

    kinds: list[str] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    partial_bytes: list[int] = field(default_factory=list)
    result_bytes: list[int] = field(default_factory=list)
    payload_bytes: list[int] = field(default_factory=list)

    @property
    def passes(self) -> int:
        return len(self.kinds)

    def counts(self) -> dict[str, int]:
        """Passes by kind."""
        out: dict[str, int] = {}
        for k in self.kinds:
            out[k] = out.get(k, 0) + 1
        return out

    def summary(self) -> dict[str, Any]:
        """Totals and means, for reports and benchmarks."""
        n = max(self.passes, 1)
        return {"passes": self.passes, "by_kind": self.counts(),
                "seconds": sum(self.seconds),
                "mean_partial_bytes": sum(self.partial_bytes) / n,
                "mean_result_bytes": sum(self.result_bytes) / n,
                "mean_payload_bytes": sum(self.payload_bytes) / n}


def add_stats(*parts: dict) -> dict:
    """The sum of partial statistics (dicts of arrays, sparse matrices and numbers; sets are
    joined)."""
    out = dict(parts[0])
    for p in parts[1:]:
        for k, v in p.items():
            if k not in out:
                out[k] = v
            elif isinstance(v, (set, frozenset)):
                out[k] = out[k] | v
            else:
                out[k] = out[k] + v
    return out


def measured(fn: Callable, part: Any, payload: Any) -> dict:
    """``fn(part, payload)`` with the pickled size of its result added as ``_bytes``."""
    out = fn(part, payload)
    out["_bytes"] = len(pickle.dumps(out, protocol=pickle.HIGHEST_PROTOCOL))
    return out


class Passes:
    """The partitions (futures of partition designs on the workers) and the passes over them."""

    def __init__(self, client: Any, parts: list, timeout: float = 600.0) -> None:
        self.client, self.parts, self.timeout = client, parts, float(timeout)
        self.log = PassLog()

    def check_alive(self) -> None:
        """A clear error when the client has lost its cluster (instead of waiting on it)."""
        status = getattr(self.client, "status", "running")
        if status != "running":
            raise InterlaceError(
                f"the Dask cluster is not available (client status {status!r}): the fit cannot "
                f"continue; restart the cluster and fit again")

    def gather(self, futures: list, what: str) -> list:
        """The futures' values, or InterlaceError if the cluster does not deliver in time."""
        from distributed import wait

        try:
            wait(futures, timeout=self.timeout)
            return self.client.gather(futures)
        except InterlaceError:
            raise
        except Exception as exc:  # noqa: BLE001 - timeouts, lost connections, killed workers
            name = type(exc).__name__
            raise InterlaceError(
                f"the Dask cluster did not complete {what} ({name}: {exc}); the cluster may be "
                f"down or have no workers left (timeout {self.timeout:g} s)") from None

    def leaves(self, fn: Callable, payload: Any, parts: list | None) -> list:
        """One task per partition: futures held here, or Dask delayed objects (raw data)."""
        c = self.client
        if parts is not None:  # delayed partitions of the raw data: read where they run
            from dask import delayed

            return c.compute([delayed(measured)(fn, p, payload) for p in parts])
        size = len(pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL))
        pay = c.scatter(payload, broadcast=True, hash=False) if size > SCATTER_BYTES else payload
        return c.map(measured, [fn] * len(self.parts), self.parts, [pay] * len(self.parts),
                     pure=False)

    def run(self, kind: str, fn: Callable, payload: Any, parts: list | None = None) -> dict:
        """One pass: ``fn(partition, payload)`` on every partition, summed on the workers
        (``parts``: Dask delayed partitions to run on instead of the held ones)."""
        self.check_alive()
        t0 = time.perf_counter()
        size = len(pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL))
        c = self.client
        try:
            level = self.leaves(fn, payload, parts)
            while len(level) > FAN_IN:  # a tree of sums on the workers; the last few here
                level = [c.submit(add_stats, *level[i:i + FAN_IN], pure=False)
                         for i in range(0, len(level), FAN_IN)]
        except InterlaceError:
            raise
        except Exception as exc:  # noqa: BLE001 - a closed client raises on submit
            raise InterlaceError(f"the Dask cluster refused a {kind} pass "
                                 f"({type(exc).__name__}: {exc})") from None
        out = add_stats(*self.gather(level, f"a {kind} pass"))
        log = self.log
        log.kinds.append(kind)
        log.seconds.append(time.perf_counter() - t0)
        log.partial_bytes.append(int(out.pop("_bytes")))
        log.result_bytes.append(len(pickle.dumps(out, protocol=pickle.HIGHEST_PROTOCOL)))
        log.payload_bytes.append(size)
        return out
