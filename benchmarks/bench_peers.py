"""Issue 19: interlace against the fastest peer of each of three shapes, in one run.

usage: python benchmarks/bench_peers.py [--peer-python /tmp/gpb/bin/python] [--cases a,b]
                                        [--repeat N] [--lme4] [--big] [--no-save]

Cases (data written by benchmarks/make_data.py's generators into benchmarks/data, git-ignored):

* ``pois_1m``: ``y ~ x1 + x2 + (1 | g)``, Poisson, 1,000,000 rows, 10,000 groups; peer GPBoost
  ``GPModel(group_data=g, likelihood="poisson")`` (Cholesky and iterative, the faster counts);
* ``insteval_lmm``: ``y ~ x + (1 | s) + (1 | d) + (1 | dept)``, 73,000 rows, 2,972 x 1,128 x
  14 crossed levels; peers statsmodels ``MixedLM`` (REML, :data:`MIXEDLM_CALL`; cut off after
  ``--mixedlm-timeout`` seconds, its progress kept), GPBoost ``likelihood="gaussian"`` (ML,
  against ``interlace.fit(..., method="ML")``) and lme4's ``lmer`` (REML, via bench_scale.R);
* ``binary_200k``: ``y ~ x + (1 | a) + (1 | b)``, Bernoulli-logit, 200,000 rows, 2,000 x 100
  crossed levels; peer GPBoost ``likelihood="bernoulli_logit"`` (Cholesky and iterative).

Every fit runs in a fresh process with one BLAS/OpenMP thread (``OMP_NUM_THREADS=1`` and
friends): the data are read, the peak-RSS mark (VmHWM) is reset, then ``--repeat`` fits are
timed (wall and CPU of the process); the first is the cold fit, the figure compared is the
median (lme4: one fit, wall time). The peers
run in their own venv (``--peer-python``; never a project dependency)::

    python3 -m venv /tmp/gpb && /tmp/gpb/bin/pip install gpboost pandas statsmodels

``--big`` adds the Poisson shape in memory at 1M and 10M rows (10,000 groups; data generated
in the fitting process with a categorical ``g``, peak RSS reset after generation): how time and
memory grow. lme4 always runs on the LMM (a contender there); ``--lme4`` adds it on the GLMM
cases too, for reference (minutes). Results go to
``benchmarks/results_peers.json`` unless ``--no-save``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DATA = HERE / "data"
ONE_THREAD = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
              "VECLIB_MAXIMUM_THREADS": "1", "NUMEXPR_NUM_THREADS": "1"}

CASES = {
    "pois_1m": dict(csv="pois_1m_10kg.csv", factors=["g"], kind="glmm", family="poisson",
                    formula="y ~ x1 + x2 + (1 | g)", peer="gpboost", likelihood="poisson",
                    x=["x1", "x2"], groups=["g"]),
    "insteval_lmm": dict(csv="lmm_insteval.csv", factors=["s", "d", "dept"], kind="lmm",
                         formula="y ~ x + (1 | s) + (1 | d) + (1 | dept)", peer="mixedlm"),
    "binary_200k": dict(csv="binary_200k_crossed.csv", factors=["a", "b"], kind="glmm",
                        family="binomial", formula="y ~ x + (1 | a) + (1 | b)", peer="gpboost",
                        likelihood="bernoulli_logit", x=["x"], groups=["a", "b"]),
}

COMMON = r"""
import json, statistics, sys, time
from pathlib import Path
import numpy as np, pandas as pd

def hwm_reset():
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False

def hwm_mb():
    for ln in Path("/proc/self/status").read_text().splitlines():
        if ln.startswith("VmHWM:"):
            return int(ln.split()[1]) / 1024.0

def timed(fit, repeat):
    ok = hwm_reset()
    walls, cpus, out = [], [], None
    for _ in range(repeat):
        t, c = time.perf_counter(), time.process_time()
        out = fit()
        walls.append(time.perf_counter() - t)
        cpus.append(time.process_time() - c)
    return out, {"wall_s": statistics.median(walls), "cpu_s": statistics.median(cpus),
                 "cold_s": walls[0], "walls": walls, "peak_mb": hwm_mb() if ok else None}
