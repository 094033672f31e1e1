"""``conf_int``: one entry point for the interval methods, one place for level checks, parameter
selection and the layout of the table (rows in lme4's order, columns ``lower``, ``upper``)."""

from __future__ import annotations

import pandas as pd

from interlace.errors import InterlaceError
from interlace.inference.parameters import KINDS, natural_parameters
from interlace.inference.wald import wald_intervals

METHODS = ("wald", "profile", "boot")
GROUPS = {"fixed": ("fixed",), "beta_": ("fixed",), "random": ("sd", "cor", "loading", "sigma"),
          "theta_": ("sd", "cor", "loading", "sigma")}


def open_unit(name: str, value) -> float:
    """``value`` as a number strictly between 0 and 1, or an error naming ``name``."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise InterlaceError(f"{name} must be a number between 0 and 1, got {value!r}") from None
    if not 0.0 < v < 1.0:
        raise InterlaceError(f"{name} must be between 0 and 1 (exclusive), got {value!r}")
    return v


def check_level(level: float) -> float:
    """A confidence level strictly between 0 and 1, or an error naming it."""
    return open_unit("level", level)


def resolve_level(level: float | None, alpha: float | None) -> float:
    """The confidence level from R's ``level`` or statsmodels' ``alpha`` (level = 1 - alpha);
    0.95 when neither is given, an error when both are."""
    if level is not None and alpha is not None:
        raise InterlaceError(f"give level or alpha (statsmodels' name, level = 1 - alpha), not "
                             f"both: got level={level!r}, alpha={alpha!r}")
    if alpha is None:
        return check_level(0.95 if level is None else level)
    return 1.0 - open_unit("alpha", alpha)


def select_parameters(params: pd.Series, parm) -> list[str]:
    """Names chosen by ``parm``: None (all), a kind or group ("fixed", "random", "sd", ...,
    lme4's "beta_" / "theta_"), a name, or a list of names; unknown ones raise, listing the
    valid names."""
    names = [str(n) for n in params.index]
    if parm is None:
        return names
    kinds = params.attrs.get("kinds", [])
    if isinstance(parm, str):
        if parm in GROUPS or parm in KINDS:
            wanted = GROUPS.get(parm, (parm,))
            return [n for n, k in zip(names, kinds) if k in wanted]
        parm = [parm]
    unknown = [p for p in parm if str(p) not in names]
    if unknown:
        raise InterlaceError(f"parm {unknown} not among the model's parameters {names} "
                             f"(or the groups {sorted(GROUPS)} and kinds {list(KINDS)})")
    return [str(p) for p in parm]


def confidence_intervals(result, level: float = 0.95, method: str = "wald", parm=None,
                         **options) -> pd.DataFrame:
    """Intervals of ``result``'s natural parameters by ``method`` (see ``conf_int``)."""
    lv = check_level(level)
    if method not in METHODS:
        raise InterlaceError(f"method must be one of {METHODS}, got {method!r}")
    params = natural_parameters(result)
    chosen = select_parameters(params, parm)
    if method == "wald":
        if options:
            raise InterlaceError(f"method='wald' takes no options, got {sorted(options)}")
        table = wald_intervals(result, lv)
    elif method == "profile":  # profile only the chosen parameters, far enough for the level
        options.setdefault("which", chosen)
        options.setdefault("alphamax", min(0.01, 1.0 - lv))
        table = result.profile(**options).conf_int(level=lv)
    else:
        kind = options.pop("kind", "percentile")
        table = result.bootstrap(**options).conf_int(level=lv, kind=kind)
    table = table.reindex(chosen)
    table.index.name = "parameter"
    return table[["lower", "upper"]].astype(float)


