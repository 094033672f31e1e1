"""One GLMM fit spread over a local two-worker Dask cluster against the in-memory fit (issue 19).

10 million rows of Poisson with 10,000 groups (``--rows`` / ``--groups`` to change), written to
Parquet in benchmarks/data (git-ignored). The distributed fit runs in this process (the
driver); the in-memory fit runs in a fresh subprocess so that each peak memory is its own.
Recorded: wall and CPU time, passes by kind, bytes moved per pass (pickled partial sums of the
partitions, the total the driver receives, the broadcast payload), peak memory (VmHWM) of the
driver, of each worker and of the in-memory process, and the largest difference of the
estimates and log-likelihoods. Writes benchmarks/results_distributed.json.

    python benchmarks/bench_distributed.py                 # 10M rows, 10k groups
    python benchmarks/bench_distributed.py --rows 1000000  # a quicker check
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"
FORMULA = "y ~ x + (1 | g)"


def vmhwm_mb() -> float:
    """Peak resident memory of this process (VmHWM), MB."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def cpu_seconds() -> float:
    """User + system CPU time of this process."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def write_data(rows: int, groups: int, files: int, seed: int = 19) -> Path:
    """Poisson rows with a random intercept per group, as ``files`` Parquet files."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = DATA / f"poisson_{rows}_{groups}"
    if path.exists() and len(list(path.glob("*.parquet"))) == files:
        return path
    path.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    b = rng.normal(0.0, 0.5, groups)
    per = rows // files
    for i in range(files):
        n = per if i < files - 1 else rows - per * (files - 1)
        g = rng.integers(0, groups, n)
        x = rng.normal(size=n)
        y = rng.poisson(np.exp(0.5 + 0.3 * x + b[g]))
        table = pa.table({"y": y.astype(np.float64), "x": x, "g": g.astype(np.int64)})
        pq.write_table(table, path / f"part{i:03d}.parquet")
    return path


def in_memory(path: Path) -> dict:
    """The in-memory fit (run in its own process by ``--in-memory``)."""
    import interlace

    t0, c0 = time.perf_counter(), cpu_seconds()
    df = pd.read_parquet(path)
    t_read = time.perf_counter() - t0
    res = interlace.glmer(FORMULA, df, family="poisson")
    return {"wall_s": time.perf_counter() - t0, "cpu_s": cpu_seconds() - c0, "read_s": t_read,
            "peak_mb": vmhwm_mb(), "beta": res.fe_params.tolist(), "theta": res.theta.tolist(),
            "loglik": float(res.llf), "evaluations": int(res.evaluations)}


def worker_stats() -> dict:
    """A worker process's peak memory and CPU time (run on each worker by client.run)."""
    return {"peak_mb": vmhwm_mb(), "cpu_s": cpu_seconds()}


def distributed(path: Path) -> dict:
    """The fit on a local two-worker cluster from the Parquet files."""
    import dask.dataframe as dd
    from distributed import Client, LocalCluster

    import interlace

    with LocalCluster(n_workers=2, processes=True, threads_per_worker=1, host="127.0.0.1",
                      dashboard_address=None, memory_limit="8GiB") as cluster, \
            Client(cluster) as client:
        before = client.run(worker_stats)
        t0, c0 = time.perf_counter(), cpu_seconds()
        ddf = dd.read_parquet(str(path))
        res = interlace.glmer(FORMULA, ddf, family="poisson")
        wall, cpu = time.perf_counter() - t0, cpu_seconds() - c0
        after = client.run(worker_stats)
        log = res.pass_log
        out = {"wall_s": wall, "driver_cpu_s": cpu, "driver_peak_mb": vmhwm_mb(),
               "workers": {k: {"peak_mb": v["peak_mb"], "cpu_s": v["cpu_s"] - before[k]["cpu_s"]}
                           for k, v in after.items()},
               "partitions": int(ddf.npartitions), "summary": log.summary(),
               "max_partial_bytes": max(log.partial_bytes),
               "max_result_bytes": max(log.result_bytes),
               "max_payload_bytes": max(log.payload_bytes),
               "pass_seconds_median": float(np.median(log.seconds)),
               "beta": res.fe_params.tolist(), "theta": res.theta.tolist(),
               "loglik": float(res.llf)}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--groups", type=int, default=10_000)
    ap.add_argument("--files", type=int, default=20)
    ap.add_argument("--in-memory", dest="in_memory", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.in_memory:
        print(json.dumps(in_memory(Path(args.in_memory))))
        return
    t = time.perf_counter()
    path = write_data(args.rows, args.groups, args.files)
    load = os.getloadavg()
    print(f"data {path} ({time.perf_counter() - t:.1f} s); load {load}", flush=True)
    dist = distributed(path)
    print(json.dumps(dist["summary"]), f"wall {dist['wall_s']:.1f} s", flush=True)
    proc = subprocess.run([sys.executable, __file__, "--in-memory", str(path)],
                          capture_output=True, text=True, check=True)
    mem = json.loads(proc.stdout.strip().splitlines()[-1])
    print(f"in-memory wall {mem['wall_s']:.1f} s", flush=True)
    diff = {"beta": float(np.max(np.abs(np.subtract(dist["beta"], mem["beta"])))),
            "theta": float(np.max(np.abs(np.subtract(dist["theta"], mem["theta"])))),
            "loglik": abs(dist["loglik"] - mem["loglik"])}
    out = {"rows": args.rows, "groups": args.groups, "files": args.files,
           "load_before": load, "load_after": os.getloadavg(), "distributed": dist,
           "in_memory": mem, "max_abs_difference": diff,
           "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    (HERE / "results_distributed.json").write_text(json.dumps(out, indent=1))
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
