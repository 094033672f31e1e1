"""The parametric bootstrap of cbpp: 1000 replicates with interlace against lme4's bootMer, in
one run on the same machine.

usage: python benchmarks/bench_bootstrap.py [--nsim 1000] [--nsim-r 100] [--workers 2]
                                            [--no-dask] [--skip-r]
Times ``bootstrap(nsim, seed=1)`` of ``glmer(cbind(incidence, size - incidence) ~ period +
(1 | herd), cbpp)`` in this process (workers=0), on local worker processes and on a Dask
LocalCluster of as many worker processes (started beforehand, not timed), and lme4's
``bootMer`` with confint's statistic (theta and the fixed effects) on ``--nsim-r`` replicates
(bench_bootstrap.R: bootMer costs ~0.2 s a replicate, so fewer replicates are timed and the
per-replicate time compared), timed before and after interlace's runs (the mean of the two
sets the target). The target (issue 14): 1000 replicates in at most 1/20 of bootMer's
per-replicate time x 1000. The machine's load average is recorded: on a shared machine every
wall time slows down with it, so CPU times are recorded too (bootMer's user + system time; the
in-process run's process time), which other processes disturb much less. Writes
benchmarks/results_bootstrap.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
FORMULA = "cbind(incidence, size - incidence) ~ period + (1 | herd)"


def run_r(nsim: int) -> dict | None:
    """bootMer's timing from bench_bootstrap.R, or None without Rscript."""
    if shutil.which("Rscript") is None:
        return None
    with tempfile.TemporaryDirectory() as d:
        out = Path(d) / "bootmer.json"
        subprocess.run(["Rscript", str(HERE / "bench_bootstrap.R"), str(nsim), str(out)],
                       check=True)
        return json.loads(out.read_text())


def timed(fit, nsim: int, **options) -> dict:
    """Wall time (and this process's CPU time) of one bootstrap, and its failures."""
    c0, t0 = time.process_time(), time.perf_counter()
    boot = fit.bootstrap(nsim=nsim, seed=1, **options)
    el, cpu = time.perf_counter() - t0, time.process_time() - c0
    return {"elapsed_s": el, "per_sim_ms": 1e3 * el / nsim, "cpu_per_sim_ms": 1e3 * cpu / nsim,
            "failures": boot.failures, "draws": boot.draws}


def run_dask(fit, nsim: int, workers: int) -> dict | None:
    """The bootstrap on a Dask LocalCluster of ``workers`` processes (started beforehand)."""
    try:
        import dask
        import distributed
    except ImportError:
        return None
    with dask.config.set({"distributed.worker.multiprocessing-method": "fork"}), \
            distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                     host="127.0.0.1", dashboard_address="127.0.0.1:0") as cluster, \
            distributed.Client(cluster) as client:
        fit.bootstrap(nsim=2 * workers, seed=0, scheduler=client)  # workers import and warm up
        return timed(fit, nsim, scheduler=client)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--nsim", type=int, default=1000)
    ap.add_argument("--nsim-r", type=int, default=100)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--no-dask", action="store_true")
    ap.add_argument("--skip-r", action="store_true")
    args = ap.parse_args()

    import interlace

    load0 = os.getloadavg()[0]
    r_before = None if args.skip_r else run_r(args.nsim_r)
    fit = interlace.glmer(FORMULA, interlace.load_dataset("cbpp"))
    fit.bootstrap(nsim=5, seed=0, workers=0)  # warm-up (caches, BLAS controller)
    runs = {"in_process": timed(fit, args.nsim, workers=0),
            f"local_{args.workers}_workers": timed(fit, args.nsim, workers=args.workers)}
    if not args.no_dask:
        dask_run = run_dask(fit, args.nsim, args.workers)
        if dask_run is not None:
            runs[f"dask_{args.workers}_workers"] = dask_run
    same = all(r["draws"].equals(runs["in_process"]["draws"]) for r in runs.values())
    r_after = None if args.skip_r else run_r(args.nsim_r)
    r = None
    if r_before is not None and r_after is not None:
        r = {"runs": [r_before, r_after], "nsim": r_before["nsim"]}
        for k in ("per_sim_s", "cpu_per_sim_s"):
            r[k] = (r_before[k] + r_after[k]) / 2
    load1 = os.getloadavg()[0]
    result = {"nsim": args.nsim, "formula": FORMULA, "same_draws_everywhere": same,
              "runs": {k: {kk: vv for kk, vv in v.items() if kk != "draws"}
                       for k, v in runs.items()},
              "bootmer": r, "load_average": [load0, load1], "cpus": os.cpu_count(),
              "machine": platform.platform(), "python": platform.python_version()}
    if r is not None:
        budget = r["per_sim_s"] * args.nsim / 20
        result["target_s"] = budget
        for v in result["runs"].values():
            v["speedup_per_sim_vs_bootmer"] = r["per_sim_s"] * 1e3 / v["per_sim_ms"]
            v["meets_target"] = v["elapsed_s"] <= budget
    (HERE / "results_bootstrap.json").write_text(json.dumps(result, indent=2))
    print(f"{args.nsim} cbpp replicates (load average {load0:.1f} -> {load1:.1f}); the same "
          f"draws everywhere: {same}")
    for k, v in result["runs"].items():
        extra = (f", {v['speedup_per_sim_vs_bootmer']:.0f}x bootMer per replicate, target "
                 f"{'met' if v['meets_target'] else 'MISSED'}" if r else "")
        print(f"  {k:>18}: {v['elapsed_s']:6.2f} s ({v['per_sim_ms']:.2f} ms a replicate, "
              f"{v['failures']} failures){extra}")
    if r is not None:
        print(f"  bootMer: {r['per_sim_s'] * 1e3:.1f} ms a replicate (CPU "
              f"{r['cpu_per_sim_s'] * 1e3:.1f} ms; {r['nsim']} timed before and after); target "
              f"for {args.nsim}: {result['target_s']:.2f} s")
    print(f"  CPU a replicate in process: {runs['in_process']['cpu_per_sim_ms']:.2f} ms")


if __name__ == "__main__":
    main()
