"""Speed of the extended families (issue 4) against glmmTMB on the same data and machine.

usage: python benchmarks/bench_families.py [--repeat N]
Fits every glmmTMB reference model of tests/reference/glmmtmb_families.json and
glmmtmb_formulas.json (Salamanders, Owls, simulated Gamma / Beta / NB1 / ZINB2) and prints
interlace's median time beside glmmTMB's (and glmer.nb's), which those R scripts timed on this
machine, with the log-likelihood difference. Writes benchmarks/results_families.json.
"""

from __future__ import annotations

import json
import platform
import statistics
import sys
import time
import warnings
from pathlib import Path

import pandas as pd

import interlace
from interlace.integrators.laplace import LaplaceIntegrator

HERE = Path(__file__).resolve().parent
REFS = HERE.parent / "tests" / "reference"


def _data(name: str) -> pd.DataFrame:
    if name.endswith(".csv"):
        return pd.read_csv(REFS / name, dtype={"g": str})
    return interlace.load_dataset(name)


def _cases():
    """(name, glmer kwargs, glmmTMB seconds, glmmTMB logLik, glmer.nb seconds or None)."""
    fam = json.loads((REFS / "glmmtmb_families.json").read_text())["fixtures"]
    form = json.loads((REFS / "glmmtmb_formulas.json").read_text())["fixtures"]
    for key, R in fam.items():
        kw = {"formula": R["formula"], "family": R["family"], "link": R.get("link")}
        nb = R.get("glmer_nb", {}).get("seconds")
        yield key, R["data"], kw, R["seconds"], R["loglik"], nb
    for key, R in form.items():
        kw = {"formula": R["formula"], "family": R["family"], "ziformula": R["ziformula"],
              "dispformula": R["dispformula"]}
        yield key, R["data"], kw, R["seconds"], R["loglik"], None


def main() -> None:
    repeat = int(sys.argv[sys.argv.index("--repeat") + 1]) if "--repeat" in sys.argv else 7
    rows = []
    print(f"{'model':<18}{'interlace s':>12}{'glmmTMB s':>11}{'ratio':>7}{'glmer.nb s':>11}"
          f"{'dlogLik':>11}")
    for key, src, kw, tmb_s, tmb_ll, nb_s in _cases():
        data = _data(src)
        if kw["family"] == "nbinom2":  # glmmTMB's Laplace (observed information)
            kw = dict(kw, integrator=LaplaceIntegrator(information="observed"))
        times = []
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for _ in range(repeat):
                t = time.perf_counter()
                r = interlace.glmer(data=data, **kw)
                times.append(time.perf_counter() - t)
        med = statistics.median(times)
        rows.append({"model": key, "seconds": med, "glmmTMB_seconds": tmb_s,
                     "glmer_nb_seconds": nb_s, "loglik_diff": r.llf - tmb_ll})
        nbs = f"{nb_s:11.2f}" if nb_s else f"{'':>11}"
        print(f"{key:<18}{med:12.3f}{tmb_s:11.2f}{tmb_s / med:7.1f}{nbs}{r.llf - tmb_ll:11.1e}")
    out = {"machine": platform.platform(), "python": platform.python_version(),
           "repeat": repeat, "results": rows}
    (HERE / "results_families.json").write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
