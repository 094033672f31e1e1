"""`python -m interlace`: a real fit on data shipped with the package (lme4's cbpp).

Fits the seed's binomial GLMM, incidence / size ~ period + (1 | herd), prints the lme4-style
summary and the predicted incidence per period for an average herd. With arguments,
``python -m interlace ...`` is the ``interlace`` command (``run``, ``batch``, ``validate``, ...).
"""

from __future__ import annotations

import sys

import pandas as pd

import interlace


def main(argv: list[str] | None = None) -> int:
    if argv:
        from interlace.cli import main as cli_main

        return cli_main(argv)
    df = interlace.load_dataset("cbpp")
    result = interlace.glmer(
        formula="incidence / size ~ period",
        data=df,
        family="binomial",
        groups="herd",
        weights=df["size"].values,
    )
    print(result.summary())
    new = pd.DataFrame({"period": ["1", "2", "3", "4"], "herd": ["new"] * 4})
    probs = result.predict(newdata=new, include_re=False)
    print("\nPredicted incidence for an average herd, by period:")
    for period, p in zip(new["period"], probs):
        print(f"  period {period}: {p:.3f}")
    return 0 if result.converged else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
