"""DHARMa's tests on simulated residuals (``testUniformity``, ``testDispersion``,
``testZeroInflation``, ``testOutliers``), each a statistic and a p-value.

* uniformity: the two-sided Kolmogorov-Smirnov test of the scaled residuals against U(0, 1);
* dispersion (DHARMa's default for simulations without refits): the sd of the observed
  response minus the fitted values against the same sd of every simulated response; the
  statistic is the ratio observed / mean simulated (> 1: overdispersion);
* zero inflation: the number of zeros observed against the simulated numbers (ratio);
* outliers: the frequency of residuals at 0 or 1 (outside every simulation); ``bootstrap``
  (DHARMa's default) takes its null distribution from simulations treated as observed,
  ``binomial`` tests it against 2 / (nsim + 1) exactly.
Simulation p-values are DHARMa's ``getP``: two-sided, twice the smaller tail, at most 1.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

from interlace.errors import InterlaceError

_ALTERNATIVES = ("two.sided", "greater", "less")


@dataclass(frozen=True)
class DiagnosticTest:
    """One test's outcome: what it computes (``method``), its ``statistic`` and ``p_value``."""

    method: str
    statistic: float
    p_value: float
    alternative: str = "two.sided"

    def __repr__(self) -> str:
        return (f"DiagnosticTest({self.method}: statistic={self.statistic:.4g}, "
                f"p_value={self.p_value:.4g}, {self.alternative})")


def check_alternative(alternative: str) -> str:
    """The alternative hypothesis, one of two.sided, greater, less."""
    if alternative not in _ALTERNATIVES:
        raise InterlaceError(f"alternative must be one of {', '.join(_ALTERNATIVES)}, got "
                             f"{alternative!r}")
    return alternative


def simulation_p(simulated: np.ndarray, observed: float, alternative: str) -> float:
    """DHARMa's ``getP``: the share of simulated summaries at least as extreme as observed."""
    greater = float(np.mean(simulated >= observed))
    less = float(np.mean(simulated <= observed))
    if alternative == "greater":
        return greater
    if alternative == "less":
        return less
    return min(2.0 * min(greater, less), 1.0)


def generic_test(method: str, summary: Any, observed: np.ndarray, simulated: np.ndarray,
                 alternative: str) -> DiagnosticTest:
    """DHARMa's ``testGeneric``: ``summary`` of the observed response against its values on
    every simulated one (rows of ``simulated``); statistic observed / mean simulated."""
    obs = float(summary(observed[None, :])[0])
    sim = np.asarray(summary(simulated), dtype=float)
    mean = float(np.mean(sim))
    ratio = obs / mean if mean != 0 else (np.inf if obs > 0 else np.nan)
    return DiagnosticTest(method, ratio, simulation_p(sim, obs, alternative), alternative)


def uniformity(residuals: np.ndarray, alternative: str = "two.sided") -> DiagnosticTest:
    """The Kolmogorov-Smirnov test of the scaled residuals against U(0, 1) (KS statistic D)."""
    alt = {"two.sided": "two-sided", "greater": "greater", "less": "less"}[
        check_alternative(alternative)]
    res = stats.kstest(residuals, "uniform", alternative=alt)
    return DiagnosticTest("Kolmogorov-Smirnov uniformity", float(res.statistic),
                          float(res.pvalue), alternative)


def dispersion(observed: np.ndarray, simulated: np.ndarray, fitted: np.ndarray,
               alternative: str = "two.sided") -> DiagnosticTest:
    """sd(response - fitted), observed against simulated (ratio > 1: overdispersion)."""
    return generic_test("dispersion: sd of residuals, observed vs simulated",
                        lambda y: np.std(y - fitted[None, :], axis=1, ddof=1), observed,
                        simulated, check_alternative(alternative))


def zero_inflation(observed: np.ndarray, simulated: np.ndarray,
                   alternative: str = "two.sided") -> DiagnosticTest:
    """The number of zeros, observed against simulated (ratio > 1: more zeros than expected)."""
    return generic_test("zero inflation: zeros observed vs simulated",
                        lambda y: np.sum(y == 0, axis=1), observed, simulated,
                        check_alternative(alternative))


def outlier_frequency(residuals: np.ndarray) -> float:
    """The share of residuals at 0 or 1: observations outside every simulation."""
    return float(np.mean(residuals == 0) + np.mean(residuals == 1))


def outliers(residuals: np.ndarray, nsim: int, alternative: str = "two.sided",
             method: str = "bootstrap", boot: np.ndarray | None = None) -> DiagnosticTest:
    """Outliers (residuals at 0 or 1): against ``boot``, the outlier frequencies of simulated
    responses scored against the other simulations (``bootstrap``), or the binomial test of
    their number against 2 / (nsim + 1) per observation (``binomial``); statistic: count."""
    alternative = check_alternative(alternative)
    n = residuals.shape[0]
    if method == "binomial":
        edge = 1.0 / (nsim + 1)
        count = int(np.sum(residuals < edge) + np.sum(residuals > 1 - edge))
        p = stats.binomtest(count, n, 2 * edge, alternative=alternative.replace(
            "two.sided", "two-sided")).pvalue
        return DiagnosticTest("outliers: binomial test", float(count), float(p), alternative)
    if method != "bootstrap":
        raise InterlaceError(f"method must be 'bootstrap' or 'binomial', got {method!r}")
    freq = outlier_frequency(residuals)
    return DiagnosticTest("outliers: bootstrap", freq * n,
                          simulation_p(np.asarray(boot), freq, alternative), alternative)
