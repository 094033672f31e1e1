"""Generate the synthetic benchmark data sets (deterministic seeds).

Usage:
    python benchmarks/make_data.py            # writes benchmarks/data/*.csv
    python benchmarks/make_data.py --scale 0.1   # smaller versions (same names)

Data sets:
    pois_100k.csv           100,000 rows, 2,000 groups g (50 rows each),
                            x1 ~ N(0,1), x2 ~ Bernoulli(0.5),
                            eta = 0.5 + 0.3 x1 - 0.4 x2 + b_g, b_g ~ N(0, 0.5^2),
                            y ~ Poisson(exp(eta)).
    binary_200k_crossed.csv 200,000 rows, crossed factors a (2,000 levels) and
                            b (100 levels) assigned uniformly at random,
                            x ~ N(0,1), eta = -0.3 + 0.5 x + a_i + b_j,
                            sd(a) = 0.7, sd(b) = 0.4, y ~ Bernoulli(plogis(eta)).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

DATA_DIR = Path(__file__).resolve().parent / "data"


def make_pois(n_groups: int = 2000, per_group: int = 50, seed: int = 101) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = n_groups * per_group
    g = np.repeat(np.arange(n_groups), per_group)
    x1 = rng.standard_normal(n)
    x2 = rng.binomial(1, 0.5, n)
    b = rng.normal(0.0, 0.5, n_groups)
    eta = 0.5 + 0.3 * x1 - 0.4 * x2 + b[g]
    y = rng.poisson(np.exp(eta))
    return pd.DataFrame({"y": y, "x1": np.round(x1, 6), "x2": x2, "g": [f"g{i:04d}" for i in g]})


def make_binary_crossed(
    n: int = 200_000, n_a: int = 2000, n_b: int = 100, seed: int = 202
) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    a = rng.integers(0, n_a, n)
    b = rng.integers(0, n_b, n)
    x = rng.standard_normal(n)
    ua = rng.normal(0.0, 0.7, n_a)
    ub = rng.normal(0.0, 0.4, n_b)
    eta = -0.3 + 0.5 * x + ua[a] + ub[b]
    y = rng.binomial(1, 1.0 / (1.0 + np.exp(-eta)))
    return pd.DataFrame(
        {
            "y": y,
            "x": np.round(x, 6),
            "a": [f"a{i:04d}" for i in a],
            "b": [f"b{i:03d}" for i in b],
        }
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--scale",
        type=float,
        default=1.0,
        help="multiply row counts and numbers of levels by this factor (default 1)",
    )
    parser.add_argument("--out", type=Path, default=DATA_DIR, help="output directory")
    args = parser.parse_args()
    s = args.scale
    args.out.mkdir(parents=True, exist_ok=True)

    pois = make_pois(n_groups=max(2, round(2000 * s)))
    pois.to_csv(args.out / "pois_100k.csv", index=False)
    print(f"pois_100k.csv: {len(pois)} rows, {pois['g'].nunique()} groups")

    binc = make_binary_crossed(
        n=max(10, round(200_000 * s)), n_a=max(2, round(2000 * s)), n_b=max(2, round(100 * s))
    )
    binc.to_csv(args.out / "binary_200k_crossed.csv", index=False)
    print(
        f"binary_200k_crossed.csv: {len(binc)} rows, "
        f"{binc['a'].nunique()} a-levels, {binc['b'].nunique()} b-levels"
    )


if __name__ == "__main__":
    main()
