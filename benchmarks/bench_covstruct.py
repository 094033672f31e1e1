"""Speed of covariance-structure fits (ar1, cs) against glmmTMB's (issue 15), one run.

usage: python benchmarks/bench_covstruct.py [--skip-r]
Writes two simulated longitudinal data sets of 960 rows with fixed seeds into benchmarks/data
(git-ignored): 80 subjects x 12 times with AR(1) subject effects (rho 0.6), and 160 subjects
x 6 times with compound-symmetric ones (rho 0.4); fits ar1 and cs LMMs (REML) and Poisson
GLMMs (Laplace), and the exponential spatial Poisson GLMM of tests/reference/covstruct.R
(60 sites, 240 rows), with interlace (a cold fit, then the median of warm fits), then runs
bench_covstruct.R (glmmTMB, the same models and files, median of 3 fits) and prints a
markdown table with the log-likelihoods of both.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

import interlace

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"
#: the 60-site spatial Poisson data of tests/reference/covstruct.R (4 counts a site, one field)
REF_DATA = HERE.parent / "tests" / "reference" / "data"
SPATIAL = REF_DATA / "covstruct_spatial.csv"
CASES = {  # name: (file, formula, fitter, options)
    "lmm_ar1": ("covstruct_ar1.csv", "y ~ x + ar1(0 + time | id)", "fit", {}),
    "pois_ar1": ("covstruct_ar1.csv", "count ~ x + ar1(0 + time | id)", "glmer",
                 {"family": "poisson"}),
    "lmm_cs": ("covstruct_cs.csv", "y ~ x + cs(0 + time | id)", "fit", {}),
    "pois_cs": ("covstruct_cs.csv", "count ~ x + cs(0 + time | id)", "glmer",
                {"family": "poisson"}),
    "pois_exp": (SPATIAL, "count ~ z + exp(0 + pos | group)", "glmer", {"family": "poisson"}),
    # tests/reference/covstruct2.R's data: ou over 8 irregular times (600 rows), rr over 4
    # traits x 120 individuals (480 rows)
    "lmm_ou": (REF_DATA / "covstruct_ou.csv", "y ~ x + t + ou(0 + times | id)", "fit", {}),
    "pois_ou": (REF_DATA / "covstruct_ou.csv", "count ~ x + ou(0 + times | id)", "glmer",
                {"family": "poisson"}),
    "lmm_rr": (REF_DATA / "covstruct_rr.csv", "y ~ 0 + trait + rr(0 + trait | id, d = 2)", "fit",
               {}),
    "pois_rr": (REF_DATA / "covstruct_rr.csv", "count ~ 0 + trait + rr(0 + trait | id, d = 2)",
                "glmer", {"family": "poisson"}),
}


def simulate(nsub: int, nt: int, R: np.ndarray, sds: np.ndarray, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    b = rng.standard_normal((nsub, nt)) @ np.linalg.cholesky(R).T * sds
    sub, t = np.repeat(np.arange(nsub), nt), np.tile(np.arange(nt), nsub)
    x = rng.normal(size=nsub * nt).round(4)
    eta = 1.0 + 0.3 * x + b[sub, t]
    return pd.DataFrame({"id": [f"s{i:03d}" for i in sub], "time": [f"t{j:02d}" for j in t],
                         "x": x, "y": (eta + rng.normal(0, 0.5, eta.size)).round(4),
                         "count": rng.poisson(np.exp(0.5 * eta - 0.2))})


def write_data() -> None:
    DATA.mkdir(exist_ok=True)
    lag = np.abs(np.subtract.outer(np.arange(12), np.arange(12)))
    simulate(80, 12, 0.6**lag, np.ones(12), 15).to_csv(DATA / "covstruct_ar1.csv", index=False)
    R = np.full((6, 6), 0.4)
    np.fill_diagonal(R, 1.0)
    simulate(160, 6, R, np.linspace(0.5, 1.0, 6), 16).to_csv(DATA / "covstruct_cs.csv",
                                                              index=False)


def ours(reps: int = 5) -> dict:
    out = {}
    for name, (file, formula, fitter, opts) in CASES.items():
        d = pd.read_csv(DATA / file, dtype={"id": str})
        if "time" in d:
            d["time"] = d["time"].astype("category")
        elif "t" in d:
            d["times"] = interlace.num_factor(d["t"])
        elif "trait" in d:
            d["trait"] = d["trait"].astype("category")
        else:
            d["pos"] = interlace.num_factor(d["x"], d["y"])
        fit = getattr(interlace, fitter)
        ts = []
        for _ in range(reps + 1):
            t0 = time.perf_counter()
            r = fit(formula, d, **opts)
            ts.append(time.perf_counter() - t0)
        out[name] = {"cold": ts[0], "warm": statistics.median(ts[1:]), "llf": r.llf,
                     "converged": bool(r.converged)}
    return out


def main() -> None:
    write_data()
    mine = ours()
    theirs = {}
    if "--skip-r" not in sys.argv:
        subprocess.run(["Rscript", "bench_covstruct.R"], cwd=HERE, check=True)
        theirs = json.loads((DATA / "covstruct_r.json").read_text())
    print("| model (960 rows; the spatial one 240) | interlace cold (s) | interlace warm (s) | glmmTMB (s) | "
          "glmmTMB / interlace cold | logLik interlace - glmmTMB |")
    print("|---|---|---|---|---|---|")
    for name, m in mine.items():
        r = theirs.get(name, {})
        ratio = f"{r['seconds'] / m['cold']:.1f}" if r else "-"
        dl = f"{m['llf'] - r['loglik']:+.1e}" if r else "-"
        print(f"| `{CASES[name][1]}` | {m['cold']:.3f} | {m['warm']:.3f} | "
              f"{r.get('seconds', float('nan')):.3f} | {ratio} | {dl} |")
    (DATA / "covstruct_py.json").write_text(json.dumps(mine, indent=1))


if __name__ == "__main__":
    main()
