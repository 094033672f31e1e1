"""Batches: one record per fit, failures that never stop a batch, dead workers, resuming after
SIGKILL, CSV/Parquet/JSON lines, progress output, and the same batch on a real Dask cluster."""

from __future__ import annotations

import io
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import batch_helpers
import pandas as pd
import pytest

from interlace.batch import ResultStore, StoreRepairWarning, run_batch
from interlace.config import load, run_fit

ROOT = Path(__file__).resolve().parent.parent
TESTS = ROOT / "tests"
CONFIGS = ROOT / "configs"
CBPP = CONFIGS / "cbpp_binomial.yaml"


def records(path: Path) -> list[dict]:
    out = []
    for line in path.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            pass
    return out


def same_result(a: dict, b: dict, rtol: float = 1e-9) -> None:
    assert a["key"] == b["key"] and a["status"] == b["status"], (a["name"], b["name"])
    if a["result"] is None:
        assert b["result"] is None
        return
    ra, rb = a["result"], b["result"]
    assert ra["fit"]["llf"] == pytest.approx(rb["fit"]["llf"], rel=rtol, abs=1e-9)
    for term, v in ra["fixed_effects"].items():
        assert v["estimate"] == pytest.approx(rb["fixed_effects"][term]["estimate"], rel=rtol,
                                              abs=1e-9)
        assert v["std_error"] == pytest.approx(rb["fixed_effects"][term]["std_error"], rel=1e-6)
    for x, y in zip(ra["variance_components"], rb["variance_components"]):
        assert x["vcov"] == pytest.approx(y["vcov"], rel=1e-6, abs=1e-9)


def grid(tmp_path: Path, n: int = 24) -> Path:
    """A file of n small distinct fits (cbpp with links/optimizers, counts variants)."""
    fits = []
    links = ["logit", "probit", "cloglog"]
    opts = ["lbfgsb", "bobyqa"]
    for i in range(n):
        if i % 2 == 0:
            fits.append(f"  - {{name: f{i:02d}, data: {{dataset: cbpp}}, formula: "
                        f"'incidence / size ~ period', weights: size, groups: herd, "
                        f"link: {links[i // 2 % 3]}, optimizer: {opts[i // 6 % 2]}, "
                        f"optimizer_options: {{}}, description: 'variant {i}'}}")
        else:
            fits.append(f"  - {{name: f{i:02d}, data: {{dataset: seed_counts}}, formula: "
                        f"'count ~ x1 + I(x2 * {i})', family: poisson, groups: site}}")
    d = tmp_path / "grid"
    d.mkdir()
    (d / "grid.yaml").write_text("fits:\n" + "\n".join(fits) + "\n")
    return d


def test_local_batch_gives_one_record_per_fit_equal_to_fitting_in_process(tmp_path):
    specs = load([CONFIGS])
    rep = run_batch(specs, tmp_path / "out.csv", workers=2, bar=False, stream=io.StringIO())
    assert rep.counts == {"ok": 9} and rep.ran == 9 and rep.skipped == 0
    recs = {r["key"]: r for r in records(tmp_path / "out.jsonl")}
    assert len(recs) == 9
    for spec in specs:
        same_result(recs[spec.key], run_fit(spec))
    table = pd.read_csv(tmp_path / "out.csv")
    assert list(table["name"]) == [s.name for s in specs]
    assert {"fe:(Intercept)", "se:(Intercept)", "var:herd:(Intercept)", "fp:theta", "llf",
            "converged", "max_grad"} <= set(table.columns)
    # rerun: nothing left to do
    rep2 = run_batch(specs, tmp_path / "out.csv", workers=2, bar=False, stream=io.StringIO())
    assert rep2.ran == 0 and rep2.skipped == 9 and len(records(tmp_path / "out.jsonl")) == 9