"""

INTERLACE = COMMON + r"""
import interlace
spec = json.loads(sys.argv[1])
if spec.get("rows"):  # the Poisson shape in memory (--big)
    sys.path.insert(0, spec["bench"])
    from make_data import make_pois_frame
    df = make_pois_frame(spec["groups"], spec["rows"] // spec["groups"], seed=spec["seed"])
else:
    df = pd.read_csv(spec["csv"], dtype={c: str for c in spec["factors"]})
if spec["kind"] == "lmm":
    fit = lambda: interlace.fit(spec["formula"], df, method=spec.get("method", "REML"))
else:
    fit = lambda: interlace.glmer(spec["formula"], df, family=spec["family"])
r, out = timed(fit, spec["repeat"])
out.update(loglik=float(r.llf), evaluations=int(getattr(r, "evaluations", -1)),
           converged=bool(r.converged), rows=len(df), version=interlace.__version__)
print(json.dumps(out))
"""

GPBOOST = COMMON + r"""
import gpboost as gpb
spec = json.loads(sys.argv[1])
df = pd.read_csv(spec["csv"], dtype={c: str for c in spec["factors"]})
X = np.column_stack([np.ones(len(df))] + [df[c].to_numpy(float) for c in spec["x"]])
y = df["y"].to_numpy(float)
def fit():
    m = gpb.GPModel(group_data=df[spec["groups"]], likelihood=spec["likelihood"],
                    matrix_inversion_method=spec["method"])
    m.fit(y=y, X=X)
    return m
m, out = timed(fit, spec["repeat"])
out.update(loglik=-float(m.get_current_neg_log_likelihood()), version=gpb.__version__,
           call=f"GPModel(group_data=df[{spec['groups']}], likelihood={spec['likelihood']!r}, "
                f"matrix_inversion_method={spec['method']!r}).fit(y=y, X=[1, {', '.join(spec['x'])}])",
           cov_pars=np.asarray(m.get_cov_pars()).ravel().tolist(),
           coef=np.asarray(m.get_coef()).ravel().tolist())
print(json.dumps(out))
"""

#: statsmodels' MixedLM has no crossed factors as such: the three factors are variance
#: components of one group holding every row (statsmodels' documented way to fit crossed
#: random effects), with sparse variance-component matrices.
MIXEDLM_CALL = ('MixedLM.from_formula("y ~ x", data=df, groups=np.ones(len(df)), re_formula="0", '
                'vc_formula={"s": "0 + C(s)", "d": "0 + C(d)", "dept": "0 + C(dept)"}, '
                'use_sparse=True).fit(reml=True)')

MIXEDLM = COMMON + r"""
import warnings
import statsmodels
from statsmodels.regression.mixed_linear_model import MixedLM
warnings.simplefilter("ignore")
spec = json.loads(sys.argv[1])
df = pd.read_csv(spec["csv"], dtype={c: str for c in spec["factors"]})
T0 = time.perf_counter()
def fit():
    m = MixedLM.from_formula("y ~ x", data=df, groups=np.ones(len(df)), re_formula="0",
                             vc_formula={"s": "0 + C(s)", "d": "0 + C(d)", "dept": "0 + C(dept)"},
                             use_sparse=True)
    print(f"built {time.perf_counter() - T0:.1f} s cpu {time.process_time():.1f} s",
          file=sys.stderr, flush=True)
    loglike = m.loglike
    def logged(*a, **k):  # progress, read back when the fit is cut off by the timeout
        v = loglike(*a, **k)
        print(f"evaluation at {time.perf_counter() - T0:.1f} s cpu {time.process_time():.1f} s"
              f" loglik {v:.4f}", file=sys.stderr, flush=True)
        return v
    m.loglike = logged
    return m.fit(reml=True)
r, out = timed(fit, spec["repeat"])
out.update(loglik=float(r.llf), version=statsmodels.__version__, converged=bool(r.converged),
           vcomp=np.asarray(r.vcomp).tolist(), scale=float(r.scale),
           fe=np.asarray(r.fe_params).tolist())
print(json.dumps(out))
"""


def run(python: str, code: str, spec: dict, timeout: float = 1800) -> dict:
    """One child process with one thread; its JSON line, or the error (on a timeout, with
    the last lines the child wrote to stderr: its progress)."""
    env = {**os.environ, **ONE_THREAD}
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    p = subprocess.Popen([python, "-c", code, json.dumps(spec)], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, env=env)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
        return {"error": f"timed out after {timeout:.0f} s",
                "progress": err.strip().splitlines()[-4:]}
    if p.returncode != 0:
        tail = err.strip().splitlines()
        return {"error": tail[-1] if tail else f"exit {p.returncode}"}
    return json.loads(out.strip().splitlines()[-1])


def ensure_data() -> None:
    """Write each missing data file (bench_scale.py's generators and seeds)."""
    sys.path.insert(0, str(HERE))
    from make_data import make_binary_crossed, make_lmm_insteval, make_pois

    DATA.mkdir(exist_ok=True)
    makers = {"pois_1m_10kg.csv": lambda: make_pois(n_groups=10_000, per_group=100, seed=117),
              "lmm_insteval.csv": make_lmm_insteval,
              "binary_200k_crossed.csv": make_binary_crossed}
    for name, make in makers.items():
        if not (DATA / name).exists():
            make().to_csv(DATA / name, index=False)


def peer_runs(case: dict, python: str, repeat: int, mixedlm_timeout: float) -> dict:
    """The case's peers in each of their settings (GPBoost: both matrix inversion methods;
    the LMM: statsmodels' MixedLM (REML) and GPBoost's Gaussian likelihood (ML)). Each entry
    says which interlace fit it is compared with ("REML" or "ML")."""
    spec = {**case, "csv": str(DATA / case["csv"]), "repeat": repeat}
    if case["peer"] == "mixedlm":
        out = {"mixedlm": run(python, MIXEDLM, {**spec, "repeat": 1}, timeout=mixedlm_timeout)}
        gspec = {**spec, "likelihood": "gaussian", "x": ["x"], "groups": ["s", "d", "dept"],
                 "method": "cholesky", "repeat": 1}
        out["gpboost_gaussian_cholesky"] = run(python, GPBOOST, gspec)
        out["mixedlm"]["compare"], out["gpboost_gaussian_cholesky"]["compare"] = "REML", "ML"
        return out
    return {f"gpboost_{m}": {**run(python, GPBOOST, {**spec, "method": m}), "compare": "ML"}
            for m in ("cholesky", "iterative")}


def fastest(peers: dict) -> tuple[str, dict] | None:
    """The peer entry with the smallest median wall time (failed or cut-off ones excluded)."""
    ok = [(k, v) for k, v in peers.items() if "error" not in v]
    return min(ok, key=lambda kv: kv[1]["wall_s"]) if ok else None


def lme4_runs(names: list[str]) -> dict:
    """lme4 on the same files through bench_scale.R (one fit each), {} without Rscript."""
    if shutil.which("Rscript") is None:
        return {}
    r_calls = {"pois_1m": "glmer", "insteval_lmm": "lmer", "binary_200k": "glmer"}
    spec = {n: {"csv": str(DATA / CASES[n]["csv"]), "formula": CASES[n]["formula"],
                "call": r_calls[n], "factors": CASES[n]["factors"], "repeat": 1} for n in names}
    spec_file, out_file = DATA / "peers_r_cases.json", DATA / "peers_r.json"
    spec_file.write_text(json.dumps(spec))
    p = subprocess.run(["Rscript", str(HERE / "bench_scale.R"), str(spec_file), str(out_file)],
                       capture_output=True, text=True, check=False,
                       env={**os.environ, **ONE_THREAD})
    if p.returncode != 0:
        return {}
    res = json.loads(out_file.read_text()).get("results", {})
    return {n: {**v, "wall_s": v["median_s"], "cpu_s": None, "compare": "REML"
                if r_calls[n] == "lmer" else "ML"} for n, v in res.items()}


def big_runs(python: str) -> dict:
    """The Poisson shape generated in memory at 1M and 10M rows (10,000 groups), one fit each."""
    out = {}
    for rows in (1_000_000, 10_000_000):
        spec = {"kind": "glmm", "family": "poisson", "formula": "y ~ x1 + x2 + (1 | g)",
                "rows": rows, "groups": 10_000, "seed": 119, "bench": str(HERE), "repeat": 1}
        out[f"pois_{rows // 1_000_000}m_memory"] = res = run(python, INTERLACE, spec)
        print(f"  in memory {rows:>10,d} rows: {res}", flush=True)
    return out


def table(results: dict) -> None:
    """interlace against each case's fastest peer (the matching REML / ML fit)."""
    print(f"\n{'case':14s} {'interlace s':>12s} {'cpu s':>7s} {'fastest peer':>26s} "
          f"{'peer s':>8s} {'ratio':>6s} {'loglik diff':>12s}")
    for n, v in results.items():
        best = fastest(v["peers"])
        if best is None:
            print(f"{n:14s} no peer finished: {v['peers']}")
            continue
        k, p = best
        o = v["interlace"] if p["compare"] == "REML" or "interlace_ml" not in v else v["interlace_ml"]
        if "error" in o:
            print(f"{n:14s} interlace failed: {o['error']}")
            continue
        print(f"{n:14s} {o['wall_s']:12.3f} {o['cpu_s']:7.3f} {k:>26s} {p['wall_s']:8.3f} "
              f"{o['wall_s'] / p['wall_s']:6.3f} {o['loglik'] - p['loglik']:+12.4f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--peer-python", default="/tmp/gpb/bin/python")
    ap.add_argument("--cases", default=",".join(CASES))
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--lme4", action="store_true",
                    help="lme4 on every case (default: the LMM only, where it is a contender)")
    ap.add_argument("--mixedlm-timeout", type=float, default=600.0)
    ap.add_argument("--big", action="store_true", help="1M and 10M Poisson rows in memory")
    ap.add_argument("--no-save", action="store_true")
    args = ap.parse_args()
    ensure_data()
    names = args.cases.split(",")
    sys.path.insert(0, str(HERE))
    from bench_scale import machine  # the same record of the machine as the other benchmarks

    info = machine()
    print(f"{info['date']}  {info['cpu']} x{info['cpus']}  load {info['load_average']}",
          flush=True)
    results = {}
    for n in names:
        case = CASES[n]
        spec = {**case, "csv": str(DATA / case["csv"]), "repeat": args.repeat}
        results[n] = res = {"interlace": run(sys.executable, INTERLACE, spec),
                            "formula": case["formula"]}
        print(f"{n}: interlace {res['interlace']}", flush=True)
        if case["kind"] == "lmm":
            res["interlace_ml"] = run(sys.executable, INTERLACE, {**spec, "method": "ML"})
            print(f"{n}: interlace ML {res['interlace_ml']}", flush=True)
        res["peers"] = peer_runs(case, args.peer_python, args.repeat, args.mixedlm_timeout)
        for k, v in res["peers"].items():
            print(f"{n}: {k} {v}", flush=True)
        res["load_average"] = [round(x, 2) for x in os.getloadavg()]
    r_names = names if args.lme4 else [n for n in names if CASES[n]["kind"] == "lmm"]
    for n, v in (lme4_runs(r_names) if r_names else {}).items():
        results[n]["peers"][f"lme4_{v['call']}"] = v
        print(f"{n}: lme4 {v}", flush=True)
    big = big_runs(sys.executable) if args.big else {}
    info["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    table(results)
    if not args.no_save:
        path = HERE / "results_peers.json"
        path.write_text(json.dumps({"machine": info, "results": results, "big": big,
                                    "mixedlm_call": MIXEDLM_CALL}, indent=1))


if __name__ == "__main__":
    main()
