"""Speed of every extended family (issue 16) against glmmTMB, in one run on one machine.

usage: python benchmarks/bench_families2.py [--repeat N] [--skip-r] [--markdown]

The cases are benchmarks/families2_cases.json (ZIP, ZIP with ``~mined``, the Poisson hurdle,
NB1, NB2, ZINB2, Beta, Gamma, Tweedie, t, genpois, compois, betabinomial, zero-truncated
Poisson and NB2, the Gamma hurdle). The script first runs bench_families2.R (glmmTMB: one
warm-up fit, then the median of 5) unless ``--skip-r`` (then the last families2_glmmtmb.json
is read), then times interlace (one warm-up fit, then the median of ``--repeat`` fits, 7 by
default) and prints both with the ratio and the log-likelihood difference. Writes
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


def time_interlace(case: dict, repeat: int) -> tuple[float, float]:
    data, kw = load(case["data"]), fit_kwargs(case)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = interlace.glmer(data=data, **kw)
        times = []
        for _ in range(repeat):
            t = time.perf_counter()
            interlace.glmer(data=data, **kw)
            times.append(time.perf_counter() - t)
    return statistics.median(times), r.llf


def main() -> None:
    repeat = int(sys.argv[sys.argv.index("--repeat") + 1]) if "--repeat" in sys.argv else 7
    if "--skip-r" not in sys.argv:
        subprocess.run(["Rscript", "bench_families2.R"], cwd=HERE, check=True)
    cases = json.loads((HERE / "families2_cases.json").read_text())["cases"]
    tmb = json.loads((HERE / "families2_glmmtmb.json").read_text())
    rows = []
    for case in cases:
        secs, llf = time_interlace(case, repeat)
        ref = tmb["results"][case["key"]]
        rows.append({"model": case["key"], "seconds": secs, "glmmTMB_seconds": ref["seconds"],
                     "ratio": ref["seconds"] / secs, "loglik_diff": llf - ref["loglik"]})
    md = "--markdown" in sys.argv
    head = ("| model | interlace | glmmTMB | glmmTMB / interlace | logLik - glmmTMB's |\n"
            "|---|---|---|---|---|" if md else
            f"{'model':<20}{'interlace s':>12}{'glmmTMB s':>11}{'ratio':>8}{'dlogLik':>11}")
    print(head)
    for r in rows:
        if md:
            print(f"| {r['model']} | {r['seconds']:.3f} s | {r['glmmTMB_seconds']:.3f} s | "
                  f"{r['ratio']:.1f}x | {r['loglik_diff']:+.1e} |")
        else:
            print(f"{r['model']:<20}{r['seconds']:12.3f}{r['glmmTMB_seconds']:11.3f}"
                  f"{r['ratio']:8.1f}{r['loglik_diff']:11.1e}")
    out = {"machine": platform.platform(), "python": platform.python_version(),
           "glmmTMB": tmb["glmmTMB"], "R": tmb["R"], "repeat": repeat, "results": rows}
    (HERE / "results_families2.json").write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
