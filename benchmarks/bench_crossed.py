"""Large crossed random effects (issue 19): binary GLMM ``y ~ x + (1 | a) + (1 | b)``.

Times interlace and GPBoost (a benchmark-only venv, never a project dependency) on the same
data in the same run, each fit in a fresh process with one BLAS/OpenMP thread, and records
wall time, log-likelihood and peak RSS of the fitting process.

    python benchmarks/bench_crossed.py [--gpb /tmp/gpb/bin/python] [--cases 200k,400k]

GPBoost venv: ``python3 -m venv /tmp/gpb && /tmp/gpb/bin/pip install gpboost pandas``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
CASES = {"200k": (200_000, 20_000, 2_000), "400k": (400_000, 40_000, 5_000)}
ONE_THREAD = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}

INTERLACE = """
import json, sys, time
import pandas as pd
import interlace
df = pd.read_csv(sys.argv[1], dtype={"a": str, "b": str})
t, c = time.perf_counter(), time.process_time()
r = interlace.glmer("y ~ x + (1 | a) + (1 | b)", data=df, family="binomial",
                    solver=sys.argv[2])
el, cpu = time.perf_counter() - t, time.process_time() - c
peak = [int(x.split()[1]) for x in open("/proc/self/status") if x.startswith("VmHWM")][0]
print(json.dumps({"time_s": el, "cpu_s": cpu, "loglik": float(r.llf), "peak_mb": peak / 1024,
                  "converged": bool(r.converged), "solver": r.solver,
                  "fixef": [float(v) for v in r.fe_params],
                  "se": [float(v) for v in r.bse], "theta": [float(v) for v in r.theta]}))
"""

GPBOOST = """
import json, sys, time
import numpy as np, pandas as pd
import gpboost as gpb
df = pd.read_csv(sys.argv[1], dtype={"a": str, "b": str})
X = np.column_stack([np.ones(len(df)), df["x"].to_numpy()])
t, c = time.perf_counter(), time.process_time()
m = gpb.GPModel(group_data=df[["a", "b"]], likelihood="bernoulli_logit",
                matrix_inversion_method=sys.argv[2])
m.fit(y=df["y"].to_numpy(), X=X)
el, cpu = time.perf_counter() - t, time.process_time() - c
peak = [int(x.split()[1]) for x in open("/proc/self/status") if x.startswith("VmHWM")][0]
print(json.dumps({"time_s": el, "cpu_s": cpu,
                  "loglik": -float(m.get_current_neg_log_likelihood()),
                  "peak_mb": peak / 1024, "version": gpb.__version__}))
"""


def make_data(n: int, n_a: int, n_b: int, seed: int = 19) -> pd.DataFrame:
    """Random crossing: each row draws its a and b levels independently."""
    rng = np.random.default_rng(seed)
    a, b = rng.integers(0, n_a, n), rng.integers(0, n_b, n)
    x = rng.standard_normal(n)
    eta = -0.3 + 0.5 * x + rng.normal(0, 0.7, n_a)[a] + rng.normal(0, 0.4, n_b)[b]
    y = rng.binomial(1, 1.0 / (1.0 + np.exp(-eta)))
    return pd.DataFrame({"y": y, "x": np.round(x, 6), "a": [f"a{i}" for i in a],
                         "b": [f"b{i}" for i in b]})


def run(python: str, code: str, *args: str) -> dict:
    """One fit in a fresh process with one thread; its JSON line, or the error."""
    env = {**os.environ, **ONE_THREAD}
    p = subprocess.run([python, "-c", code, *args], capture_output=True, text=True, env=env)
    if p.returncode != 0:
        return {"error": p.stderr.strip().splitlines()[-1] if p.stderr.strip() else "failed"}
    return json.loads(p.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--gpb", default="/tmp/gpb/bin/python")
    ap.add_argument("--cases", default="200k,400k")
    ap.add_argument("--gpb-methods", default="iterative")
    ap.add_argument("--solvers", default="auto",
                    help="interlace solvers to time, e.g. auto,pcg (pcg: the exact path)")
    args = ap.parse_args()
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.cases.split(","):
            path = str(Path(tmp) / f"{name}.csv")
            make_data(*CASES[name]).to_csv(path, index=False)
            res = {"load_average": os.getloadavg()}
            for solver in args.solvers.split(","):
                key = "interlace" if solver == "auto" else f"interlace_{solver}"
                res[key] = run(sys.executable, INTERLACE, path, solver)
                print(name, key, res[key], flush=True)
            if Path(args.gpb).exists():
                for meth in args.gpb_methods.split(","):
                    res[f"gpboost_{meth}"] = run(args.gpb, GPBOOST, path, meth)
                    print(name, meth, res[f"gpboost_{meth}"], flush=True)
            res["load_average_after"] = os.getloadavg()
            out[name] = res
    path = HERE / "results_crossed.json"  # cases not run this time are kept
    old = json.loads(path.read_text()) if path.exists() else {}
    path.write_text(json.dumps({**old, **out}, indent=1))


if __name__ == "__main__":
    main()
