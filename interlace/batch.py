"""Batches of fits: on local worker processes (default) or an existing Dask cluster.

Every fit of a batch ends with exactly one record (``ok``, ``warning`` or ``error``). Records
are appended to a JSON-lines file as each fit finishes, by the main process only, each line
by one write (so they survive the process being killed, and a kill never leaves part of one)
and synced to disk at least every second; a line that is not a record anyway (a power cut) is
dropped from the file on resume, with a warning, and its fit rerun. The table (CSV or
Parquet) is rewritten from them as the batch goes and at its end.
Rerunning a batch with the same output skips the fits whose content hash already has a
record, so a batch killed at any point (even with SIGKILL) loses no finished fit. A worker
process that dies costs only the fit it was running, which is retried once on a fresh worker
and then recorded as failed; a worker exits within a second of the main process dying, even
by SIGKILL (it watches for that itself).
"""

from __future__ import annotations

import json
import os
import sys
import time
import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

import pandas as pd

from interlace import parallel
from interlace.config.loader import (
    ConfigError,
    ConfigIssue,
    FitSpec,
    display_path,
    expand_paths,
    load,
)
from interlace.config.runner import TABLE_FIRST, failure_record, flatten, invalid_record, run_fit

MAX_ATTEMPTS = parallel.MAX_ATTEMPTS  # a fit whose worker dies is retried once


# -- where results go ---------------------------------------------------------------------
class StoreRepairWarning(UserWarning):
    """The records file held lines that are not records (a write cut short); they were
    dropped from it."""


def _parse_record(line: bytes) -> dict | None:
    """The record on one line of the records file, or None when the line is not one."""
    try:
        rec = json.loads(line)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    return rec if isinstance(rec, dict) and isinstance(rec.get("key"), str) else None