def test_failures_warnings_dead_workers_and_timeouts_each_give_one_record(tmp_path):
    marker = tmp_path / "crashed-once"
    text = f"""\
defaults: {{extends: {CBPP}}}
fits:
  - {{name: good}}
  - {{name: raises, data: {{dataset: seed_counts}}, formula: count ~ x1, weights: null,
     groups: site}}
  - {{name: no_convergence, optimizer_options: {{maxiter: 1}}}}
  - {{name: crash_once, description: 'crash-once:{marker}'}}
  - {{name: crash_always, description: crash-always}}
  - {{name: too_slow, description: 'sleep:60'}}
  - {{name: after, optimizer: bobyqa}}
"""
    (tmp_path / "b.yaml").write_text(text)
    specs = load([tmp_path / "b.yaml"])
    log = io.StringIO()
    t0 = time.monotonic()
    rep = run_batch(specs, tmp_path / "res", workers=2, fit_fn=batch_helpers.instructed_fit,
                    fit_timeout=4, bar=False, stream=log)
    assert time.monotonic() - t0 < 60
    recs = {r["name"]: r for r in records(tmp_path / "res" / "results.jsonl")}
    assert set(recs) == {s.name for s in specs}
    assert recs["good"]["status"] == "ok" and recs["after"]["status"] == "ok"
    assert recs["raises"]["status"] == "error" and recs["raises"]["error_type"] == "DataError"
    assert recs["no_convergence"]["status"] == "warning"
    assert "gradient" in recs["no_convergence"]["message"]
    assert recs["crash_once"]["status"] == "ok" and recs["crash_once"]["attempts"] == 2
    assert recs["crash_always"]["status"] == "error"
    assert recs["crash_always"]["error_type"] == "WorkerDied"
    assert recs["crash_always"]["attempts"] == 2 and "SIGKILL" in recs["crash_always"]["message"]
    assert recs["too_slow"]["error_type"] == "TimeoutError"
    assert rep.counts == {"ok": 3, "warning": 1, "error": 3}
    assert "retrying it once" in log.getvalue()
    table = pd.read_csv(tmp_path / "res" / "results.csv")
    assert len(table) == 7 and set(table["status"]) == {"ok", "warning", "error"}
    # --retry-failed refits the errors only; each fit still has one record in the table
    rep2 = run_batch(specs, tmp_path / "res", workers=2, fit_fn=run_fit, retry_failed=True,
                     bar=False, stream=io.StringIO())
    assert rep2.ran == 3 and rep2.skipped == 4
    table = pd.read_csv(tmp_path / "res" / "results.csv")
    assert len(table) == 7
    assert table.set_index("name").loc["crash_always", "status"] == "ok"


