"""Speed of interlace against lme4 on the same data and machine (run outside the test suite).

usage: python benchmarks/make_data.py && python benchmarks/bench_core.py [--quick]
Prints one line per model and writes benchmarks/results_core.json. lme4's figures come from
JSON written by R on the same files on this machine: benchmarks/lme4_timings.json
(lme4_timings.R), tests/reference/lme4_agq.json (lme4_agq.R) and tests/reference/lme4_lmm.json
(lme4_lmm.R), benchmarks/lme4_lmm_timings.json (lme4_lmm_timings.R: the InstEval-shaped LMM).
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import pandas as pd

import interlace

HERE = Path(__file__).resolve().parent
REFS = HERE.parent / "tests" / "reference"
DATA = HERE / "data"


def timed(fn, repeat):
    times, res = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        res = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), min(times), res


def lme4_seconds():
    out = {}
    core = json.loads((HERE / "lme4_timings.json").read_text())["results"]
    for name, ref in core.items():
        scale = 1e3 if ref.get("unit") == "ms" else 1.0
        out[name] = (ref["median"] / scale, ref.get("loglik"))
    agq = json.loads((REFS / "lme4_agq.json").read_text())["fixtures"]
    out["cbpp_nagq25"] = (agq["cbpp"]["timing"]["nAGQ_25"]["median_seconds"], None)
    out["sparse_binary_nagq20"] = (agq["sparse_binary"]["timing"]["nAGQ_20"]["median_seconds"], None)
    lmm = json.loads((REFS / "lme4_lmm.json").read_text())
    out["sleepstudy_lmm_reml"] = (lmm["lmer_sleepstudy_seconds"],
                                  lmm["fixtures"]["sleep_reml"]["loglik"])
    ie = json.loads((HERE / "lme4_lmm_timings.json").read_text())["insteval_shape"]
    out["insteval_lmm_reml"] = (ie["median_seconds"], -0.5 * ie["reml_criterion"])
    return out


def main() -> None:
    quick = "--quick" in sys.argv
    cbpp = interlace.load_dataset("cbpp")
    sleep = interlace.load_dataset("sleepstudy")
    sparse = pd.read_csv(REFS / "data" / "sparse_binary.csv", dtype={"g": str})
    cases = {
        "cbpp": (lambda: interlace.glmer("incidence / size ~ period", cbpp, family="binomial",
                                         groups="herd"), 5 if quick else 30),
        "cbpp_nagq25": (lambda: interlace.glmer("incidence / size ~ period", cbpp,
                                                family="binomial", groups="herd", nAGQ=25),
                        5 if quick else 30),
        "sparse_binary_nagq20": (lambda: interlace.glmer("y ~ x + (1 | g)", sparse,
                                                         family="binomial", nAGQ=20),
                                 3 if quick else 15),
        "sleepstudy_lmm_reml": (lambda: interlace.fit("Reaction ~ Days + (Days | Subject)", sleep),
                                5 if quick else 30),
    }
    if (DATA / "pois_100k.csv").exists():
        pois = pd.read_csv(DATA / "pois_100k.csv", dtype={"g": str})
        cases["pois_100k"] = (lambda: interlace.glmer("y ~ x1 + x2 + (1 | g)", pois,
                                                      family="poisson"), 1 if quick else 5)
    if (DATA / "lmm_insteval.csv").exists():
        ie = pd.read_csv(DATA / "lmm_insteval.csv", dtype={"s": str, "d": str, "dept": str})
        cases["insteval_lmm_reml"] = (lambda: interlace.fit(
            "y ~ x + (1 | s) + (1 | d) + (1 | dept)", ie), 1 if quick else 5)
    if (DATA / "binary_200k_crossed.csv").exists() and not quick:
        binr = pd.read_csv(DATA / "binary_200k_crossed.csv", dtype={"a": str, "b": str})
        cases["binary_200k_crossed"] = (lambda: interlace.glmer(
            "y ~ x + (1 | a) + (1 | b)", binr, family="binomial"), 3)
    for fn, _ in cases.values():
        fn()  # warm: imports, plugin discovery, caches
    ref = lme4_seconds()
    out = {"machine": {"python": platform.python_version(), "machine": platform.machine(),
                       "cpus": os.cpu_count(), "numpy": __import__("numpy").__version__},
           "results": {}}
    for name, (fn, rep) in cases.items():
        med, best, r = timed(fn, rep)
        lme4_t, lme4_ll = ref.get(name, (None, None))
        out["results"][name] = {"median_s": med, "min_s": best, "repeat": rep, "llf": r.llf,
                                "lme4_median_s": lme4_t, "lme4_loglik": lme4_ll,
                                "converged": r.converged}
        lt = "-" if lme4_t is None else f"{lme4_t * 1e3:9.1f} ms"
        print(f"{name:22s} interlace {med * 1e3:9.1f} ms (min {best * 1e3:.1f}, n={rep})  "
              f"lme4 {lt}  llf {r.llf:.4f}" + ("" if lme4_ll is None else f" (lme4 {lme4_ll:.4f})"))
    if not quick:
        (HERE / "results_core.json").write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