def _write_all(fd: int, data: bytes) -> None:
    """Write ``data`` to ``fd`` (one ``write`` call unless the OS takes only part of it)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


class ResultStore:
    """``out`` names the table: ``x.csv`` or ``x.parquet`` (records in ``x.jsonl`` beside it),
    ``x.jsonl`` (table ``x.csv`` beside it), or a folder (``results.jsonl`` and
    ``results.csv`` inside). ``fmt`` forces the table format."""

    def __init__(self, out: str | Path, fmt: str | None = None) -> None:
        out = Path(out)
        suffix = out.suffix.lower()
        if suffix in (".csv", ".parquet"):
            self.table, self.jsonl = out, out.with_suffix(".jsonl")
            fmt = fmt or suffix[1:]
        elif suffix in (".jsonl", ".json"):
            self.jsonl = out
            fmt = fmt or "csv"
            self.table = out.with_suffix("." + fmt)
        else:
            out.mkdir(parents=True, exist_ok=True)
            fmt = fmt or "csv"
            self.jsonl, self.table = out / "results.jsonl", out / f"results.{fmt}"
        if fmt not in ("csv", "parquet"):
            raise ValueError(f"table format must be csv or parquet, got {fmt!r}")
        if self.table.suffix.lower() != "." + fmt:
            self.table = self.table.with_suffix("." + fmt)
        self.fmt = fmt
        self.jsonl.parent.mkdir(parents=True, exist_ok=True)
        self._fd: int | None = None
        self.sync_every = 1.0  # seconds between fsyncs of the records
        self._synced = -1e9

    def load(self) -> dict[str, dict]:
        """The last record of each content hash. Lines that are not JSON records (a write cut
        short by a kill) are dropped from the file, with a :class:`StoreRepairWarning` naming
        the file and line, so that the file is valid JSON lines again and their fits rerun."""
        records: dict[str, dict] = {}
        if not self.jsonl.exists():
            return records
        raw = self.jsonl.read_bytes()
        keep: list[bytes] = []
        dropped: list[str] = []
        for n, line in enumerate(raw.splitlines(keepends=True), start=1):
            rec = _parse_record(line)
            if rec is None:
                if line.strip():
                    torn = "" if line.endswith(b"\n") else ", no newline at the end"
                    dropped.append(f"{self.jsonl}:{n}: dropped {line[:60]!r} ({len(line)} "
                                   f"bytes, not a JSON record{torn})")
                continue
            records[rec["key"]] = rec
            keep.append(line if line.endswith(b"\n") else line + b"\n")
        if dropped or (raw and not raw.endswith(b"\n")):
            self._rewrite(b"".join(keep))
        if dropped:
            warnings.warn("repaired the records file, most likely cut short by a killed batch; "
                          "the fits of the dropped lines are run again:\n  "
                          + "\n  ".join(dropped), StoreRepairWarning, stacklevel=2)
        return records

    def _rewrite(self, data: bytes) -> None:
        """Replace the records file by ``data`` at once (a temporary file, then a rename)."""
        tmp = self.jsonl.with_name(f".{self.jsonl.name}.{os.getpid()}.tmp")
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.jsonl)

    def append(self, rec: dict) -> None:
        """Append one record as one line, written by a single ``write`` of the whole line (a
        kill between records never leaves part of one); flushed at once, synced to disk at
        least every ``sync_every`` seconds."""
        if self._fd is None:
            needs_nl = False
            if self.jsonl.exists() and self.jsonl.stat().st_size > 0:
                with open(self.jsonl, "rb") as fh:
                    fh.seek(-1, os.SEEK_END)
                    needs_nl = fh.read(1) != b"\n"
            self._fd = os.open(self.jsonl, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
            if needs_nl:
                _write_all(self._fd, b"\n")
        _write_all(self._fd, (json.dumps(rec, allow_nan=False) + "\n").encode("utf-8"))
        now = time.monotonic()
        if now - self._synced >= self.sync_every:  # on disk: survives a power cut too
            os.fsync(self._fd)
            self._synced = now

    def close(self) -> None:
        if self._fd is not None:
            os.fsync(self._fd)
            os.close(self._fd)
            self._fd = None

    def write_table(self, records: list[dict]) -> None:
        rows = [flatten(r) for r in records]
        cols: list[str] = [c for c in TABLE_FIRST if any(c in r for r in rows)]
        for r in rows:
            cols += [c for c in r if c not in cols]
        df = pd.DataFrame(rows, columns=cols or TABLE_FIRST)
        tmp = self.table.with_name(f".{self.table.name}.{os.getpid()}.tmp")
        if self.fmt == "parquet":
            df.to_parquet(tmp, index=False)
        else:
            df.to_csv(tmp, index=False)
        os.replace(tmp, self.table)


# -- progress -----------------------------------------------------------------------------
class Progress:
    """A bar on a terminal; one plain log line per finished fit otherwise."""

    def __init__(self, total: int, done: int, stream: TextIO | None = None,
                 bar: bool | None = None) -> None:
        self.stream = stream or sys.stderr
        self.bar = self.stream.isatty() if bar is None else bar
        self.total, self.done, self.counts = total, done, Counter()
        self.t0 = time.perf_counter()
        self.ran = 0
        self._last = 0.0

    def log(self, text: str) -> None:
        if self.bar:
            self.stream.write("\r\x1b[2K")
        self.stream.write(text + "\n")
        if self.bar:
            self._draw(force=True)
        self.stream.flush()

    def update(self, rec: dict) -> None:
        self.done += 1
        self.ran += 1
        self.counts[rec["status"]] += 1
        if self.bar:
            if rec["status"] != "ok":
                self.log(f"{rec['status']}: {rec['name']}: {rec.get('message', '')}"[:300])
            self._draw()
        else:
            el = rec.get("elapsed_s")
            t = f"{el:.2f}s" if isinstance(el, (int, float)) else "-"
            msg = f"  {rec['message']}" if rec.get("message") else ""
            w = len(str(self.total))
            self.stream.write(f"[{self.done:>{w}}/{self.total}] {rec['status']:<7} {rec['name']} "
                              f"({t}){msg}\n"[:400])
            self.stream.flush()

    def _draw(self, force: bool = False) -> None:
        now = time.perf_counter()
        if not force and now - self._last < 0.1 and self.done < self.total:
            return
        self._last = now
        width = 30
        frac = self.done / self.total if self.total else 1.0
        filled = int(round(frac * width))
        rate = self.ran / max(now - self.t0, 1e-9)
        left = self.total - self.done
        eta = f"{left / rate:5.0f}s" if rate > 0 and left else ("    ?" if left else "   0s")
        c = self.counts
        self.stream.write(f"\r\x1b[2K[{'#' * filled}{'.' * (width - filled)}] {self.done}/"
                          f"{self.total}  ok {c['ok']} warn {c['warning']} err {c['error']}  "
                          f"{rate:5.1f} fits/s  eta {eta}")
        self.stream.flush()

    def close(self) -> None:
        if self.bar:
            self._draw(force=True)
            self.stream.write("\n")
            self.stream.flush()


# -- local worker processes and Dask (interlace.parallel) ----------------------------------
ORPHAN_EXIT_CODE = parallel.ORPHAN_EXIT_CODE
PARENT_CHECK_S = parallel.PARENT_CHECK_S
WorkerStartError = parallel.WorkerStartError
_worker_main = parallel.worker_main  # the worker processes' main function (tests replace it)


def _mp_context():
    """fork while this process has no other threads; otherwise a fork server that has
    imported interlace and its batch machinery (:func:`interlace.parallel.mp_context`)."""
    return parallel.mp_context(["interlace", "interlace.config", "interlace.batch"])


def run_local(todo: list[FitSpec], workers: int, emit, fit_fn=run_fit,
              fit_timeout: float | None = None, log=None) -> None:
    """Fit ``todo`` on ``workers`` local processes, calling ``emit(record)`` as each ends.

    A worker that dies while fitting costs that fit one attempt (it is retried once, then
    recorded as ``WorkerDied``); a worker that dies before it is ready costs nothing, but if
    workers keep dying at start the batch stops with :class:`WorkerStartError`."""
    context = _mp_context() if workers > 0 else None
    parallel.run_local(todo, workers, emit, fit_fn, failure_record, fit_timeout, log,
                       context=context, worker=_worker_main, what="fit")


def run_dask(todo: list[FitSpec], scheduler: str, emit, fit_fn=run_fit, log=None,
             connect_timeout: float = 30.0) -> None:
    """Fit ``todo`` on the Dask cluster at ``scheduler`` (``tcp://host:port``).

    No more fits are in flight than the cluster has worker threads, so a worker that dies
    holds only the fit it was running (Dask would otherwise queue several on each worker, and
    they all count as lost with it)."""
    parallel.run_dask(todo, scheduler, emit, fit_fn, failure_record, log, connect_timeout,
                      prefix="interlace-fit", what="fit")


# -- the batch ----------------------------------------------------------------------------
def load_keep_going(args: list[str | Path]) -> tuple[list[FitSpec], list[dict]]:
    """The fits of the config files, folders and globs in ``args`` for a batch that goes on
    past configs that do not validate (``interlace batch --keep-going``): the valid fits, and
    an error record (:func:`~interlace.config.runner.invalid_record`) for each file that does
    not validate (a file is validated as a whole: none of its fits runs), each argument that
    names no config file, and each fit that repeats an earlier one (same name and content)."""
    try:
        return load(args), []
    except ConfigError:
        pass
    files, arg_issues = expand_paths(list(args))
    invalid = [invalid_record(i.file, Path(i.file).name, [i]) for i in arg_issues]
    specs: list[FitSpec] = []
    first: dict[str, FitSpec] = {}
    for f in files:
        try:
            found = load([f])
        except ConfigError as exc:
            invalid.append(invalid_record(display_path(f), f.stem, exc.issues))
            continue
        for s in found:
            if s.key in first:
                why = (f"describes the same fit as {first[s.key].source} (same name and "
                       f"content); remove one or rename it")
                invalid.append(invalid_record(s.source, s.name, [ConfigIssue(s.source, None, "",
                                                                              why)]))
            else:
                first[s.key] = s
                specs.append(s)
    return specs, invalid


@dataclass
class BatchReport:
    total: int  # fits and configs that do not validate (each has one record)
    skipped: int
    ran: int
    counts: dict = field(default_factory=dict)  # status -> records in this batch
    elapsed_s: float = 0.0
    table: str = ""
    jsonl: str = ""
    invalid: int = 0  # configs that do not validate, recorded as errors (keep-going)

    @property
    def failed(self) -> int:
        return self.counts.get("error", 0)


def _record_invalid(invalid: list[dict], store: ResultStore, have: dict[str, dict],
                    prog: Progress) -> None:
    """Record the configs that do not validate (once: a rerun with the same problems adds
    no record) and report them as finished with an error."""
    for rec in invalid:
        if have.get(rec["key"]) != rec:
            store.append(rec)
            have[rec["key"]] = rec
        prog.update(rec)


def run_batch(specs: list[FitSpec], out: str | Path, workers: int | None = None,
              scheduler: str | None = None, fmt: str | None = None, retry_failed: bool = False,
              fit_timeout: float | None = None, fit_fn=run_fit, stream: TextIO | None = None,
              bar: bool | None = None, table_every: float = 1.0,
              invalid: list[dict] | None = None) -> BatchReport:
    """Run validated fits, resuming from what ``out`` already holds; see the module doc.
    ``invalid``: error records of configs that do not validate (from
    :func:`load_keep_going`), recorded with the fits' records and counted as errors."""
    t_start = time.perf_counter()
    invalid = invalid or []
    store = ResultStore(out, fmt)
    have = store.load()
    todo = [s for s in specs
            if s.key not in have or (retry_failed and have[s.key].get("status") == "error")]
    skipped = len(specs) - len(todo)
    prog = Progress(len(specs) + len(invalid), skipped, stream, bar)
    if workers is None:
        workers = os.cpu_count() or 1
    where = (f"the Dask cluster at {scheduler}" if scheduler else
             "this process" if workers <= 0 else
             f"{min(workers, len(todo))} local worker process(es)")
    prog.log(f"{len(specs)} fit(s); {skipped} already in {store.jsonl}; "
             + (f"running {len(todo)} on {where}" if todo else "nothing to run")
             + (f"; {len(invalid)} config(s) that do not validate, recorded as errors"
                if invalid else ""))
    _record_invalid(invalid, store, have, prog)
    keys = [s.key for s in specs] + [r["key"] for r in invalid]
    in_batch = set(keys)
    # the table is rewritten from the records at most every `table_every` seconds, and never
    # taking more than a tenth of the time (a big table is slow to write)
    timing = {"next": time.perf_counter() + table_every}

    def table() -> None:
        store.write_table([have[k] for k in keys if k in have])

    def emit(rec: dict) -> None:
        store.append(rec)
        have[rec["key"]] = rec
        prog.update(rec)
        now = time.perf_counter()
        if now >= timing["next"]:
            table()
            took = time.perf_counter() - now
            timing["next"] = time.perf_counter() + max(table_every, 10 * took)

    try:
        if todo:
            if scheduler:
                run_dask(todo, scheduler, emit, fit_fn, log=prog.log)
            else:
                run_local(todo, workers, emit, fit_fn, fit_timeout, log=prog.log)
    finally:
        store.close()
        table()
        prog.close()
    counts = Counter(have[k]["status"] for k in in_batch if k in have)
    return BatchReport(total=len(keys), skipped=skipped, ran=len(todo), counts=dict(counts),
                       elapsed_s=time.perf_counter() - t_start, table=str(store.table),
                       jsonl=str(store.jsonl), invalid=len(invalid))
