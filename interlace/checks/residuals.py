"""DHARMa's scaled residuals from simulations of the fitted model (``simulateResiduals``).

The model is simulated ``nsim`` times, unconditionally by default (new random effects each
time, ``result.simulate``). An observation's scaled residual is where it falls among its own
simulated values: with lo = share of simulations below it and hi = share at or below it, the
residual is a uniform draw between lo and hi (DHARMa's randomised PIT, which breaks the ties of
discrete responses; for continuous ones lo = hi). The fitted values the dispersion test and
the plot use are the population-level predictions (no random effects), as DHARMa's
``getFitted`` (``predict(re.form = ~0)``). Binomial responses with trials are compared as
proportions (DHARMa uses success counts; the PIT and zero counts are the same either way).
Under the fitted model the residuals are U(0, 1); :class:`SimulatedResiduals` holds them with
DHARMa's tests (:mod:`interlace.checks.residual_tests`) and a plot.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from interlace.checks import residual_tests as tests
from interlace.checks.residual_tests import DiagnosticTest
from interlace.errors import InterlaceError
from interlace.inference.seeds import check_nsim, seed_sequence
from interlace.plotting import plot_simulated_residuals


def scaled_residuals(observed: np.ndarray, simulated: np.ndarray,
                     rng: np.random.Generator) -> np.ndarray:
    """The randomised PIT of each observation among its simulations (rows of ``simulated``)."""
    lo = np.mean(simulated < observed[None, :], axis=0)
    hi = np.mean(simulated <= observed[None, :], axis=0)
    return lo + rng.uniform(size=observed.shape[0]) * (hi - lo)


def design_scale(result: Any, draws: np.ndarray) -> np.ndarray:
    """Simulated responses as numbers (the design's codes for a text response)."""
    levels = result.design.response_levels
    if levels is None:
        return np.asarray(draws, dtype=float)
    return (np.asarray(draws)[..., None] == np.asarray(levels)).argmax(-1).astype(float)


class SimulatedResiduals:
    """DHARMa's simulated residuals of a fit: ``residuals`` (one per row, U(0, 1) under the
    model), the ``observed`` and ``simulated`` responses (nsim x n), the ``fitted`` values,
    the tests and :meth:`plot`."""

    def __init__(self, observed: np.ndarray, simulated: np.ndarray, fitted: np.ndarray,
                 rng: np.random.Generator) -> None:
        self.observed, self.simulated, self.fitted = observed, simulated, fitted
        self.nsim = simulated.shape[0]
        self._rng = rng
        self.residuals = scaled_residuals(observed, simulated, rng)

    def test_uniformity(self, alternative: str = "two.sided") -> DiagnosticTest:
        """KS test of the residuals against U(0, 1) (DHARMa's ``testUniformity``)."""
        return tests.uniformity(self.residuals, alternative)

    def test_dispersion(self, alternative: str = "two.sided") -> DiagnosticTest:
        """sd of observed vs simulated residuals from the fitted values (``testDispersion``)."""
        return tests.dispersion(self.observed, self.simulated, self.fitted, alternative)

    def test_zero_inflation(self, alternative: str = "two.sided") -> DiagnosticTest:
        """Observed vs simulated number of zeros (``testZeroInflation``)."""
        return tests.zero_inflation(self.observed, self.simulated, alternative)

    def test_outliers(self, alternative: str = "two.sided", method: str = "bootstrap",
                      nboot: int = 100) -> DiagnosticTest:
        """Residuals outside every simulation (``testOutliers``): ``bootstrap`` scores ``nboot``
        simulations against resamples of the others; ``binomial`` the exact binomial test."""
        boot = self.bootstrap_outliers(nboot) if method == "bootstrap" else None
        return tests.outliers(self.residuals, self.nsim, alternative, method, boot)

    def bootstrap_outliers(self, nboot: int) -> np.ndarray:
        """Outlier frequencies of simulations 0..nboot-1, each scored against nsim draws (with
        replacement) of the other simulations."""
        if self.nsim < 2:
            raise InterlaceError("the outlier bootstrap needs at least 2 simulations")
        nboot = min(check_nsim(nboot), self.nsim)
        out = np.empty(nboot)
        for i in range(nboot):
            others = np.delete(np.arange(self.nsim), i)
            pick = self._rng.choice(others, size=self.nsim, replace=True)
            r = scaled_residuals(self.simulated[i], self.simulated[pick], self._rng)
            out[i] = tests.outlier_frequency(r)
        return out

    def tests(self) -> dict[str, DiagnosticTest]:
        """The four tests with their defaults."""
        return {"uniformity": self.test_uniformity(), "dispersion": self.test_dispersion(),
                "zero_inflation": self.test_zero_inflation(), "outliers": self.test_outliers()}

    def plot(self, **kwargs: Any):
        """QQ plot of the residuals against U(0, 1) and residuals against the rank of the
        fitted values (DHARMa's ``plot(simulationOutput)``); returns the figure."""
        return plot_simulated_residuals(self, **kwargs)

    def __repr__(self) -> str:
        return f"SimulatedResiduals(n={self.residuals.shape[0]}, nsim={self.nsim})"


def simulated_residuals(result: Any, nsim: int = 250, seed: Any = None,
                        conditional: bool = False) -> SimulatedResiduals:
    """DHARMa's residuals of ``result`` from ``nsim`` simulations (unconditional unless
    ``conditional``); ``seed`` fixes the simulations and the PIT's uniform draws."""
    nsim = check_nsim(nsim)
    root = seed_sequence(seed)
    sims_seed, pit_seed = root.spawn(2)
    simulated = design_scale(result, result.simulate(nsim, sims_seed, conditional=conditional))
    observed = np.asarray(result.design.y, dtype=float)
    fitted = np.asarray(result.predict(type="response", include_re=False), dtype=float)
    if fitted.ndim == 2:  # category probabilities (ordinal): the expected category code
        fitted = fitted @ np.arange(fitted.shape[1], dtype=float)
    return SimulatedResiduals(observed, simulated, fitted, np.random.default_rng(pit_seed))
