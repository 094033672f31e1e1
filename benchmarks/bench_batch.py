"""Overhead of batch fits: 200 cbpp-sized fits on 2 local worker processes and on a 2-worker
Dask cluster, against the same fits run one after another in this process.

usage: python benchmarks/bench_batch.py [--n 200] [--workers 2] [--no-dask]
Prints a summary and writes benchmarks/results_batch.json. Overhead per fit is what a fit
costs a worker beyond the fit itself: (wall time x workers - sum of fit times) / fits; it
includes starting the workers, shipping configs and records, and writing the results. The
same batch with a fit function that does nothing measures the machinery alone
(``pipeline_ms_per_fit`` = wall time x workers / fits). The machine's load average is recorded:
on a shared machine the fits themselves slow down and the figures with them.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
CBPP = HERE.parent / "configs" / "cbpp_binomial.yaml"


def grid(folder: Path, n: int) -> Path:
    """n distinct cbpp fits (a name and a link each), in one file."""
    links = ["logit", "probit", "cloglog"]
    lines = [f"defaults: {{extends: {CBPP}}}", "fits:"]
    lines += [f"  - {{name: fit{i:04d}, link: {links[i % 3]}}}" for i in range(n)]
    path = folder / "grid.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def noop_fit(spec) -> dict:
    """A record without a fit: what the batch machinery costs by itself."""
    return {"name": spec.name, "key": spec.key, "source": spec.source, "status": "ok",
            "message": "", "error_type": None, "warnings": [], "elapsed_s": 0.0, "attempts": 1,
            "worker": None, "record_version": 1, "config": spec.config, "result": None}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--no-dask", action="store_true")
    args = ap.parse_args()

    from interlace.batch import run_batch
    from interlace.config import load, run_fit

    out: dict = {"machine": {"python": platform.python_version(), "nproc": os.cpu_count(),
                             "load_average_1m_before": os.getloadavg()[0]},
                 "fits": args.n, "workers": args.workers, "model": "cbpp binomial, 56 rows, "
                 "(1 | herd), logit/probit/cloglog"}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        t = time.perf_counter()
        specs = load([grid(tmp, args.n)])
        out["validate_s"] = time.perf_counter() - t

        t = time.perf_counter()
        fit_times = [run_fit(s)["elapsed_s"] for s in specs]
        serial = time.perf_counter() - t
        fit_sum = sum(fit_times)
        out["in_process"] = {"wall_s": serial, "sum_fit_s": fit_sum,
                             "mean_fit_s": fit_sum / args.n}
        print(f"{args.n} fits in this process: {serial:.2f} s (mean fit {fit_sum / args.n * 1e3:.1f} ms)")

        def measure(label: str, **kw) -> dict:
            t = time.perf_counter()
            run_batch(specs, tmp / (label + "_noop") / "fits.csv", bar=False,
                      stream=io.StringIO(), fit_fn=noop_fit, **kw)
            pipeline = (time.perf_counter() - t) * args.workers / args.n
            t = time.perf_counter()
            rep = run_batch(specs, tmp / label / "fits.csv", bar=False, stream=io.StringIO(), **kw)
            wall = time.perf_counter() - t
            recs = [json.loads(x) for x in (tmp / label / "fits.jsonl").read_text().splitlines()]
            fsum = sum(r["elapsed_s"] for r in recs)
            over = (wall * args.workers - fsum) / args.n
            res = {"wall_s": wall, "sum_fit_s": fsum, "overhead_per_fit_ms": over * 1e3,
                   "pipeline_ms_per_fit": pipeline * 1e3, "fits_per_s": args.n / wall,
                   "counts": rep.counts}
            print(f"{label}: {args.n} fits on {args.workers} workers in {wall:.2f} s "
                  f"({args.n / wall:.0f} fits/s), overhead per fit {over * 1e3:.1f} ms "
                  f"(machinery alone {pipeline * 1e3:.1f} ms), {rep.counts}")
            return res

        out["local"] = measure("local", workers=args.workers)
        if not args.no_dask:
            from distributed import Client, LocalCluster

            with LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True,
                              host="127.0.0.1", dashboard_address="127.0.0.1:0") as cluster:
                with Client(cluster) as c:  # workers import interlace before the clock starts
                    c.run(lambda: __import__("interlace.config.runner"))
                out["dask"] = measure("dask", scheduler=cluster.scheduler_address)
                out["dask"]["cluster"] = "distributed.LocalCluster, processes, 1 thread each"
    out["machine"]["load_average_1m_after"] = os.getloadavg()[0]
    (HERE / "results_batch.json").write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {HERE / 'results_batch.json'}")


if __name__ == "__main__":
    main()
