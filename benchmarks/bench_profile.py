"""Profile intervals: interlace's ``conf_int(method="profile")`` against lme4's
``confint(m, method = "profile")`` on cbpp (binomial GLMM) and sleepstudy (LMM, REML fit:
both profile its ML deviance), in one run.

usage: python benchmarks/bench_profile.py [--repeat N] [--skip-r]

interlace: the fit once, then the profile and its intervals (every parameter) ``--repeat``
times in this process (the first call, with imports warm, included in the median's sample);
R: benchmarks/bench_profile.R on the same data, the same way. Prints a markdown table (median
seconds, the ratio, and the largest difference of the interval limits from lme4's) and
writes benchmarks/results_profile.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

import interlace

HERE = Path(__file__).resolve().parent

CASES = {
    "cbpp": lambda: interlace.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)",
                                    interlace.load_dataset("cbpp"), family="binomial"),
    "sleepstudy": lambda: interlace.fit("Reaction ~ Days + (Days | Subject)",
                                        interlace.load_dataset("sleepstudy")),
}


def time_interlace(repeat: int) -> dict:
    """Median seconds of conf_int(method="profile") per case, and its table."""
    out = {}
    for name, make in CASES.items():
        fit = make()
        times = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            ci = fit.conf_int(method="profile")
            times.append(time.perf_counter() - t0)
        out[name] = {"seconds": statistics.median(times), "all": times,
                     "lower": ci["lower"].tolist(), "upper": ci["upper"].tolist(),
                     "parameters": list(ci.index)}
    return out


def time_r(repeat: int) -> dict:
    """bench_profile.R's figures ({} without Rscript)."""
    if shutil.which("Rscript") is None:
        print("Rscript not found: R timings skipped")
        return {}
    with tempfile.TemporaryDirectory() as tmp:
        out_file = Path(tmp) / "r.json"
        subprocess.run(["Rscript", str(HERE / "bench_profile.R"), str(repeat), str(out_file)],
                       cwd=HERE, check=True)
        return json.loads(out_file.read_text())


def table(ours: dict, r: dict) -> str:
    lines = ["| model | parameters | interlace s | lme4 s | lme4 / interlace | max abs diff of limits |",
             "|---|---|---|---|---|---|"]
    for name, res in ours.items():
        rr = r.get(name)
        if rr:
            diff = max(np.max(np.abs(np.subtract(res["lower"], rr["lower"]))),
                       np.max(np.abs(np.subtract(res["upper"], rr["upper"]))))
            lines.append(f"| {name} | {len(res['lower'])} | {res['seconds']:.3f} | "
                         f"{rr['seconds']:.2f} | {rr['seconds'] / res['seconds']:.0f}x | {diff:.1e} |")
        else:
            lines.append(f"| {name} | {len(res['lower'])} | {res['seconds']:.3f} | - | - | - |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--skip-r", action="store_true")
    args = ap.parse_args()
    ours = time_interlace(args.repeat)
    r = {} if args.skip_r else time_r(args.repeat)
    print(table(ours, r))
    result = {"interlace": ours, "R": r, "python": platform.python_version(),
              "interlace_version": getattr(interlace, "__version__", "?")}
    (HERE / "results_profile.json").write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
