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
import multiprocessing as mp
import os
import signal
import sys
import threading
import time
import uuid
import warnings
from collections import Counter, deque
from dataclasses import dataclass, field
from multiprocessing.connection import wait
from pathlib import Path
from typing import Any, TextIO

import pandas as pd

from interlace.config.loader import (
    ConfigError,
    ConfigIssue,
    FitSpec,
    display_path,
    expand_paths,
    load,
)
from interlace.config.runner import TABLE_FIRST, failure_record, flatten, invalid_record, run_fit

MAX_ATTEMPTS = 2  # a fit whose worker dies is retried once


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


# -- local worker processes ---------------------------------------------------------------
ORPHAN_EXIT_CODE = 75  # a worker that outlived the batch's main process exits with it
PARENT_CHECK_S = 0.5  # how often a worker checks that the batch's main process is alive


def _pid_alive(pid: int) -> bool:
    """Whether process ``pid`` runs (a zombie, dead but not yet reaped, does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: the pid was reused, ours is gone
        return False
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            state = fh.read().rsplit(b")", 1)[1].split()[0]
    except (OSError, IndexError):  # no /proc (macOS): kill(pid, 0) is all we know
        return True
    return state not in (b"Z", b"X")


def _watch_parent(main_pid: int, interval: float = PARENT_CHECK_S) -> threading.Thread:
    """Start a daemon thread that ends this worker (``os._exit``) within ``interval`` seconds
    of the batch's main process dying, however it dies (SIGKILL included, which no handler
    in the main process can catch): the worker is reparented, so its parent pid changes, or
    ``main_pid`` no longer runs (the worker's parent is a fork server). Without it a worker
    busy with a long fit, or blocked reading a pipe whose other end it inherited, would
    outlive the batch for good."""
    ppid = os.getppid()

    def watch() -> None:
        while True:
            time.sleep(interval)
            if os.getppid() != ppid or not _pid_alive(main_pid):
                os._exit(ORPHAN_EXIT_CODE)

    t = threading.Thread(target=watch, name="interlace-parent-watch", daemon=True)
    t.start()
    return t


def _worker_main(conn, fit_fn, main_pid: int | None = None) -> None:
    """A worker: say it is ready, then fit what arrives on ``conn`` until told to stop or the
    batch's main process ``main_pid`` is gone (see :func:`_watch_parent`)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the main process's business
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if main_pid is not None:
        _watch_parent(main_pid)
    try:
        conn.send(("ready", os.getpid()))
    except (BrokenPipeError, OSError):
        return
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            return
        if msg is None:
            return
        tid, spec = msg
        try:
            rec = fit_fn(spec)
        except Exception as exc:  # noqa: BLE001 - a custom fit_fn that raises
            rec = failure_record(spec, f"{type(exc).__name__}: {exc}", type(exc).__name__, 1)
        try:
            conn.send(("done", tid, rec))
        except (BrokenPipeError, OSError):
            return


def _mp_context():
    """fork while this process has no other threads (fast, and no re-import of a script's
    main module); otherwise forkserver, which is safe with threads."""
    methods = mp.get_all_start_methods()
    if "fork" in methods and threading.active_count() == 1:
        return mp.get_context("fork")
    if "forkserver" in methods:
        ctx = mp.get_context("forkserver")
        ctx.set_forkserver_preload(["interlace", "interlace.config", "interlace.batch"])
        return ctx
    return mp.get_context("spawn")


class WorkerStartError(RuntimeError):
    """Local worker processes die before they can take a fit."""


class _Slot:
    def __init__(self, ctx, fit_fn) -> None:
        self.conn, child = ctx.Pipe(duplex=True)
        self.proc = ctx.Process(target=_worker_main, args=(child, fit_fn, os.getpid()),
                                daemon=True, name="interlace-fit-worker")
        self.proc.start()
        child.close()
        self.ready = False
        self.task: tuple[FitSpec, int, float] | None = None

    def stop(self, grace: float = 2.0) -> None:
        try:
            self.conn.send(None)
        except (BrokenPipeError, OSError):
            pass
        self.proc.join(grace)
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join(grace)
        self.conn.close()


def _exit_text(code: int | None) -> str:
    if code is None:
        return "unknown exit"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


def run_local(todo: list[FitSpec], workers: int, emit, fit_fn=run_fit,
              fit_timeout: float | None = None, log=None) -> None:
    """Fit ``todo`` on ``workers`` local processes, calling ``emit(record)`` as each ends.

    A worker that dies while fitting costs that fit one attempt (it is retried once, then
    recorded as ``WorkerDied``); a worker that dies before it is ready costs nothing, but if
    workers keep dying at start the batch stops with :class:`WorkerStartError`."""
    log = log or (lambda s: None)
    if workers <= 0:  # in this process: no isolation, for debugging
        for spec in todo:
            emit(fit_fn(spec))
        return
    ctx = _mp_context()
    queue: deque[tuple[FitSpec, int]] = deque((s, 1) for s in todo)
    slots = [_Slot(ctx, fit_fn) for _ in range(min(workers, len(todo)))]
    tid = 0
    start_failures = 0
    try:
        while queue or any(s.task for s in slots):
            for s in slots:
                if s.ready and s.task is None and queue:
                    spec, att = queue.popleft()
                    tid += 1
                    try:
                        s.conn.send((tid, spec))
                    except (BrokenPipeError, OSError):  # it died idle: the sentinel tells
                        queue.appendleft((spec, att))
                        continue
                    s.task = (spec, att, time.monotonic())
            timeout = 0.25 if fit_timeout else None
            ready = wait([s.conn for s in slots] + [s.proc.sentinel for s in slots], timeout)
            for i, s in enumerate(slots):
                died = False
                if s.conn in ready or s.proc.sentinel in ready:
                    try:
                        while s.conn.poll():
                            msg = s.conn.recv()
                            if msg[0] == "ready":
                                s.ready, start_failures = True, 0
                            elif s.task is not None:
                                rec, (spec, att, _) = msg[2], s.task
                                rec["attempts"] = att
                                s.task = None
                                emit(rec)
                    except (EOFError, OSError):
                        died = True
                    died = died or (s.proc.sentinel in ready and not s.proc.is_alive())
                if died:
                    s.proc.join(5)
                    why = _exit_text(s.proc.exitcode)
                    s.conn.close()
                    if not s.ready:
                        start_failures += 1
                        if start_failures >= 3:
                            raise WorkerStartError(
                                f"local worker processes die as they start ({why}); when "
                                f"run_batch is called from a script, put the call under "
                                f"if __name__ == '__main__':")
                    slots[i] = _Slot(ctx, fit_fn)
                    if s.task is not None:
                        spec, att, _ = s.task
                        if not s.ready:
                            queue.appendleft((spec, att))
                        elif att < MAX_ATTEMPTS:
                            log(f"worker died during fit {spec.name} ({why}); retrying it once")
                            queue.appendleft((spec, att + 1))
                        else:
                            emit(failure_record(spec, f"worker process died during the fit "
                                                      f"({why}) on all {att} attempts",
                                                "WorkerDied", att))
                elif s.task is not None and fit_timeout and time.monotonic() - s.task[2] > fit_timeout:
                    spec, att, _ = s.task
                    s.proc.kill()
                    s.proc.join(5)
                    s.conn.close()
                    slots[i] = _Slot(ctx, fit_fn)
                    emit(failure_record(spec, f"the fit took longer than {fit_timeout:g} s and "
                                              f"was stopped", "TimeoutError", att))
    finally:
        for s in slots:
            s.stop()


# -- Dask ---------------------------------------------------------------------------------
def run_dask(todo: list[FitSpec], scheduler: str, emit, fit_fn=run_fit, log=None,
             connect_timeout: float = 30.0) -> None:
    """Fit ``todo`` on the Dask cluster at ``scheduler`` (``tcp://host:port``).

    No more fits are in flight than the cluster has worker threads, so a worker that dies
    holds only the fit it was running (Dask would otherwise queue several on each worker, and
    they all count as lost with it)."""
    try:
        from distributed import Client, as_completed
    except ImportError:
        raise RuntimeError("--scheduler needs Dask: pip install 'interlace[dask]'") from None
    log = log or (lambda s: None)
    run_id = uuid.uuid4().hex[:8]
    with Client(scheduler, timeout=f"{connect_timeout}s") as client:
        info = client.scheduler_info()
        log(f"Dask scheduler {scheduler}: {len(info.get('workers', {}))} worker(s)")
        meta: dict[Any, tuple[FitSpec, int]] = {}
        pending: deque[tuple[FitSpec, int]] = deque((s, 1) for s in todo)
        ac = as_completed(with_results=True, raise_errors=False)  # results come with it
        inflight = 0
        cap = {"n": 0, "asked": -1e9}

        def capacity(fresh: bool = False) -> int:
            """Live worker threads, asked of the scheduler every few seconds and at once after
            a fit failed on the cluster (a worker may be gone)."""
            now = time.monotonic()
            if fresh or now - cap["asked"] > 3.0:
                cap["n"], cap["asked"] = max(1, sum(client.nthreads().values())), now
            return cap["n"]

        def fill() -> None:
            nonlocal inflight
            while pending and inflight < capacity():
                spec, att = pending.popleft()
                fut = client.submit(fit_fn, spec, pure=False,
                                    key=f"interlace-fit-{spec.key}-{run_id}-a{att}")
                meta[fut.key] = (spec, att)
                ac.add(fut)
                inflight += 1

        fill()
        while inflight:
            fut, rec = next(ac)
            inflight -= 1
            spec, att = meta.pop(fut.key)
            try:
                if isinstance(rec, BaseException):  # KilledWorker, a lost connection, ...
                    raise rec
                rec["attempts"] = att
            except Exception as exc:  # noqa: BLE001
                why = f"{type(exc).__name__}: {exc}"
                capacity(fresh=True)
                if att < MAX_ATTEMPTS:
                    log(f"fit {spec.name} failed on the cluster ({why[:200]}); retrying it once")
                    pending.appendleft((spec, att + 1))
                    rec = None
                else:
                    rec = failure_record(spec, f"the fit failed on the cluster on all {att} "
                                               f"attempts: {why}", type(exc).__name__, att)
            finally:
                fut.release()
            if rec is not None:
                emit(rec)
            fill()


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
