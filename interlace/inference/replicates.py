"""Many replicates of a simulate-and-refit job: in this process, on local worker processes or
on a Dask cluster (:mod:`interlace.parallel`), with one record per chunk of replicates.

A job is a callable ``job(rng) -> values`` (``job.size`` floats) that draws from the random
stream it is given; replicate i gets stream i of the run's seed (:mod:`interlace.inference.seeds`)
and every refit starts at the original fit's estimates, so the values do not depend on where
or in which chunk a replicate ran: the same seed gives the same values for any number of
workers. A replicate that raises is a failure (its message kept, its values NaN); a warning
it raises is kept with it. A chunk whose worker dies twice fails as a whole.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from interlace import parallel
from interlace.errors import InterlaceError
from interlace.inference.seeds import check_nsim, replicate_rng, seed_sequence

CHUNKS_PER_WORKER = 4  # local chunks per worker process: balances uneven refit times
DASK_CHUNKS = 32  # chunks of a run on Dask (the cluster's threads share them)


@dataclass(frozen=True)
class Chunk:
    """Replicates ``start`` to ``stop - 1``: one task of :mod:`interlace.parallel`."""

    start: int
    stop: int

    @property
    def name(self) -> str:
        return f"replicates {self.start}..{self.stop - 1}"

    @property
    def key(self) -> str:
        return f"{self.start}-{self.stop}"


@dataclass
class ChunkRunner:
    """Runs the job on each replicate of a chunk with its own stream; sent to the workers."""

    job: Any
    root: np.random.SeedSequence

    def __call__(self, chunk: Chunk) -> dict:
        values = np.full((chunk.stop - chunk.start, self.job.size), np.nan)
        errors: dict[int, str] = {}
        warned: dict[int, str] = {}
        for i in range(chunk.start, chunk.stop):
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                try:
                    values[i - chunk.start] = self.job(replicate_rng(self.root, i))
                except Exception as exc:  # noqa: BLE001 - a failed refit is a failed replicate
                    errors[i] = f"{type(exc).__name__}: {exc}"
            if caught:
                warned[i] = str(caught[0].message)
        return {"key": chunk.key, "start": chunk.start, "values": values, "errors": errors,
                "warnings": warned}


def run_shared(runner: ChunkRunner, chunk: Chunk) -> dict:
    """``runner(chunk)``: the task function on Dask, where the runner is sent once."""
    return runner(chunk)


def chunk_failure(chunk: Chunk, message: str, error_type: str, attempts: int) -> dict:
    """The record of a chunk that never returned: every replicate in it failed."""
    return {"key": chunk.key, "start": chunk.start, "values": None, "warnings": {},
            "errors": {i: f"{error_type}: {message}" for i in range(chunk.start, chunk.stop)},
            "attempts": attempts}


@dataclass
class Replicates:
    """The values of every replicate (``nsim`` x ``job.size``, NaN rows where it failed), the
    failures' and the warnings' messages by replicate, and the run's root seed."""

    values: np.ndarray
    errors: dict[int, str] = field(default_factory=dict)
    warnings: dict[int, str] = field(default_factory=dict)
    root: np.random.SeedSequence | None = None

    @property
    def ok(self) -> np.ndarray:
        """Which replicates succeeded."""
        failed = np.zeros(self.values.shape[0], bool)
        failed[list(self.errors)] = True
        return ~failed


def chunks(nsim: int, parts: int) -> list[Chunk]:
    """``nsim`` replicates in about ``parts`` chunks of consecutive indices."""
    edges = np.unique(np.linspace(0, nsim, max(1, min(parts, nsim)) + 1).round().astype(int))
    return [Chunk(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:])]


def check_workers(workers: Any) -> int:
    """Worker processes: None (one per core), 0 (this process) or a positive integer."""
    if workers is None:
        return os.cpu_count() or 1
    if isinstance(workers, bool) or not isinstance(workers, (int, np.integer)) or workers < 0:
        raise InterlaceError(f"workers must be None (one per core), 0 (this process) or a "
                             f"positive integer, got {workers!r}")
    return int(workers)


def run_replicates(job: Any, nsim: int, seed: Any = None, workers: Any = None,
                   scheduler: Any = None) -> Replicates:
    """``nsim`` replicates of ``job``: on the Dask cluster ``scheduler`` (an address or a
    ``distributed.Client``) when given, else on ``workers`` local processes (see
    :func:`check_workers`)."""
    nsim = check_nsim(nsim)
    root = seed_sequence(seed)
    runner = ChunkRunner(job, root)
    records: dict[str, dict] = {}

    def emit(rec: dict) -> None:
        records[rec["key"]] = rec

    if scheduler is not None:
        parallel.run_dask(chunks(nsim, DASK_CHUNKS), scheduler, emit, run_shared, chunk_failure,
                          prefix="interlace-replicates", shared=runner, what="replicates")
    else:
        n = check_workers(workers)
        todo = chunks(nsim, n * CHUNKS_PER_WORKER) if n > 0 else [Chunk(0, nsim)]
        parallel.run_local(todo, n, emit, runner, chunk_failure,
                           context=parallel.mp_context() if n > 0 else None,
                           what="replicates")
    return assemble(records.values(), nsim, job.size, root)


def assemble(records, nsim: int, size: int, root: np.random.SeedSequence) -> Replicates:
    """The chunks' records in replicate order."""
    out = Replicates(np.full((nsim, size), np.nan), root=root)
    for rec in records:
        if rec["values"] is not None:
            v = np.asarray(rec["values"], dtype=float)
            out.values[rec["start"]:rec["start"] + v.shape[0]] = v
        out.errors.update(rec["errors"])
        out.warnings.update(rec["warnings"])
    out.errors = dict(sorted(out.errors.items()))
    out.warnings = dict(sorted(out.warnings.items()))
    return out
