"""Core GLMM speed: interlace vs lme4 on the same data (run outside the test suite).

usage: python benchmarks/make_data.py && python benchmarks/bench_core.py [--quick]
Prints one line per model and writes benchmarks/results_core.json. lme4's figures come from
benchmarks/lme4_timings.json (made by lme4_timings.R on the same files, same machine).
"""

from __future__ import annotations

import json
import platform
import statistics
import sys
import time
from pathlib import Path

import pandas as pd

import interlace

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"


def timed(fn, repeat):
    times, res = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        res = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), min(times), res


def main() -> None:
    quick = "--quick" in sys.argv
    cbpp = interlace.load_dataset("cbpp")
    cases = {
        "cbpp": (lambda: interlace.glmer("incidence / size ~ period", cbpp, family="binomial",
                                         groups="herd"), 3 if quick else 20),
    }
    if (DATA / "pois_100k.csv").exists():
        pois = pd.read_csv(DATA / "pois_100k.csv", dtype={"g": str})
        cases["pois_100k"] = (lambda: interlace.glmer("y ~ x1 + x2 + (1 | g)", pois,
                                                      family="poisson"), 1 if quick else 3)
    if (DATA / "binary_200k_crossed.csv").exists() and not quick:
        binr = pd.read_csv(DATA / "binary_200k_crossed.csv", dtype={"a": str, "b": str})
        cases["binary_200k_crossed"] = (lambda: interlace.glmer(
            "y ~ x + (1 | a) + (1 | b)", binr, family="binomial"), 1)
    cases["cbpp"][0]()  # warm the process (imports, plugin discovery)
    lme4 = json.loads((HERE / "lme4_timings.json").read_text())["results"]
    out = {"machine": {"python": platform.python_version(), "processor": platform.processor(),
                       "nproc": __import__("os").cpu_count()}, "results": {}}
    for name, (fn, rep) in cases.items():
        med, best, r = timed(fn, rep)
        ref = lme4.get(name, {})
        unit = 1e3 if ref.get("unit") == "ms" else 1.0
        lme4_t = ref.get("median")
        out["results"][name] = {"median_s": med, "min_s": best, "repeat": rep, "llf": r.llf,
                                "lme4_median_s": None if lme4_t is None else lme4_t / unit,
                                "lme4_loglik": ref.get("loglik"), "converged": r.converged}
        print(f"{name:22s} interlace {med:9.4f} s (min {best:.4f}, n={rep})  lme4 "
              f"{'-' if lme4_t is None else f'{lme4_t / unit:.4f} s'}  llf {r.llf:.4f} "
              f"(lme4 {ref.get('loglik', float('nan')):.4f})")
    if not quick:
        (HERE / "results_core.json").write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
