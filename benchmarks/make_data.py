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
    lmm_insteval.csv        73,000 rows shaped like lme4's InstEval: crossed factors s
                            (2,972 levels), d (1,128) and dept (14), x ~ N(0,1),
                            y = 3 + 0.2 x + s_i + d_j + dept_k + e, sds 0.3, 0.5, 0.1, 1.2.
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


def make_pois_frame(n_groups: int, per_group: int, seed: int = 119) -> pd.DataFrame:
    """make_pois's model with a categorical ``g`` (no per-row strings): for fits of 10M rows
    generated in memory (bench_peers.py --big)."""
    rng = np.random.default_rng(seed)
    n = n_groups * per_group
    g = np.repeat(np.arange(n_groups, dtype=np.int32), per_group)
    x1 = rng.standard_normal(n)
    x2 = rng.binomial(1, 0.5, n).astype(float)
    eta = 0.5 + 0.3 * x1 - 0.4 * x2 + np.repeat(rng.normal(0.0, 0.5, n_groups), per_group)
    y = rng.poisson(np.exp(eta)).astype(float)
    levels = pd.Index([f"g{i:05d}" for i in range(n_groups)])
    return pd.DataFrame({"y": y, "x1": x1, "x2": x2,
                         "g": pd.Categorical.from_codes(g, categories=levels)})


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


def make_lmm_insteval(n: int = 73_000, n_s: int = 2972, n_d: int = 1128, n_dept: int = 14,
                      seed: int = 303) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    s = rng.integers(0, n_s, n)
    d = rng.integers(0, n_d, n)
    dept = d % n_dept  # instructors belong to departments, as in InstEval
    x = rng.standard_normal(n)
    y = (3 + 0.2 * x + rng.normal(0, 0.3, n_s)[s] + rng.normal(0, 0.5, n_d)[d]
         + rng.normal(0, 0.1, n_dept)[dept] + rng.normal(0, 1.2, n))
    return pd.DataFrame({"y": np.round(y, 6), "x": np.round(x, 6), "s": [f"s{i:04d}" for i in s],
                         "d": [f"d{i:04d}" for i in d], "dept": [f"dept{i:02d}" for i in dept]})


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
    ie = make_lmm_insteval(n=max(10, round(73_000 * s)), n_s=max(2, round(2972 * s)),
                           n_d=max(14, round(1128 * s)))
    ie.to_csv(args.out / "lmm_insteval.csv", index=False)
    print(f"lmm_insteval.csv: {len(ie)} rows, {ie['s'].nunique()} s, {ie['d'].nunique()} d, "
          f"{ie['dept'].nunique()} dept")


if __name__ == "__main__":
    main()
