"""Data sets shipped with interlace (from R's lme4, ordinal, glmmTMB and a simulated count set;
``export_from_r.R`` beside them writes those copied straight from an R package)."""

from __future__ import annotations

from importlib import resources

import pandas as pd

_DTYPES = {
    "cbpp": {"herd": str, "period": str},
    "grouseticks": {"INDEX": str, "BROOD": str, "YEAR": str, "LOCATION": str},
    "sleepstudy": {"Subject": str},
    "seed_counts": {"site": str, "year": str},
    "Penicillin": {"plate": str, "sample": str},
    # ordinal's wine; rating (the ordered response 1..5) is an integer
    "wine": {"temp": str, "contact": str, "bottle": str, "judge": str},
    "Salamanders": {"site": str, "mined": str, "spp": str},  # glmmTMB's
    "Owls": {"Nest": str, "FoodTreatment": str, "SexParent": str},  # glmmTMB's
    # ordinal's soup; SURENESS (the ordered response 1..6) is an integer, as wine's rating
    "soup": {c: str for c in ("RESP", "PROD", "PRODID", "DAY", "SOUPTYPE", "SOUPFREQ", "COLD",
                              "EASY", "GENDER", "AGEGROUP", "LOCATION")},
    # lme4's Arabidopsis; gen, rack and nutrient are integers there, documented as factors
    "Arabidopsis": {c: str for c in ("reg", "popu", "gen", "rack", "nutrient", "amd", "status")},
}


def available() -> list[str]:
    """Names of the shipped data sets."""
    return sorted(p.name[:-4] for p in resources.files(__name__).iterdir() if p.name.endswith(".csv"))


def load_dataset(name: str) -> pd.DataFrame:
    """Load a shipped data set by name; R's factors become pandas categoricals (levels sorted as
    text), so a factor whose labels are numbers ("1", "2", ...) is declared one."""
    if name not in available():
        raise ValueError(f"unknown data set {name!r}; available: {', '.join(available())}")
    with resources.files(__name__).joinpath(f"{name}.csv").open("rb") as fh:
        df = pd.read_csv(fh, dtype=_DTYPES.get(name))
    for col in _DTYPES.get(name, {}):
        df[col] = pd.Categorical(df[col], categories=sorted(df[col].dropna().unique()))
    return df
