"""Issue 7's GLMM shapes: interlace against lme4 / glmmTMB on the same data, in one run.

usage: python benchmarks/bench_scale.py [--quick] [--skip-r] [--cases a,b] [--repeat N]

1. Writes every data set with fixed seeds into benchmarks/data (git-ignored; kept if present)
   and a case list, benchmarks/data/scale_cases.json.
2. Fits each case with interlace.glmer in a fresh subprocess: the data are read first, then
   one cold fit, then warm repeats (median reported). The subprocess reports the peak resident
   memory (VmHWM) of the fit itself: the peak is reset after the data are read.
3. When ``Rscript`` is on PATH (and not --skip-r), runs benchmarks/bench_scale.R on the same
   files (lme4's glmer, glmer.nb and glmmTMB) and reads its JSON.
4. Prints the table: case, rows, interlace s, R s, ratio, log-likelihood difference
   (interlace - R; positive means interlace found a higher likelihood) and peak MB; writes
   benchmarks/results_scale.json (full runs only: not with --quick or --cases).

--quick runs the small cases only (cbpp, Salamanders, the VerbAgg shape and 100k Poisson).
--markdown prints the last full run (results_scale.json) as the table in benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DATA = HERE / "data"
DATASETS = ROOT / "interlace" / "datasets"
sys.path.insert(0, str(HERE))

from make_data import make_binary_crossed, make_lmm_insteval, make_pois  # noqa: E402

# name: csv, interlace formula and keyword arguments, R call, repeats (full run), quick?
CASES: dict[str, dict] = {
    "cbpp": dict(csv=str(DATASETS / "cbpp.csv"), formula="incidence / size ~ period + (1 | herd)",
                 family="binomial", factors=["herd", "period"], repeat=30, r_repeat=20,
                 r_call="glmer", quick=True,
                 r_formula="cbind(incidence, size - incidence) ~ period + (1 | herd)"),
    "salamanders_nb2": dict(csv=str(DATASETS / "Salamanders.csv"), family="negativebinomial",
                            formula="count ~ mined + spp + (1 | site)",
                            factors=["site", "mined", "spp"], repeat=10, r_repeat=1,
                            r_call="glmer.nb", quick=True),
    "salamanders_nb2_observed": dict(csv=str(DATASETS / "Salamanders.csv"),
                                     family="negativebinomial", information="observed",
                                     formula="count ~ mined + spp + (1 | site)",
                                     factors=["site", "mined", "spp"], repeat=10, r_repeat=5,
                                     r_call="glmmTMB_nbinom2", quick=True),
    "verbagg_shape": dict(csv="verbagg_shape.csv", family="binomial",
                          formula="y ~ anger + gender + btype + situ + (1 | id) + (1 | item)",
                          factors=["id", "item", "gender", "btype", "situ"], repeat=7,
                          r_repeat=5, r_call="glmer", quick=True),
    "slopes_24k": dict(csv="slopes_24k.csv", family="binomial",
                       formula="y ~ x + (1 + x | subj) + (1 | item)", factors=["subj", "item"],
                       repeat=5, r_repeat=3, r_call="glmer", quick=False),
    "pois_100k": dict(csv="pois_100k.csv", family="poisson", formula="y ~ x1 + x2 + (1 | g)",
                      factors=["g"], repeat=5, r_repeat=3, r_call="glmer", quick=True),
    "binary_200k_crossed": dict(csv="binary_200k_crossed.csv", family="binomial",
                                formula="y ~ x + (1 | a) + (1 | b)", factors=["a", "b"],
                                repeat=3, r_repeat=2, r_call="glmer", quick=False),
    "pois_100k_10kg": dict(csv="pois_100k_10kg.csv", family="poisson",
                           formula="y ~ x1 + x2 + (1 | g)", factors=["g"], repeat=5, r_repeat=3,
                           r_call="glmer", quick=False),
    "pois_300k_10kg": dict(csv="pois_300k_10kg.csv", family="poisson",
                           formula="y ~ x1 + x2 + (1 | g)", factors=["g"], repeat=3, r_repeat=1,
                           r_call="glmer", quick=False),
    "pois_1m_10kg": dict(csv="pois_1m_10kg.csv", family="poisson", formula="y ~ x1 + x2 + (1 | g)",
                         factors=["g"], repeat=3, r_repeat=1, r_call="glmer", quick=False),
    # linear mixed models: interlace.fit (REML) against lmer
    "sleepstudy_lmm": dict(csv=str(DATASETS / "sleepstudy.csv"), kind="lmm",
                           formula="Reaction ~ Days + (Days | Subject)", factors=["Subject"],
                           repeat=300, r_repeat=50, r_call="lmer", quick=True),
    "insteval_lmm": dict(csv="lmm_insteval.csv", kind="lmm",
                         formula="y ~ x + (1 | s) + (1 | d) + (1 | dept)",
                         factors=["s", "d", "dept"], repeat=5, r_repeat=3, r_call="lmer",
                         quick=False),
}


def make_verbagg_shape(n_id: int = 316, n_item: int = 24, seed: int = 404) -> pd.DataFrame:
    """Fully crossed binary responses shaped like lme4's VerbAgg (316 people x 24 items):
    person covariates anger (trait score) and gender, item covariates btype (3) and situ (2)."""
    rng = np.random.default_rng(seed)
    pid = np.repeat(np.arange(n_id), n_item)
    item = np.tile(np.arange(n_item), n_id)
    anger = rng.integers(11, 40, n_id)
    gender = rng.binomial(1, 0.25, n_id)
    btype = np.arange(n_item) % 3
    situ = (np.arange(n_item) // 12) % 2
    eta = (-0.5 + 0.06 * (anger[pid] - 20) + 0.3 * gender[pid] - np.array([0.0, 1.0, 2.0])[btype[item]]
           - 1.0 * situ[item] + rng.normal(0, 1.3, n_id)[pid] + rng.normal(0, 0.6, n_item)[item])
    y = rng.binomial(1, 1.0 / (1.0 + np.exp(-eta)))
    return pd.DataFrame({"y": y, "anger": anger[pid], "gender": np.array(["F", "M"])[gender[pid]],
                         "btype": np.array(["curse", "scold", "shout"])[btype[item]],
                         "situ": np.array(["other", "self"])[situ[item]],
                         "id": [f"p{i:03d}" for i in pid], "item": [f"i{i:02d}" for i in item]})


def make_slopes(n_subj: int = 300, n_item: int = 40, reps: int = 2, seed: int = 505) -> pd.DataFrame:
    """Binary responses, subjects x items fully crossed twice, a correlated random slope of x by
    subject: eta = 0.2 + 0.5 x + s0 + s1 x + i0, sd(s0) = 0.8, sd(s1) = 0.4, corr 0.3, sd(i0) = 0.5."""
    rng = np.random.default_rng(seed)
    subj = np.repeat(np.arange(n_subj), n_item * reps)
    item = np.tile(np.arange(n_item), n_subj * reps)
    x = rng.standard_normal(subj.size)
    cov = np.array([[0.64, 0.3 * 0.8 * 0.4], [0.3 * 0.8 * 0.4, 0.16]])
    s = rng.multivariate_normal([0.0, 0.0], cov, n_subj)
    eta = 0.2 + 0.5 * x + s[subj, 0] + s[subj, 1] * x + rng.normal(0, 0.5, n_item)[item]
    y = rng.binomial(1, 1.0 / (1.0 + np.exp(-eta)))
    return pd.DataFrame({"y": y, "x": np.round(x, 6), "subj": [f"s{i:03d}" for i in subj],
                         "item": [f"i{i:02d}" for i in item]})


def write_data() -> None:
    """Write each missing data set (deterministic seeds)."""
    DATA.mkdir(exist_ok=True)
    makers = {
        "verbagg_shape.csv": make_verbagg_shape,
        "slopes_24k.csv": make_slopes,
        "pois_100k.csv": make_pois,  # 2,000 groups of 50 (bench_core's file)
        "binary_200k_crossed.csv": make_binary_crossed,
        "pois_100k_10kg.csv": lambda: make_pois(n_groups=10_000, per_group=10, seed=111),
        "pois_300k_10kg.csv": lambda: make_pois(n_groups=10_000, per_group=30, seed=113),
        "pois_1m_10kg.csv": lambda: make_pois(n_groups=10_000, per_group=100, seed=117),
        "lmm_insteval.csv": make_lmm_insteval,  # bench_core's file
    }
    for name, fn in makers.items():
        if not (DATA / name).exists():
            t = time.perf_counter()
            fn().to_csv(DATA / name, index=False)
            print(f"wrote {name} ({time.perf_counter() - t:.1f} s)", flush=True)


def csv_path(case: dict) -> Path:
    p = Path(case["csv"])
    return p if p.is_absolute() else DATA / p


def _peak_reset() -> bool:
    """Reset the kernel's peak-RSS mark (VmHWM) for this process; False if not allowed."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def _rss_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024.0
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def run_case(name: str, repeat: int) -> dict:
    """Fit one case in this process (called in a fresh subprocess) and return its figures."""
    import interlace
    from interlace.integrators.laplace import LaplaceIntegrator

    case = CASES[name]
    data = pd.read_csv(csv_path(case), dtype={c: str for c in case["factors"]})
    if case.get("kind") == "lmm":
        fit, kw = interlace.fit, {}
    else:
        fit, kw = interlace.glmer, {"family": case["family"]}
    if case.get("information"):
        kw["integrator"] = LaplaceIntegrator(information=case["information"])
    base = _rss_mb("VmRSS")
    reset = _peak_reset()
    t = time.perf_counter()
    r = fit(case["formula"], data, **kw)
    cold = time.perf_counter() - t
    peak = _rss_mb("VmHWM") if reset else float("nan")
    times, cpu = [], []
    for _ in range(repeat):
        t, c = time.perf_counter(), time.process_time()
        r = fit(case["formula"], data, **kw)
        times.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    return {"rows": len(data), "median_s": statistics.median(times), "min_s": min(times),
            "cpu_median_s": statistics.median(cpu),
            "cold_s": cold, "times": times, "llf": float(r.llf), "converged": bool(r.converged),
            "evaluations": int(getattr(r, "evaluations", -1)), "rss_before_fit_mb": base,
            "peak_rss_mb": peak}


