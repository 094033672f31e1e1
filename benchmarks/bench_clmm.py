"""Speed of ``interlace.clmm`` against R's ``ordinal::clmm`` on the same data, in the same run.

usage: python benchmarks/bench_clmm.py [--repeat N] [--r-repeat M] [--skip-r] [--markdown]

Cases: ordinal's wine (``rating ~ temp + contact + (1 | judge)``, flexible and symmetric
thresholds) and soup (``SURENESS ~ PROD + (1 | RESP) + (1 | RESP:PROD)``, two random terms),
from the shipped CSVs. Runs ``bench_clmm.R`` (ordinal, default control) first, then times
interlace's complete calls (formula to result; one warm-up call, then N calls). Each side
reports the median wall time and the median CPU time of its process (the machine is shared:
CPU time is the fairer measure when other work runs; the ratio is given for both). Writes
benchmarks/results_clmm.json; ``--markdown`` prints the README table.
"""

from __future__ import annotations

import json
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import interlace

HERE = Path(__file__).resolve().parent
CASES = {
    "wine": ("rating ~ temp + contact + (1 | judge)", "wine", "flexible"),
    "wine_symmetric": ("rating ~ temp + contact + (1 | judge)", "wine", "symmetric"),
    "soup": ("SURENESS ~ PROD + (1 | RESP) + (1 | RESP:PROD)", "soup", "flexible"),
}


def _arg(name: str, default: int) -> int:
    return int(sys.argv[sys.argv.index(name) + 1]) if name in sys.argv else default


def run_r(reps: int) -> dict | None:
    """ordinal's timings from bench_clmm.R (None without Rscript)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "r.json"
        try:
            subprocess.run(["Rscript", "bench_clmm.R", str(out), str(reps)], cwd=HERE,
                           check=True)
        except FileNotFoundError:
            return None
        return json.loads(out.read_text())


def time_interlace(formula: str, data, threshold: str, reps: int) -> dict:
    """Median wall and CPU seconds of complete clmm() calls, and the last fit."""
    r = interlace.clmm(formula, data, threshold=threshold)  # warm-up (formula caches)
    wall, cpu = [], []
    for _ in range(reps):
        t, c = time.perf_counter(), time.process_time()
        r = interlace.clmm(formula, data, threshold=threshold)
        cpu.append(time.process_time() - c)
        wall.append(time.perf_counter() - t)
    return {"elapsed": statistics.median(wall), "cpu": statistics.median(cpu), "reps": reps,
            "loglik": r.llf, "evaluations": r.evaluations, "converged": r.converged}


def main() -> None:
    reps, r_reps = _arg("--repeat", 51), _arg("--r-repeat", 11)
    R = None if "--skip-r" in sys.argv else run_r(r_reps)
    rows = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for key, (formula, ds, threshold) in CASES.items():
            data = interlace.load_dataset(ds)
            n = reps if ds == "wine" else max(5, reps // 10)
            ours = time_interlace(formula, data, threshold, n)
            row = {"case": key, "formula": formula, "threshold": threshold, "rows": len(data),
                   "interlace": ours, "ordinal": (R or {}).get(key)}
            rows.append(row)
    out = {"machine": platform.platform(), "processor": platform.processor(),
           "python": platform.python_version(), "numpy": __import__("numpy").__version__,
           "R": (R or {}).get("R_version"), "ordinal": (R or {}).get("ordinal_version"),
           "results": rows}
    (HERE / "results_clmm.json").write_text(json.dumps(out, indent=2))
    print(markdown(rows) if "--markdown" in sys.argv else plain(rows))


def _ratio(row: dict, what: str) -> float | None:
    o = row["ordinal"]
    return o[what] / row["interlace"][what] if o else None


def plain(rows: list[dict]) -> str:
    lines = [f"{'case':<16}{'interlace s':>12}{'ordinal s':>11}{'ratio':>7}{'cpu ratio':>10}"
             f"{'dlogLik':>10}{'evals':>6}"]
    for row in rows:
        me, o = row["interlace"], row["ordinal"]
        lines.append(
            f"{row['case']:<16}{me['elapsed']:12.4f}"
            + (f"{o['elapsed']:11.4f}{_ratio(row, 'elapsed'):7.1f}{_ratio(row, 'cpu'):10.1f}"
               f"{me['loglik'] - o['loglik']:10.1e}" if o else f"{'':>38}")
            + f"{me['evaluations']:6d}")
    return "\n".join(lines)


def markdown(rows: list[dict]) -> str:
    lines = ["| case | rows | interlace (wall / CPU) | ordinal::clmm (wall / CPU) | ordinal / "
             "interlace (wall / CPU) | logLik interlace - ordinal | model |",
             "|---|---:|---:|---:|---:|---:|---|"]
    for row in rows:
        me, o = row["interlace"], row["ordinal"]
        f = row["formula"].replace("|", "\\|")
        th = "" if row["threshold"] == "flexible" else f", threshold = {row['threshold']}"
        lines.append(
            f"| {row['case']} | {row['rows']:,} | **{_ms(me['elapsed'])}** / {_ms(me['cpu'])} | "
            f"{_ms(o['elapsed'])} / {_ms(o['cpu'])} | {_ratio(row, 'elapsed'):.1f} / "
            f"{_ratio(row, 'cpu'):.1f} | {me['loglik'] - o['loglik']:+.1e} | `{f}`{th} |")
    return "\n".join(lines)


def _ms(s: float) -> str:
    return f"{s * 1e3:.1f} ms" if s < 1 else f"{s:.2f} s"


if __name__ == "__main__":
    main()
