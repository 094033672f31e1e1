"""The parametric bootstrap (lme4's ``bootMer``, MixedModels.jl's ``parametricbootstrap``).

Each replicate draws a response from the fitted model (:mod:`interlace.inference.simulate`;
new random effects unless ``conditional``), refits the model to it (the design reused, the
refit started at the fitted parameters: :mod:`interlace.inference.refit`) and records a
statistic of the refit: by default every parameter on its natural scale
(:func:`~interlace.inference.parameters.natural_parameters`, lme4's ``confint`` order).
Replicates run in this process, on local worker processes or on a Dask cluster
(:mod:`interlace.inference.replicates`); the same seed gives the same draws wherever they run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from interlace.errors import InterlaceError
from interlace.inference.parameters import natural_parameters
from interlace.inference.refit import Refitter
from interlace.inference.replicates import run_replicates
from interlace.inference.simulate import Simulator, fitted_simulator

KINDS = ("percentile", "basic", "normal")


def statistic_series(statistic: Callable | None, result: Any) -> pd.Series:
    """The statistic of a fitted model as a float Series: ``natural_parameters`` when None; a
    Series or dict keeps its names, a number or an array gets ``t1``, ``t2``, ..."""
    value = natural_parameters(result) if statistic is None else statistic(result)
    if isinstance(value, dict):
        value = pd.Series(value)
    if not isinstance(value, pd.Series):
        arr = np.atleast_1d(np.asarray(value, dtype=float)).ravel()
        value = pd.Series(arr, index=[f"t{j + 1}" for j in range(arr.size)])
    return pd.Series(value.to_numpy(dtype=float), index=[str(i) for i in value.index])


@dataclass
class BootJob:
    """One replicate: draw a response, refit, the statistic's ``size`` values."""

    simulator: Simulator
    refitter: Refitter
    statistic: Callable | None
    conditional: bool
    size: int

    def __call__(self, rng: np.random.Generator) -> np.ndarray:
        fit = self.refitter.refit(self.simulator.draw(rng, self.conditional))
        values = statistic_series(self.statistic, fit).to_numpy()
        if values.size != self.size:
            raise InterlaceError(f"the statistic gave {values.size} values on a refit and "
                                 f"{self.size} on the fitted model")
        return values


@dataclass
class Bootstrap:
    """A parametric bootstrap's draws and what is read off them.

    ``draws``: one row per replicate whose refit succeeded (index: the replicate's number),
    one column per statistic (``t0``'s names); ``t0``: the statistic of the fitted model;
    ``errors`` / ``warnings``: messages of the replicates that failed (not in ``draws``) or
    warned (kept), by replicate; ``seed``: the entropy of the run's seed, so that
    ``bootstrap(seed=boot.seed)`` repeats it.
    """

    draws: pd.DataFrame
    t0: pd.Series
    nsim: int
    seed: int
    conditional: bool = False
    errors: dict[int, str] = field(default_factory=dict)
    warnings: dict[int, str] = field(default_factory=dict)

    @property
    def failures(self) -> int:
        """The number of replicates whose refit failed."""
        return len(self.errors)

    @property
    def bias(self) -> pd.Series:
        """Mean of the draws minus the fitted value."""
        return (self.draws.mean() - self.t0).rename("bias")

    @property
    def std_error(self) -> pd.Series:
        """Standard deviation of the draws (the bootstrap standard error)."""
        return self.draws.std(ddof=1).rename("std_error")

    def summary(self) -> pd.DataFrame:
        """bootMer's table: the fitted value, bias and standard error of each statistic."""
        return pd.DataFrame({"original": self.t0, "bias": self.bias,
                             "std_error": self.std_error})

    def conf_int(self, level: float = 0.95, kind: str = "percentile") -> pd.DataFrame:
        """Intervals (columns ``lower``, ``upper``, one row per statistic), as ``boot.ci``'s
        types: ``"percentile"`` the draws' quantiles; ``"basic"`` 2 t0 minus them (reversed);
        ``"normal"`` t0 - bias -/+ z sd. Draws that are NaN (a correlation of a zero SD) are
        left out per column."""
        if kind not in KINDS:
            raise InterlaceError(f"kind must be one of {KINDS}, got {kind!r}")
        if not 0.0 < float(level) < 1.0:
            raise InterlaceError(f"level must be between 0 and 1 (exclusive), got {level!r}")
        a = (1.0 - float(level)) / 2.0
        t = self.draws.to_numpy(dtype=float)
        t0 = self.t0.to_numpy(dtype=float)
        with np.errstate(all="ignore"):
            if kind == "normal":
                z = stats.norm.ppf(1.0 - a)
                centre = 2.0 * t0 - np.nanmean(t, axis=0) if len(t) else np.full_like(t0, np.nan)
                sd = np.nanstd(t, axis=0, ddof=1) if len(t) > 1 else np.full_like(t0, np.nan)
                lower, upper = centre - z * sd, centre + z * sd
            else:
                q = (np.nanquantile(t, [a, 1.0 - a], axis=0) if len(t)
                     else np.full((2, t0.size), np.nan))
                lower, upper = (q[0], q[1]) if kind == "percentile" else (2 * t0 - q[1],
                                                                          2 * t0 - q[0])
        out = pd.DataFrame({"lower": lower, "upper": upper}, index=self.t0.index)
        out.index.name = "parameter"
        return out

    def __repr__(self) -> str:
        return (f"<Bootstrap nsim={self.nsim} failures={self.failures} "
                f"{'conditional' if self.conditional else 'unconditional'} "
                f"statistics={len(self.t0)}>")


def parametric_bootstrap(result: Any, nsim: int = 1000, seed: Any = None, workers: Any = None,
                         scheduler: Any = None, conditional: bool = False,
                         statistic: Callable | None = None) -> Bootstrap:
    """``nsim`` parametric bootstrap replicates of ``result`` (see the module doc):
    ``workers`` local processes (None: one per core; 0: this process) or the Dask cluster
    ``scheduler`` (an address or a ``distributed.Client``); ``statistic(fit)`` a number, an
    array, a dict or a Series (default: :func:`natural_parameters`). Under local processes
    started by a fork server and on Dask it must pickle (a module-level function)."""
    refitter = getattr(result, "refitter", None)
    if refitter is None:
        raise InterlaceError("this result has no refitter (it was not built by a result stage "
                             "such as glmm_result or lmm_result): it cannot be bootstrapped")
    t0 = statistic_series(statistic, result)
    job = BootJob(fitted_simulator(result), refitter, statistic, bool(conditional), t0.size)
    reps = run_replicates(job, nsim, seed, workers, scheduler)
    ok = reps.ok
    draws = pd.DataFrame(reps.values[ok], columns=t0.index,
                         index=pd.Index(np.flatnonzero(ok), name="replicate"))
    return Bootstrap(draws, t0, reps.values.shape[0], int(reps.root.entropy), bool(conditional),
                     reps.errors, reps.warnings)