def test_sigkill_halfway_then_rerun_loses_nothing_and_refits_nothing(tmp_path):
    cfg = grid(tmp_path)
    specs = load([cfg])
    n = len(specs)
    out = tmp_path / "killed" / "fits.csv"
    script = (f"import sys; sys.path.insert(0, {str(TESTS)!r})\n"
              "import batch_helpers\nfrom interlace.batch import run_batch\n"
              "from interlace.config import load\n"
              f"run_batch(load([{str(cfg)!r}]), {str(out)!r}, workers=2, "
              "fit_fn=batch_helpers.slow_fit, bar=False)\n")
    proc = subprocess.Popen([sys.executable, "-c", script], start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    jsonl = out.with_suffix(".jsonl")
    deadline = time.monotonic() + 90
    try:
        while time.monotonic() < deadline:
            if jsonl.exists() and len(records(jsonl)) >= 6:
                break
            assert proc.poll() is None, "the batch ended before it could be killed"
            time.sleep(0.05)
        else:
            pytest.fail("the batch did not get going")
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the batch, its workers, its fork server
        proc.wait(30)
    done_before = {r["key"] for r in records(jsonl)}
    assert 6 <= len(done_before) < n
    # rerun with the same output: the finished fits are skipped
    p = subprocess.run([sys.executable, "-m", "interlace", "batch", str(cfg), "--out", str(out),
                        "--workers", "2"], capture_output=True, text=True, timeout=180)
    assert p.returncode == 0, p.stderr
    assert f"{len(done_before)} already in" in p.stderr
    recs = records(jsonl)
    keys = [r["key"] for r in recs]
    assert len(keys) == len(set(keys)) == n  # every fit once: nothing refitted, none lost
    # compare with an uninterrupted run, fit by fit
    full = tmp_path / "full" / "fits.csv"
    run_batch(specs, full, workers=2, bar=False, stream=io.StringIO())
    ref = {r["key"]: r for r in records(full.with_suffix(".jsonl"))}
    for r in recs:
        same_result(r, ref[r["key"]])
    a = pd.read_csv(out).sort_values("key").reset_index(drop=True)
    b = pd.read_csv(full).sort_values("key").reset_index(drop=True)
    assert len(a) == n
    pd.testing.assert_frame_equal(a.drop(columns=["elapsed_s", "attempts"]),
                                  b.drop(columns=["elapsed_s", "attempts"]), rtol=1e-8)


def _gone(pid: int) -> bool:
    """Not running: no such process, or a zombie nobody reaped yet."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            return fh.read().rsplit(b")", 1)[1].split()[0] in (b"Z", b"X")
    except OSError:
        return True


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
@pytest.mark.parametrize("method", ["fork", "forkserver"])
def test_kill_9_of_the_main_process_ends_its_workers_within_seconds(tmp_path, method):
    marks = tmp_path / "busy"
    marks.mkdir()
    (tmp_path / "slow.yaml").write_text(
        f"defaults: {{extends: {CBPP}, description: 'mark-sleep:{marks}:120'}}\nfits:\n"
        + "".join(f"  - {{name: s{i}}}\n" for i in range(4)))
    script = (f"import sys; sys.path.insert(0, {str(TESTS)!r})\n"
              "import multiprocessing as mp, batch_helpers\nfrom interlace import batch\n"
              "from interlace.config import load\n"
              f"ctx = mp.get_context({method!r})\n"
              "batch._mp_context = lambda: ctx\n"
              f"batch.run_batch(load([{str(tmp_path / 'slow.yaml')!r}]), "
              f"{str(tmp_path / 'o.csv')!r}, workers=2, fit_fn=batch_helpers.instructed_fit, "
              "bar=False)\n")
    proc = subprocess.Popen([sys.executable, "-c", script], start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    workers: list[int] = []
    try:
        workers = [int(p.name) for p in _wait_for(
            lambda: len(list(marks.iterdir())) == 2 and list(marks.iterdir()), 60,
            "two workers busy fitting")]
        assert proc.poll() is None and not any(_gone(w) for w in workers)
        os.kill(proc.pid, signal.SIGKILL)  # the main process only; not its process group
        t0 = time.monotonic()
        while time.monotonic() - t0 < 10 and not all(_gone(w) for w in workers):
            time.sleep(0.1)
        took = time.monotonic() - t0
        assert all(_gone(w) for w in workers), f"workers {workers} outlived the batch"
        assert took < 10
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        for w in workers:
            if not _gone(w):
                try:
                    os.kill(w, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        proc.wait(30)


def test_a_torn_last_line_is_dropped_on_resume_and_the_file_is_valid_json_lines(tmp_path):
    specs = load([CONFIGS])[:3]
    store = ResultStore(tmp_path / "r.csv")
    store.append(run_fit(specs[0]))
    store.close()
    jsonl = tmp_path / "r.jsonl"
    torn = json.dumps(run_fit(specs[1]))
    with open(jsonl, "a") as fh:
        fh.write(torn[: len(torn) // 2])  # a write cut by SIGKILL: half a record, no newline
    with pytest.raises(ValueError):
        pd.read_json(jsonl, lines=True)
    with pytest.warns(StoreRepairWarning, match=rf"{re.escape(str(jsonl))}:2: dropped"):
        rep = run_batch(specs, tmp_path / "r.csv", workers=0, bar=False, stream=io.StringIO())
    assert rep.ran == 2 and rep.skipped == 1 and rep.counts == {"ok": 3}
    df = pd.read_json(jsonl, lines=True)
    assert sorted(df["key"]) == sorted(s.key for s in specs)  # each fit exactly once
    assert jsonl.read_bytes().endswith(b"\n")


def test_records_are_written_by_one_write_call_each(tmp_path, monkeypatch):
    from interlace import batch

    calls: list[bytes] = []
    real = os.write
    monkeypatch.setattr(batch.os, "write", lambda fd, data: calls.append(bytes(data)) or
                        real(fd, data))
    store = ResultStore(tmp_path / "r.jsonl")
    rec = {"key": "k" * 64, "name": "x", "status": "ok", "payload": "y" * 200_000}
    store.append(rec)
    store.append(dict(rec, key="j" * 64))
    store.close()
    assert len(calls) == 2 and all(c.endswith(b"\n") and c.count(b"\n") == 1 for c in calls)
    assert [r["key"] for r in records(tmp_path / "r.jsonl")] == ["k" * 64, "j" * 64]


def test_parquet_table_and_jsonl_out(tmp_path):
    pytest.importorskip("pyarrow")
    specs = load([CONFIGS])
    run_batch(specs, tmp_path / "t.parquet", workers=2, bar=False, stream=io.StringIO())
    pq = pd.read_parquet(tmp_path / "t.parquet")
    assert len(pq) == 9 and (pq["status"] == "ok").all()
    run_batch(specs, tmp_path / "t.jsonl", workers=0, bar=False, stream=io.StringIO())
    csv = pd.read_csv(tmp_path / "t.csv")
    assert list(csv["key"]) == list(pq["key"])
    assert csv["llf"].to_numpy() == pytest.approx(pq["llf"].to_numpy(), rel=1e-12)


def test_progress_bar_on_a_terminal_and_log_lines_otherwise(tmp_path):
    specs = load([CONFIGS])[:3]
    bar = io.StringIO()
    run_batch(specs, tmp_path / "a.csv", workers=0, bar=True, stream=bar)
    assert "\r" in bar.getvalue() and "3/3" in bar.getvalue() and "fits/s" in bar.getvalue()
    plain = io.StringIO()
    run_batch(specs, tmp_path / "b.csv", workers=0, bar=False, stream=plain)
    lines = plain.getvalue().splitlines()
    assert "\r" not in plain.getvalue()
    assert [ln.split()[0] for ln in lines[1:4]] == ["[1/3]", "[2/3]", "[3/3]"]


def test_batch_cli_reports_config_errors_before_running(tmp_path, capsys):
    from interlace.cli import main

    (tmp_path / "a.yaml").write_text("data: {dataset: cbpp}\nformula: incidence ~ period\n"
                                     "optimizer: nope\n")
    assert main(["batch", str(tmp_path), str(CONFIGS), "--out", str(tmp_path / "o.csv")]) == 2
    assert "a.yaml:3: optimizer" in capsys.readouterr().err
    assert not (tmp_path / "o.jsonl").exists()


def _bad_configs(tmp_path: Path) -> list[str]:
    """Config arguments: two valid fits, a file with a bad optimizer (line 3), a file of two
    fits whose second has a misspelt key (line 5), a fit repeating a valid one, a missing file."""
    d = tmp_path / "cfg"
    d.mkdir()
    (d / "a.yaml").write_text("data: {dataset: cbpp}\nformula: incidence ~ period\n"
                              "optimizer: nope\n")
    (d / "b.yaml").write_text(f"extends: {CBPP}\nname: b_ok\n")
    (d / "c.yaml").write_text(f"fits:\n  - extends: {CBPP}\n    name: c_ok\n"
                              f"  - extends: {CBPP}\n    famly: poisson\n")
    (d / "d.yaml").write_text(f"extends: {CBPP}\nname: b_ok\n")
    (d / "e.yaml").write_text(f"extends: {CBPP}\nname: e_ok\noptimizer: bobyqa\n")
    return [str(d / f) for f in ("a.yaml", "b.yaml", "c.yaml", "d.yaml", "e.yaml")] + [
        str(d / "missing.yaml")]


def test_batch_default_reports_every_invalid_config_and_runs_nothing(tmp_path, capsys):
    from interlace.cli import main

    out = tmp_path / "o.csv"
    assert main(["batch", *_bad_configs(tmp_path), "--out", str(out), "--workers", "0"]) == 2
    err = capsys.readouterr().err
    for text in ("a.yaml:3: optimizer: 'nope' is not a registered optimizer", "c.yaml:5: fits[1].famly",
                 "did you mean 'family'", "missing.yaml: no such file or folder",
                 "d.yaml: describes the same fit as"):
        assert text in err
    assert not out.with_suffix(".jsonl").exists() and not out.exists()


def test_batch_keep_going_records_invalid_configs_as_errors_and_runs_the_valid_ones(tmp_path,
                                                                                    capsys):
    from interlace.cli import main
    from interlace.config.runner import failure_record

    out = tmp_path / "o.csv"
    argv = ["batch", *_bad_configs(tmp_path), "--out", str(out), "--workers", "0",
            "--keep-going", "--no-progress"]
    assert main(argv) == 1  # error records: exit code 1, as for fits that fail
    err = capsys.readouterr().err
    assert "4 config(s) that do not validate, recorded as errors" in err
    assert "6 fit(s): 2 ok, 0 warning, 4 error (4 config(s) that do not validate" in err
    recs = {r["name"]: r for r in records(out.with_suffix(".jsonl"))}
    assert set(recs) == {"b_ok", "e_ok", "a", "c", "missing.yaml"}  # d.yaml's fit is b_ok too
    assert recs["e_ok"]["status"] == "ok"
    by_source = {r["source"].rsplit("/", 1)[-1]: r for r in records(out.with_suffix(".jsonl"))}
    assert set(by_source) == {"b.yaml", "e.yaml", "a.yaml", "c.yaml", "d.yaml", "missing.yaml"}
    fmt = set(failure_record(load([CBPP])[0], "m", "E", 1))
    for src, text in (("a.yaml", "a.yaml:3: optimizer: 'nope' is not a registered optimizer"),
                      ("c.yaml", "c.yaml:5: fits[1].famly: unknown key 'famly'"),
                      ("d.yaml", "describes the same fit as"),
                      ("missing.yaml", "missing.yaml: no such file or folder")):
        rec = by_source[src]
        assert fmt <= set(rec) and rec["status"] == "error" and rec["error_type"] == "ConfigError"
        assert text in rec["message"] and rec["message"].startswith("the config does not validate")
        assert rec["issues"] and rec["result"] is None
    assert by_source["a.yaml"]["issues"][0]["line"] == 3
    assert by_source["a.yaml"]["issues"][0]["path"] == "optimizer"
    assert "c_ok" not in recs  # a file is validated as a whole
    table = pd.read_csv(out)
    assert len(table) == 6 and sorted(table["status"]) == ["error"] * 4 + ["ok"] * 2
    # rerun: nothing refitted, no record added; fixing a file runs its fits
    n = len(records(out.with_suffix(".jsonl")))
    assert main(argv) == 1
    assert len(records(out.with_suffix(".jsonl"))) == n
    assert "2 from before" in capsys.readouterr().err
    (tmp_path / "cfg" / "a.yaml").write_text("data: {dataset: cbpp}\nformula: incidence / size"
                                             " ~ period + (1 | herd)\nweights: size\n")
    assert main(argv) == 1
    table = pd.read_csv(out).set_index("name")
    assert len(table) == 6 and table.loc["a", "status"] == "ok"


# -- Dask ---------------------------------------------------------------------------------
def _wait_for(pred, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.2)
    pytest.fail(f"timed out waiting for {what}")


@pytest.fixture(scope="module")
def dask_cluster(tmp_path_factory):
    """A `dask scheduler` and two `dask worker` processes on 127.0.0.1 (each worker with a
    nanny that restarts it). The scheduler gives up on a task at the first worker that dies
    with it, so interlace's own retry is what is tested."""
    pytest.importorskip("distributed")
    from distributed import Client

    d = tmp_path_factory.mktemp("dask")
    sched_file = d / "scheduler.json"
    env = dict(os.environ, PYTHONPATH=str(TESTS),
               DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES="0")
    procs: list[subprocess.Popen] = []

    def start(args, log):
        procs.append(subprocess.Popen([sys.executable, "-m", "dask", *args], env=env,
                                      start_new_session=True, stdout=open(d / log, "w"),
                                      stderr=subprocess.STDOUT))

    try:
        start(["scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
               "--scheduler-file", str(sched_file)], "scheduler.log")
        _wait_for(lambda: sched_file.exists() and sched_file.stat().st_size > 0, 60, "scheduler")
        address = json.loads(sched_file.read_text())["address"]
        for i in range(2):
            start(["worker", address, "--nthreads", "1", "--nworkers", "1", "--no-dashboard",
                   "--host", "127.0.0.1", "--death-timeout", "60", "--name", f"w{i}"],
                  f"worker{i}.log")
        with Client(address, timeout="30s") as c:
            c.wait_for_workers(2, timeout=90)
        yield address
    finally:
        for p in reversed(procs):
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for p in reversed(procs):
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait(15)


def test_dask_batch_equals_the_local_batch_fit_by_fit(tmp_path, dask_cluster):
    specs = load([CONFIGS])
    t0 = time.monotonic()
    rep = run_batch(specs, tmp_path / "dask.csv", scheduler=dask_cluster, bar=False,
                    stream=io.StringIO())
    assert time.monotonic() - t0 < 120
    assert rep.counts == {"ok": 9}
    run_batch(specs, tmp_path / "local.csv", workers=2, bar=False, stream=io.StringIO())
    dask_recs = {r["key"]: r for r in records(tmp_path / "dask.jsonl")}
    local_recs = {r["key"]: r for r in records(tmp_path / "local.jsonl")}
    assert set(dask_recs) == set(local_recs) == {s.key for s in specs}
    for k, r in dask_recs.items():
        same_result(r, local_recs[k])
    # the CLI, resuming from the same output: nothing to do
    p = subprocess.run([sys.executable, "-m", "interlace", "batch", str(CONFIGS), "--out",
                        str(tmp_path / "dask.csv"), "--scheduler", dask_cluster],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert "9 already in" in p.stderr


def test_dask_lost_worker_costs_one_retry_then_an_error_record(tmp_path, dask_cluster):
    marker = tmp_path / "crashed-once"
    (tmp_path / "b.yaml").write_text(f"""\
defaults: {{extends: {CBPP}}}
fits:
  - {{name: good}}
  - {{name: crash_once, description: 'crash-once:{marker}'}}
  - {{name: crash_always, description: crash-always}}
  - {{name: after, optimizer: bobyqa}}
""")
    specs = load([tmp_path / "b.yaml"])
    log = io.StringIO()
    rep = run_batch(specs, tmp_path / "d.csv", scheduler=dask_cluster,
                    fit_fn=batch_helpers.instructed_fit, bar=False, stream=log)
    recs = {r["name"]: r for r in records(tmp_path / "d.jsonl")}
    assert set(recs) == {"good", "crash_once", "crash_always", "after"}
    assert recs["good"]["status"] == recs["after"]["status"] == "ok"
    assert recs["crash_once"]["status"] == "ok" and recs["crash_once"]["attempts"] == 2
    assert recs["crash_always"]["status"] == "error" and recs["crash_always"]["attempts"] == 2
    assert rep.counts == {"ok": 3, "error": 1}


def _die_at_start(conn, fit_fn, main_pid=None):
    os._exit(3)


def test_workers_that_die_at_start_stop_the_batch_with_a_clear_error(tmp_path, monkeypatch):
    import multiprocessing as mp

    from interlace import batch

    if "fork" not in mp.get_all_start_methods():
        pytest.skip("needs the fork start method")
    monkeypatch.setattr(batch, "_mp_context", lambda: mp.get_context("fork"))
    monkeypatch.setattr(batch, "_worker_main", _die_at_start)
    specs = load([CONFIGS])[:2]
    with pytest.raises(batch.WorkerStartError, match="die as they start"):
        run_batch(specs, tmp_path / "o.csv", workers=2, bar=False, stream=io.StringIO())
    assert not (tmp_path / "o.jsonl").exists() or records(tmp_path / "o.jsonl") == []


def test_a_script_without_a_main_guard_can_run_a_batch(tmp_path):
    script = tmp_path / "script.py"
    script.write_text("from interlace.batch import run_batch\nfrom interlace.config import load\n"
                      f"rep = run_batch(load([{str(CONFIGS)!r}]), {str(tmp_path / 'o.csv')!r}, "
                      "workers=2, bar=False)\nprint(rep.counts)\n")
    p = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr[-2000:]
    assert "{'ok': 9}" in p.stdout