def interlace_case(name: str, repeat: int) -> dict:
    """run_case in a fresh Python process (clean memory peak, no state from other cases)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    out = subprocess.run([sys.executable, __file__, "--child", name, "--repeat", str(repeat)],
                         capture_output=True, text=True, env=env, check=False)
    if out.returncode != 0:
        print(out.stderr, file=sys.stderr)
        raise RuntimeError(f"interlace case {name} failed")
    return json.loads(out.stdout.strip().splitlines()[-1])


def r_cases(names: list[str], quick: bool) -> dict:
    """Run bench_scale.R on the same files; {} when Rscript is missing or fails."""
    if shutil.which("Rscript") is None:
        print("Rscript not found: R timings skipped")
        return {}
    spec = {n: {"csv": str(csv_path(CASES[n])), "formula": CASES[n].get("r_formula",
                                                                        CASES[n]["formula"]),
                "call": CASES[n]["r_call"], "factors": CASES[n]["factors"],
                "repeat": 1 if quick and CASES[n]["r_repeat"] > 1 and n != "cbpp"
                else CASES[n]["r_repeat"]}
            for n in names}
    spec_file, out_file = DATA / "scale_cases.json", DATA / "scale_r.json"
    spec_file.write_text(json.dumps(spec, indent=1))
    print(f"running bench_scale.R on {len(names)} case(s) ...", flush=True)
    proc = subprocess.run(["Rscript", str(HERE / "bench_scale.R"), str(spec_file), str(out_file)],
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        print("bench_scale.R failed; R timings skipped\n" + proc.stderr[-2000:], file=sys.stderr)
        return {}
    return json.loads(out_file.read_text())


def machine() -> dict:
    import formulaic
    import scipy

    cpu = ""
    try:
        cpu = next(ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text()
                   .splitlines() if ln.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "cpu": cpu,
            "cpus": os.cpu_count(), "python": platform.python_version(),
            "numpy": np.__version__, "scipy": scipy.__version__, "pandas": pd.__version__,
            "formulaic": formulaic.__version__, "load_average": os.getloadavg()}


TARGETS = {"cbpp": "10 ms", "salamanders_nb2": "0.15 s", "salamanders_nb2_observed": "0.15 s",
           "verbagg_shape": "0.25 s", "slopes_24k": "1 s", "pois_100k": "0.5 s",
           "binary_200k_crossed": "4 s", "pois_1m_10kg": "5 s, 1.5 GB",
           "sleepstudy_lmm": "1.5 ms", "insteval_lmm": "1 s"}


def markdown() -> None:
    """The last full run as a markdown table."""
    res = json.loads((HERE / "results_scale.json").read_text())
    print("| case | rows | interlace | R | R / interlace | target | logLik interlace - R | "
          "peak RSS | model |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---|")
    for n, v in res["results"].items():
        o, r = v["interlace"], v["R"]
        def fmt(t: float) -> str:
            return f"{t * 1e3:.2f} ms" if t < 0.01 else f"{t * 1e3:.1f} ms" if t < 0.1 else f"{t:.2f} s"

        rt = f"{fmt(r['median_s'])} ({v['r_call']})" if r else "-"
        ratio = f"{r['median_s'] / o['median_s']:.1f}" if r else "-"
        dll = f"{o['llf'] - r['loglik']:+.1e}" if r else "-"
        formula = v["formula"].replace("|", "\\|")
        print(f"| {n} | {o['rows']:,} | **{fmt(o['median_s'])}** | {rt} | {ratio} | "
              f"{TARGETS.get(n, '-')} | {dll} | {o['peak_rss_mb']:.0f} MB | `{formula}` |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small cases only, fewer repeats")
    ap.add_argument("--skip-r", action="store_true", help="do not run R")
    ap.add_argument("--cases", default="", help="comma-separated case names (default: all)")
    ap.add_argument("--repeat", type=int, default=None, help="override the repeats per case")
    ap.add_argument("--markdown", action="store_true", help="print the last full run as markdown")
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.markdown:
        markdown()
        return
    if args.child:
        print(json.dumps(run_case(args.child, args.repeat or 1)))
        return
    names = [n for n in (args.cases.split(",") if args.cases else CASES)
             if not args.quick or CASES[n]["quick"]]
    write_data()
    info = machine()
    print(f"{info['date']}  {info['cpu']} x{info['cpus']}  load {info['load_average']}")
    ours = {}
    for n in names:
        rep = args.repeat or (min(CASES[n]["repeat"], 3) if args.quick else CASES[n]["repeat"])
        ours[n] = interlace_case(n, rep)
        o = ours[n]
        print(f"  {n:26s} {o['median_s']:9.4f} s  (cpu {o['cpu_median_s']:.4f} s, n={rep}, "
              f"cold {o['cold_s']:.3f} s)  "
              f"llf {o['llf']:.4f}  peak {o['peak_rss_mb']:.0f} MB", flush=True)
    ref = {} if args.skip_r else r_cases(names, args.quick)
    print()
    head = (f"{'case':26s} {'rows':>9s} {'interlace s':>12s} {'R s':>9s} {'R/ours':>7s} "
            f"{'logLik diff':>12s} {'peak MB':>8s}  R fit")
    print(head)
    print("-" * len(head))
    for n in names:
        o, r = ours[n], ref.get("results", {}).get(n)
        rs = f"{r['median_s']:9.3f}" if r else f"{'-':>9s}"
        ratio = f"{r['median_s'] / o['median_s']:7.1f}" if r else f"{'-':>7s}"
        dll = f"{o['llf'] - r['loglik']:12.2e}" if r and r.get("loglik") is not None else \
            f"{'-':>12s}"
        print(f"{n:26s} {o['rows']:9d} {o['median_s']:12.4f} {rs} {ratio} {dll} "
              f"{o['peak_rss_mb']:8.0f}  {CASES[n]['r_call'] if r else ''}")
    if not (args.quick or args.cases):  # only a full run replaces the recorded table
        out = {"machine": info, "R": {k: v for k, v in ref.items() if k != "results"},
               "results": {n: {"interlace": ours[n], "R": ref.get("results", {}).get(n),
                               "formula": CASES[n]["formula"], "r_call": CASES[n]["r_call"]}
                           for n in names}}
        (HERE / "results_scale.json").write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
