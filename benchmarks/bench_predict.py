"""Speed of predict(se_fit=True) against glmmTMB's predict(se.fit = TRUE) (issue 14).

usage: python benchmarks/bench_predict.py [--skip-r]
Writes a simulated Poisson data set (20,000 rows, 500 groups, fixed seed) and 2,000 new rows
(a tenth of them in new groups) into benchmarks/data (git-ignored), times interlace's
predictions with standard errors on cbpp (7 rows), sleepstudy (10 rows) and that set, without
random effects (re_form="~0") and with them (re_form=None, allow_new_levels=True): the first
call (which builds the modes' sensitivity, kept on the result) and the median of warm calls;
then runs bench_predict.R (glmmTMB, the same models and rows) and prints a markdown table.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

import interlace

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"


def write_data() -> None:
    DATA.mkdir(exist_ok=True)
    rng = np.random.default_rng(14)
    n, G = 20_000, 500
    g = rng.integers(0, G, n)
    x = rng.normal(size=n)
    y = rng.poisson(np.exp(0.3 + 0.4 * x + rng.normal(0, 0.5, G)[g]))
    pd.DataFrame({"y": y, "x": x.round(6), "g": [f"g{i}" for i in g]}).to_csv(
        DATA / "predict_pois.csv", index=False)
    m = 2_000
    gn = rng.integers(0, G + G // 10, m)  # ids past G are new groups
    pd.DataFrame({"x": rng.normal(size=m).round(6), "g": [f"g{i}" for i in gn]}).to_csv(
        DATA / "predict_pois_new.csv", index=False)


def cases():
    cbpp = interlace.load_dataset("cbpp")
    sleep = interlace.load_dataset("sleepstudy")
    pois = pd.read_csv(DATA / "predict_pois.csv", dtype={"g": str})
    new = pd.read_csv(DATA / "predict_pois_new.csv", dtype={"g": str})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield "cbpp", interlace.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)",
                                      cbpp, family="binomial"), cbpp.head(7), 30
        yield "sleepstudy", interlace.fit("Reaction ~ Days + (Days | Subject)", sleep,
                                          method="ML"), sleep.head(10), 30
        yield "pois_20k", interlace.glmer("y ~ x + (1 | g)", pois, family="poisson"), new, 5


def timed(r, new: pd.DataFrame, reps: int, **kwargs) -> float:
    """Median seconds of ``reps`` calls of r.predict(new, se_fit=True, **kwargs)."""
    ts = []
    for _ in range(reps):
        t = time.perf_counter()
        r.predict(new, se_fit=True, **kwargs)
        ts.append(time.perf_counter() - t)
    return statistics.median(ts)


def main() -> None:
    write_data()
    ours = {}
    for name, r, new, reps in cases():
        first = timed(r, new, 1, allow_new_levels=True)
        ours[name] = {"fixed": timed(r, new, reps, re_form="~0"), "full_first": first,
                      "full": timed(r, new, reps, allow_new_levels=True), "rows": len(new)}
    theirs = {}
    if "--skip-r" not in sys.argv:
        subprocess.run(["Rscript", "bench_predict.R"], cwd=HERE, check=True)
        theirs = json.loads((DATA / "predict_r.json").read_text())
    (HERE / "results_predict.json").write_text(json.dumps({"interlace": ours, "R": theirs},
                                                          indent=1))
    print("| model | new rows | re_form | interlace | glmmTMB | glmmTMB / interlace |")
    print("|---|---:|---|---:|---:|---:|")
    for name, o in ours.items():
        for part, label in (("fixed", "~0 (NA)"), ("full", "None (NULL)")):
            rt = theirs.get(name, {}).get(part)
            first = f" (first call {o['full_first'] * 1e3:.1f} ms)" if part == "full" else ""
            cell = f"{rt * 1e3:.0f} ms" if rt else "-"
            ratio = f"{rt / o[part]:.0f}" if rt else "-"
            print(f"| {name} | {o['rows']} | {label} | {o[part] * 1e3:.2f} ms{first} | {cell} "
                  f"| {ratio} |")


if __name__ == "__main__":
    main()
