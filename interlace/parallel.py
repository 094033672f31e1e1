"""Tasks on local worker processes or an existing Dask cluster, one record per task.

The machinery under :mod:`interlace.batch` (fits of configs) and the parametric bootstrap
(:mod:`interlace.inference.replicates`): a task is any object with a ``name`` (for messages)
and a ``key`` (unique in its run); ``fn(task)`` returns its record, a dict. Whatever happens,
each task ends with one call of ``emit(record)``: its own record, or ``on_failure(task,
message, error_type, attempts)`` when ``fn`` raised, its worker died twice (a task whose worker
dies is retried once on a fresh worker), it ran past ``timeout`` or the cluster lost it twice.

Local workers are processes started by :mod:`multiprocessing` (fork while the process has no
other threads, else a fork server); each watches the main process and exits within a second
of it dying, even by SIGKILL. On Dask, no more tasks are in flight than the cluster has worker
threads, so a worker that dies holds only the task it was running.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable
from multiprocessing.connection import wait
from typing import Any

MAX_ATTEMPTS = 2  # a task whose worker dies is retried once
ORPHAN_EXIT_CODE = 75  # a worker that outlived the main process exits with it
PARENT_CHECK_S = 0.5  # how often a worker checks that the main process is alive

Emit = Callable[[dict], None]
OnFailure = Callable[[Any, str, str, int], dict]


class WorkerStartError(RuntimeError):
    """Local worker processes die before they can take a task."""


# -- the worker side ------------------------------------------------------------------------
def pid_alive(pid: int) -> bool:
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


def watch_parent(main_pid: int, interval: float = PARENT_CHECK_S) -> threading.Thread:
    """Start a daemon thread that ends this worker (``os._exit``) within ``interval`` seconds
    of the main process dying, however it dies (SIGKILL included, which no handler in the main
    process can catch): the worker is reparented, so its parent pid changes, or ``main_pid`` no
    longer runs (the worker's parent is a fork server). Without it a worker busy with a long
    task, or blocked reading a pipe whose other end it inherited, would outlive the run."""
    ppid = os.getppid()

    def watch() -> None:
        while True:
            time.sleep(interval)
            if os.getppid() != ppid or not pid_alive(main_pid):
                os._exit(ORPHAN_EXIT_CODE)

    t = threading.Thread(target=watch, name="interlace-parent-watch", daemon=True)
    t.start()
    return t


def worker_main(conn, fn: Callable[[Any], dict], main_pid: int | None = None) -> None:
    """A worker: say it is ready, then run ``fn`` on what arrives on ``conn`` until told to
    stop or the main process ``main_pid`` is gone (see :func:`watch_parent`). A task whose
    ``fn`` raises is answered with ("failed", id, message, error type)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the main process's business
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if main_pid is not None:
        watch_parent(main_pid)
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
        tid, task = msg
        try:
            reply = ("done", tid, fn(task))
        except Exception as exc:  # noqa: BLE001 - the task's own failure becomes its record
            reply = ("failed", tid, f"{type(exc).__name__}: {exc}", type(exc).__name__)
        try:
            conn.send(reply)
        except (BrokenPipeError, OSError):
            return


def mp_context(preload: Iterable[str] = ("interlace",)):
    """fork while this process has no other threads (fast, and no re-import of a script's
    main module); otherwise a fork server (safe with threads) that has imported ``preload``."""
    methods = mp.get_all_start_methods()
    if "fork" in methods and threading.active_count() == 1:
        return mp.get_context("fork")
    if "forkserver" in methods:
        ctx = mp.get_context("forkserver")
        ctx.set_forkserver_preload(list(preload))
        return ctx
    return mp.get_context("spawn")


def exit_text(code: int | None) -> str:
    """A process's exit code in words (``killed by SIGKILL``, ``exit code 3``)."""
    if code is None:
        return "unknown exit"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


# -- local worker processes -------------------------------------------------------------------
class Slot:
    """One worker process, its pipe, and the task it runs: (task, attempt, start time)."""

    def __init__(self, ctx, fn: Callable, worker: Callable = worker_main) -> None:
        self.conn, child = ctx.Pipe(duplex=True)
        self.proc = ctx.Process(target=worker, args=(child, fn, os.getpid()), daemon=True,
                                name="interlace-worker")
        self.proc.start()
        child.close()
        self.ready = False
        self.task: tuple[Any, int, float] | None = None

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


class LocalPool:
    """Tasks on local worker processes (see :func:`run_local`), step by step."""

    def __init__(self, tasks: Iterable, workers: int, emit: Emit, fn: Callable,
                 on_failure: OnFailure, timeout: float | None, log: Callable[[str], None],
                 context, worker: Callable, what: str = "task") -> None:
        self.queue: deque[tuple[Any, int]] = deque((t, 1) for t in tasks)
        self.emit, self.fn, self.on_failure = emit, fn, on_failure
        self.timeout, self.log = timeout, log
        self.context, self.worker, self.what = context, worker, what
        self.slots = [self.new_slot() for _ in range(min(workers, len(self.queue)))]
        self.tid = 0
        self.start_failures = 0

    def new_slot(self) -> Slot:
        return Slot(self.context, self.fn, self.worker)

    def run(self) -> None:
        """Until every task has its record; the workers are stopped however it ends."""
        try:
            while self.queue or any(s.task for s in self.slots):
                self.dispatch()
                conns = [s.conn for s in self.slots] + [s.proc.sentinel for s in self.slots]
                ready = wait(conns, 0.25 if self.timeout else None)
                for i, s in enumerate(self.slots):
                    self.service(i, s, ready)
        finally:
            for s in self.slots:
                s.stop()

    def dispatch(self) -> None:
        """Hand the next tasks to ready, idle workers."""
        for s in self.slots:
            if s.ready and s.task is None and self.queue:
                task, att = self.queue.popleft()
                self.tid += 1
                try:
                    s.conn.send((self.tid, task))
                except (BrokenPipeError, OSError):  # it died idle: its sentinel tells
                    self.queue.appendleft((task, att))
                    continue
                s.task = (task, att, time.monotonic())

    def service(self, i: int, s: Slot, ready: list) -> None:
        """Read what worker ``i`` sent; replace it if it died or ran past the timeout."""
        died = False
        if s.conn in ready or s.proc.sentinel in ready:
            try:
                while s.conn.poll():
                    self.receive(s, s.conn.recv())
            except (EOFError, OSError):
                died = True
            died = died or (s.proc.sentinel in ready and not s.proc.is_alive())
        if died:
            self.replace_dead(i, s)
        elif s.task is not None and self.timeout and time.monotonic() - s.task[2] > self.timeout:
            task, att, _ = s.task
            s.proc.kill()
            s.proc.join(5)
            s.conn.close()
            self.slots[i] = self.new_slot()
            self.emit(self.on_failure(task, f"the {self.what} took longer than {self.timeout:g} s "
                                            f"and was stopped", "TimeoutError", att))

    def receive(self, s: Slot, msg: tuple) -> None:
        """A worker's message: ready, a task's record, or a task that raised."""
        if msg[0] == "ready":
            s.ready, self.start_failures = True, 0
        elif s.task is not None:
            task, att, _ = s.task
            s.task = None
            if msg[0] == "done":
                rec = msg[2]
                rec["attempts"] = att
            else:
                rec = self.on_failure(task, msg[2], msg[3], att)
            self.emit(rec)

    def replace_dead(self, i: int, s: Slot) -> None:
        """A dead worker: a fresh one in its place; its task is retried once, then failed."""
        s.proc.join(5)
        why = exit_text(s.proc.exitcode)
        s.conn.close()
        if not s.ready:
            self.start_failures += 1
            if self.start_failures >= 3:
                raise WorkerStartError(
                    f"local worker processes die as they start ({why}); when this is called "
                    f"from a script, put the call under if __name__ == '__main__':")
        self.slots[i] = self.new_slot()
        if s.task is None:
            return
        task, att, _ = s.task
        if not s.ready:
            self.queue.appendleft((task, att))
        elif att < MAX_ATTEMPTS:
            self.log(f"worker died during {self.what} {task.name} ({why}); retrying it once")
            self.queue.appendleft((task, att + 1))
        else:
            self.emit(self.on_failure(task, f"worker process died during the {self.what} ({why}) "
                                            f"on all {att} attempts", "WorkerDied", att))


def run_in_process(tasks: Iterable, emit: Emit, fn: Callable, on_failure: OnFailure) -> None:
    """The tasks one after another in this process (no isolation: for debugging, and for
    work too small to pay for starting processes)."""
    for task in tasks:
        try:
            rec = fn(task)
        except Exception as exc:  # noqa: BLE001 - the task's own failure becomes its record
            rec = on_failure(task, f"{type(exc).__name__}: {exc}", type(exc).__name__, 1)
        emit(rec)


def run_local(tasks: Iterable, workers: int, emit: Emit, fn: Callable, on_failure: OnFailure,
              timeout: float | None = None, log: Callable[[str], None] | None = None,
              context=None, worker: Callable = worker_main, what: str = "task") -> None:
    """Run ``fn`` on each task on ``workers`` local processes (``workers <= 0``: in this
    process), calling ``emit(record)`` as each ends (see the module doc). ``context``: the
    multiprocessing context (default :func:`mp_context`); ``worker``: the processes' main
    function; ``what`` names a task in messages ("fit"). Workers that keep dying at start raise
    :class:`WorkerStartError`."""
    if workers <= 0:
        run_in_process(tasks, emit, fn, on_failure)
        return
    pool = LocalPool(tasks, workers, emit, fn, on_failure, timeout, log or (lambda s: None),
                     context or mp_context(), worker, what)
    pool.run()


# -- Dask -------------------------------------------------------------------------------------
class DaskRun:
    """Tasks on a Dask cluster through a connected ``client`` (see :func:`run_dask`)."""

    def __init__(self, client, emit: Emit, fn: Callable, on_failure: OnFailure,
                 log: Callable[[str], None], prefix: str, shared: Any = None,
                 what: str = "task") -> None:
        from distributed import as_completed

        self.client, self.emit, self.fn, self.on_failure, self.log = client, emit, fn, on_failure, log
        self.prefix, self.run_id, self.what = prefix, uuid.uuid4().hex[:8], what
        self.meta: dict[Any, tuple[Any, int]] = {}
        self.pending: deque[tuple[Any, int]] = deque()
        self.done = as_completed(with_results=True, raise_errors=False)  # results come with it
        self.inflight = 0
        self.threads, self.asked = 0, -1e9
        self.args = () if shared is None else (client.scatter(shared, broadcast=True, hash=False),)

    def capacity(self, fresh: bool = False) -> int:
        """Live worker threads, asked of the scheduler every few seconds and at once after a
        task failed on the cluster (a worker may be gone)."""
        now = time.monotonic()
        if fresh or now - self.asked > 3.0:
            self.threads, self.asked = max(1, sum(self.client.nthreads().values())), now
        return self.threads

    def fill(self) -> None:
        """Submit tasks until as many are in flight as the cluster has threads."""
        while self.pending and self.inflight < self.capacity():
            task, att = self.pending.popleft()
            fut = self.client.submit(self.fn, *self.args, task, pure=False,
                                     key=f"{self.prefix}-{task.key}-{self.run_id}-a{att}")
            self.meta[fut.key] = (task, att)
            self.done.add(fut)
            self.inflight += 1

    def finish(self, fut, rec) -> None:
        """A finished future: its record, a retry, or the task's failure record."""
        task, att = self.meta.pop(fut.key)
        try:
            if isinstance(rec, BaseException):  # KilledWorker, a lost connection, fn raised...
                raise rec
            rec["attempts"] = att
        except Exception as exc:  # noqa: BLE001
            why = f"{type(exc).__name__}: {exc}"
            self.capacity(fresh=True)
            if att < MAX_ATTEMPTS:
                self.log(f"{self.what} {task.name} failed on the cluster ({why[:200]}); retrying "
                         f"it once")
                self.pending.appendleft((task, att + 1))
                rec = None
            else:
                rec = self.on_failure(task, f"the {self.what} failed on the cluster on all {att} "
                                            f"attempts: {why}", type(exc).__name__, att)
        finally:
            fut.release()
        if rec is not None:
            self.emit(rec)

    def run(self, tasks: Iterable) -> None:
        self.pending.extend((t, 1) for t in tasks)
        self.fill()
        while self.inflight:
            fut, rec = next(self.done)
            self.inflight -= 1
            self.finish(fut, rec)
            self.fill()


def run_dask(tasks: Iterable, scheduler: Any, emit: Emit, fn: Callable, on_failure: OnFailure,
             log: Callable[[str], None] | None = None, connect_timeout: float = 30.0,
             prefix: str = "interlace-task", shared: Any = None, what: str = "task") -> None:
    """Run ``fn`` on each task on the Dask cluster ``scheduler``: its address
    (``tcp://host:port``; connected and closed here) or a connected ``distributed.Client``.
    With ``shared``, it is sent to every worker once and the call is ``fn(shared, task)``;
    ``what`` names a task in messages."""
    try:
        from distributed import Client
    except ImportError:
        raise RuntimeError("a Dask scheduler needs Dask: pip install 'interlace[dask]'") from None
    log = log or (lambda s: None)
    if not isinstance(scheduler, str):  # a client the caller owns
        log(f"Dask cluster: {len(scheduler.scheduler_info().get('workers', {}))} worker(s)")
        DaskRun(scheduler, emit, fn, on_failure, log, prefix, shared, what).run(tasks)
        return
    with Client(scheduler, timeout=f"{connect_timeout}s") as client:
        log(f"Dask scheduler {scheduler}: {len(client.scheduler_info().get('workers', {}))} "
            f"worker(s)")
        DaskRun(client, emit, fn, on_failure, log, prefix, shared, what).run(tasks)
