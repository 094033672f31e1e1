"""A fitted model's parameters on their natural scale, named and ordered as lme4's ``confint``:
random-effect standard deviations and correlations first (in theta's order, term by term), then
the residual SD or family parameters, then the fixed effects.

Names: ``sd__(Intercept)|herd``, ``cor__(Intercept).Days|Subject``, ``sigma``, a family
parameter by its own name (``theta``, or ``zi~minedno`` for a coefficient of a parameter's
formula), ordinal thresholds ``1|2``, fixed effects by their ``fe_params`` names.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

KINDS = ("sd", "cor", "loading", "sigma", "family", "threshold", "fixed")


def random_parameter_names(terms) -> list[str]:
    """Names of the random-effect SDs and correlations, one per entry of theta."""
    names: list[str] = []
    seen: set[str] = set()
    for t in terms:
        for name in _term_names(t):
            while name in seen:  # the same column and group in two terms
                name += ".1"
            seen.add(name)
            names.append(name)
    return names


def _term_names(t) -> list[str]:
    """The natural names of one term's theta entries (its structure's, for ar1 and the like)."""
    if not t.linear:
        return list(t.structure.natural_names(t.group, t.columns))
    return [f"sd__{t.columns[r]}|{t.group}" if r == c
            else f"cor__{t.columns[c]}.{t.columns[r]}|{t.group}"
            for r, c in zip(t.tri_rows, t.tri_cols)]


def random_parameter_labels(terms) -> list[tuple[str, str]]:
    """broom.mixed's (group, term) of each entry of theta: the grouping factor (``g.1`` for a
    second term on the same factor, as the ``random_effects`` keys) and ``sd__(Intercept)`` /
    ``cor__(Intercept).Days``."""
    out: list[tuple[str, str]] = []
    keys: set[str] = set()
    for t in terms:
        key = t.group
        while key in keys:
            key += ".1"
        keys.add(key)
        out += [(key, name.rsplit("|", 1)[0]) for name in _term_names(t)]
    return out


def random_parameter_kinds(terms) -> list[str]:
    """"sd", "cor" or "loading" for each entry of theta (a diagonal or an off-diagonal entry,
    or a structure's own parameter)."""
    out: list[str] = []
    for t in terms:
        if t.linear:
            out += ["sd" if is_sd else "cor" for is_sd in t.theta_is_sd()]
        else:  # a structure's own parameters: correlations, or positive ones as SDs (a range)
            out += [_structure_kind(k) for k in t.structure.parameter_kinds(t.k)]
    return out


def _structure_kind(kind: str) -> str:
    """A structure parameter's kind here: correlations ("cor", "rho"), loadings (any sign, a
    reduced-rank factor's entries), or positive ones as SDs (a range, a rate)."""
    if kind in ("cor", "rho"):
        return "cor"
    return "loading" if kind == "loading" else "sd"


def theta_at_bound(terms, theta: np.ndarray, tol: float = 1e-8) -> np.ndarray:
    """Which entries of theta sit on their lower bound of 0 (an SD estimated as 0)."""
    lower = np.concatenate([t.theta_lower_bounds() for t in terms]) if terms else np.zeros(0)
    return (lower == 0) & (np.asarray(theta, float) <= tol)


def random_parameter_values(terms, slices, theta_absolute: np.ndarray) -> np.ndarray:
    """SDs and correlations from theta on the absolute scale (b = Lambda u, u ~ N(0, I)),
    entry by entry in theta's order; a correlation with a zero SD is NaN."""
    out = np.empty(theta_absolute.size)
    for t, sl in zip(terms, slices):
        if not t.linear:
            out[sl] = t.structure.natural_values(theta_absolute[sl], t.k)
            continue
        cov = t.covariance(theta_absolute[sl])
        sd = np.sqrt(np.diag(cov))
        r, c = t.tri_rows, t.tri_cols
        with np.errstate(invalid="ignore", divide="ignore"):
            val = np.where(r == c, sd[r], cov[r, c] / (sd[r] * sd[c]))
        out[sl] = val
    return out


def natural_parameters(result) -> pd.Series:
    """The fitted model's parameters in lme4's order (see the module docstring); the Series'
    ``attrs["kinds"]`` gives each entry's kind (one of :data:`KINDS`)."""
    ctx = result.context
    terms = ctx.design.terms
    names = random_parameter_names(terms)
    values = list(random_parameter_values(terms, ctx.theta_slices(), result.theta_absolute))
    kinds = random_parameter_kinds(terms)
    fam = result.family_parameter_estimates()
    names += list(fam.index)
    values += list(fam.to_numpy(float))
    kinds += list(fam.attrs.get("kinds", ["family"] * len(fam)))
    fe = result.fe_params
    names += [str(n) for n in fe.index]
    values += list(fe.to_numpy(float))
    kinds += ["fixed"] * len(fe)
    out = pd.Series(np.asarray(values, float), index=pd.Index(names, name="parameter"),
                    name="Estimate")
    out.attrs["kinds"] = kinds
    return out
