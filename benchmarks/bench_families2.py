"""Speed of every extended family (issue 16) against glmmTMB, in one run on one machine.

usage: python benchmarks/bench_families2.py [--repeat N] [--skip-r] [--markdown]

The cases are benchmarks/families2_cases.json (ZIP, ZIP with ``~mined``, the Poisson hurdle,
NB1, NB2, ZINB2, Beta, Gamma, Tweedie, t, genpois, compois, betabinomial, zero-truncated
Poisson and NB2, the Gamma hurdle). The script first runs bench_families2.R (glmmTMB: one
warm-up fit, then the median of 5) unless ``--skip-r`` (then the last families2_glmmtmb.json
is read), then times interlace (one warm-up fit, then the median of ``--repeat`` fits, 7 by
default) and prints both, elapsed and CPU (user + system) seconds, with the ratios and the
log-likelihood difference. CPU time is the fair measure on a shared machine (other jobs
stretch elapsed times unevenly between the R and the Python half of a run). Writes
benchmarks/results_families2.json.
"""

from __future__ import annotations

import json
import platform
import statistics
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pandas as pd

import interlace
from interlace.integrators.laplace import LaplaceIntegrator

HERE = Path(__file__).resolve().parent
REFS = HERE.parent / "tests" / "reference"


def load(name: str) -> pd.DataFrame:
    if name.endswith(".csv"):
        return pd.read_csv(REFS / name, dtype={"g": str, "site": str})
    return interlace.load_dataset(name)


def fit_kwargs(case: dict) -> dict:
    kw = {"formula": case["formula"], "family": case["family"], "link": case.get("link"),
          "ziformula": case.get("ziformula")}
    if case.get("observed"):  # glmmTMB's Laplace for nbinom2 (glmer's default is lme4's)
        kw["integrator"] = LaplaceIntegrator(information="observed")
    return kw


def time_interlace(case: dict, repeat: int) -> tuple[float, float, float]:
    """(median elapsed seconds, median CPU seconds, log-likelihood) of ``repeat`` fits after
    one warm-up fit."""
    data, kw = load(case["data"]), fit_kwargs(case)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = interlace.glmer(data=data, **kw)
        wall, cpu = [], []
        for _ in range(repeat):
            t, c = time.perf_counter(), time.process_time()
            interlace.glmer(data=data, **kw)
            wall.append(time.perf_counter() - t)
            cpu.append(time.process_time() - c)
    return statistics.median(wall), statistics.median(cpu), r.llf


def print_table(rows: list[dict], md: bool) -> None:
    """Elapsed and CPU seconds of both, their ratios and the log-likelihood difference."""
    if md:
        print("| model | interlace (CPU) | glmmTMB (CPU) | glmmTMB / interlace: elapsed | CPU |"
              " logLik - glmmTMB's |\n|---|---|---|---|---|---|")
    else:
        print(f"{'model':<20}{'interlace s':>12}{'cpu':>8}{'glmmTMB s':>11}{'cpu':>8}"
              f"{'ratio':>7}{'cpu':>7}{'dlogLik':>11}")
    for r in rows:
        if md:
            print(f"| {r['model']} | {r['seconds']:.3f} s ({r['cpu_seconds']:.3f}) | "
                  f"{r['glmmTMB_seconds']:.3f} s ({r['glmmTMB_cpu_seconds']:.3f}) | "
                  f"{r['ratio']:.1f}x | {r['cpu_ratio']:.1f}x | {r['loglik_diff']:+.1e} |")
        else:
            print(f"{r['model']:<20}{r['seconds']:12.3f}{r['cpu_seconds']:8.3f}"
                  f"{r['glmmTMB_seconds']:11.3f}{r['glmmTMB_cpu_seconds']:8.3f}{r['ratio']:7.1f}"
                  f"{r['cpu_ratio']:7.1f}{r['loglik_diff']:11.1e}")


def main() -> None:
    repeat = int(sys.argv[sys.argv.index("--repeat") + 1]) if "--repeat" in sys.argv else 7
    if "--skip-r" not in sys.argv:
        subprocess.run(["Rscript", "bench_families2.R"], cwd=HERE, check=True)
    cases = json.loads((HERE / "families2_cases.json").read_text())["cases"]
    tmb = json.loads((HERE / "families2_glmmtmb.json").read_text())
    rows = []
    for case in cases:
        secs, cpu, llf = time_interlace(case, repeat)
        ref = tmb["results"][case["key"]]
        rows.append({"model": case["key"], "seconds": secs, "cpu_seconds": cpu,
                     "glmmTMB_seconds": ref["seconds"], "glmmTMB_cpu_seconds": ref["cpu_seconds"],
                     "ratio": ref["seconds"] / secs, "cpu_ratio": ref["cpu_seconds"] / cpu,
                     "loglik_diff": llf - ref["loglik"]})
    print_table(rows, "--markdown" in sys.argv)
    out = {"machine": platform.platform(), "python": platform.python_version(),
           "glmmTMB": tmb["glmmTMB"], "R": tmb["R"], "repeat": repeat, "results": rows}
    (HERE / "results_families2.json").write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
