"""Model fixtures shared by the parity tests: how to fit, in interlace, each model whose lme4
reference values are in tests/reference/lme4_core.json (written by lme4_core.R)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

import interlace

REF_DIR = Path(__file__).parent / "reference"


def load_reference(name: str = "lme4_core.json") -> dict:
    return json.loads((REF_DIR / name).read_text())


def data_for(name: str) -> pd.DataFrame:
    if name.endswith(".csv"):
        return pd.read_csv(REF_DIR / name, dtype={"g": str})
    return interlace.load_dataset(name)


def max_rel(a, b, floor: float = 1e-2) -> float:
    """Largest relative difference of a from the reference b (|b| floored at ``floor``, so
    near-zero coefficients are compared absolutely)."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), floor)))


def cbpp_numeric() -> pd.DataFrame:
    df = interlace.load_dataset("cbpp")
    return df.assign(period=df["period"].astype(int))


# fixture key -> (formula, data loader, family, link)
GLMER_FIXTURES = {
    "cbpp_logit": ("cbind(incidence, size - incidence) ~ period + (1 | herd)",
                   lambda: data_for("cbpp"), "binomial", "logit"),
    "cbpp_numeric": ("cbind(incidence, size - incidence) ~ period + (1 | herd)",
                     cbpp_numeric, "binomial", "logit"),
    "cbpp_probit": ("cbind(incidence, size - incidence) ~ period + (1 | herd)",
                    lambda: data_for("cbpp"), "binomial", "probit"),
    "cbpp_cloglog": ("cbind(incidence, size - incidence) ~ period + (1 | herd)",
                     lambda: data_for("cbpp"), "binomial", "cloglog"),
    "cbpp_cauchit": ("cbind(incidence, size - incidence) ~ period + (1 | herd)",
                     lambda: data_for("cbpp"), "binomial", "cauchit"),
    "grouseticks_pois": ("TICKS ~ YEAR + cHEIGHT + (1 | BROOD) + (1 | INDEX) + (1 | LOCATION)",
                         lambda: data_for("grouseticks"), "poisson", "log"),
    "grouseticks_nested": ("TICKS ~ YEAR + cHEIGHT + (1 | LOCATION/BROOD)",
                           lambda: data_for("grouseticks"), "poisson", "log"),
    "counts_crossed": ("count ~ x1 + x2 + (1 | site) + (1 | year)",
                       lambda: data_for("seed_counts"), "poisson", "log"),
    "counts_site_sqrt": ("count ~ x1 + x2 + (1 | site)",
                         lambda: data_for("seed_counts"), "poisson", "sqrt"),
    "binom_slopes": ("y ~ x + (1 + x | g)", lambda: data_for("data/binom_slopes.csv"),
                     "binomial", "logit"),
    "binom_uncorr": ("y ~ x + (1 + x || g)", lambda: data_for("data/binom_slopes.csv"),
                     "binomial", "logit"),
    "sleep_ml": ("Reaction ~ Days + (Days | Subject)", lambda: data_for("sleepstudy"),
                 "gaussian", "identity"),
    "sleep_uncorr_ml": ("Reaction ~ Days + (Days || Subject)", lambda: data_for("sleepstudy"),
                        "gaussian", "identity"),
}


def fit_fixture(key: str, **kwargs):
    formula, data, family, link = GLMER_FIXTURES[key]
    return interlace.glmer(formula, data(), family=family, link=link, **kwargs)
