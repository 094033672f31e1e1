"""The parametric-bootstrap likelihood-ratio test of two nested models (pbkrtest's
``PBmodcomp``).

The reference distribution of the likelihood-ratio statistic LRT = 2 (log L1 - log L0) under the
smaller model: responses simulated from the smaller model (unconditionally, as
``simulate``), both models refitted to each (warm-started: :mod:`interlace.inference.refit`),
LRT* recorded. REML fits are refitted by ML first, as pbkrtest does. The p-value is
pbkrtest's (0.5.2): (1 + #{LRT* > LRT}) / (1 + #{LRT* > 0}), draws that are not positive left
out; ``p_value_all`` is the textbook (1 + #{LRT* >= LRT}) / (1 + number of draws).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from interlace.errors import InterlaceError, InterlaceWarning
from interlace.inference.refit import Refitter
from interlace.inference.replicates import run_replicates
from interlace.inference.simulate import Simulator, fitted_simulator


@dataclass
class LRTJob:
    """One replicate: a response from the smaller model, both models refitted, LRT*."""

    simulator: Simulator
    small: Refitter
    large: Refitter
    size: int = 1

    def __call__(self, rng: np.random.Generator) -> np.ndarray:
        y = self.simulator.draw(rng)
        return np.array([2.0 * (self.large.refit(y).llf - self.small.refit(y).llf)])


@dataclass
class PBTest:
    """The test's result: the observed ``lrt`` on ``df`` degrees of freedom, its chi-square
    p-value, the bootstrap p-values, the reference draws (successful replicates) and the
    replicates that failed."""

    lrt: float
    df: int
    reference: np.ndarray
    nsim: int
    seed: int
    errors: dict[int, str] = field(default_factory=dict)

    @property
    def p_chisq(self) -> float:
        """The likelihood-ratio test's chi-square p-value."""
        return float(stats.chi2.sf(self.lrt, self.df))

    @property
    def p_value(self) -> float:
        """pbkrtest's bootstrap p-value: (1 + #{LRT* > LRT}) / (1 + #{LRT* > 0})."""
        ref = self.reference[self.reference > 0]
        return float((1 + np.sum(ref > self.lrt)) / (1 + ref.size))

    @property
    def p_value_all(self) -> float:
        """(1 + #{LRT* >= LRT}) / (1 + number of draws), every draw counted."""
        return float((1 + np.sum(self.reference >= self.lrt)) / (1 + self.reference.size))

    @property
    def failures(self) -> int:
        return len(self.errors)

    def table(self) -> pd.DataFrame:
        """pbkrtest's test table: rows ``LRT`` and ``PBtest``, columns stat, df, p.value."""
        return pd.DataFrame({"stat": [self.lrt, self.lrt], "df": [self.df, np.nan],
                             "p.value": [self.p_chisq, self.p_value]}, index=["LRT", "PBtest"])

    def __repr__(self) -> str:
        return (f"<PBTest LRT={self.lrt:.4g} df={self.df} p(chisq)={self.p_chisq:.4g} "
                f"p(boot)={self.p_value:.4g} nsim={self.nsim} failures={self.failures}>")


def ml_fits(*models: Any) -> list:
    """The models, REML fits refitted by ML (with a warning, as :func:`interlace.anova`)."""
    if any(getattr(m, "method", "ML") == "REML" for m in models):
        warnings.warn("refitting model(s) with ML (instead of REML)", InterlaceWarning,
                      stacklevel=3)
        return [m.refit_ml() if getattr(m, "method", "ML") == "REML" else m for m in models]
    return list(models)


def pb_test(m0: Any, m1: Any, nsim: int = 1000, seed: Any = None, workers: Any = None,
            scheduler: Any = None) -> PBTest:
    """The parametric-bootstrap likelihood-ratio test of the nested fits ``m0`` and ``m1`` (in
    either order; the one with fewer parameters is the null model) of the same response.
    ``nsim``, ``seed``, ``workers`` and ``scheduler`` as for ``bootstrap``."""
    if m0.nobs != m1.nobs or m0.response_label != m1.response_label:
        raise InterlaceError(f"the models must be fitted to the same response and rows: got "
                             f"{m0.response_label!r} on {m0.nobs} rows and "
                             f"{m1.response_label!r} on {m1.nobs} rows")
    small, large = sorted(ml_fits(m0, m1), key=lambda m: m.df_modelwc)
    df = large.df_modelwc - small.df_modelwc
    if df <= 0:
        raise InterlaceError("the models have the same number of parameters: a likelihood-ratio "
                             "test needs one nested in the other")
    for m in (small, large):
        if getattr(m, "refitter", None) is None:
            raise InterlaceError("a model has no refitter (it was not built by a result stage)")
    job = LRTJob(fitted_simulator(small), small.refitter, large.refitter)
    reps = run_replicates(job, nsim, seed, workers, scheduler)
    ref = reps.values[reps.ok, 0]
    return PBTest(float(2.0 * (large.llf - small.llf)), int(df), ref, reps.values.shape[0],
                  int(reps.root.entropy), reps.errors)
