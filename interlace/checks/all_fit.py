"""lme4's ``allFit``: the model refitted with every registered optimizer plugin.

A convergence warning may be a false alarm (the optimum is fine, the gradient check is
strict) or a real problem (the optimizers stop at different places). Refitting with each
optimizer from the model's default start and comparing the log-likelihoods and estimates
tells the two apart: when they agree to a few 1e-4 the fit is trustworthy. The refits run on
local worker processes (:mod:`interlace.parallel`), or in this process with ``workers=0``;
each gives one record (log-likelihood, estimates on the natural scale, convergence, warnings,
time), gathered into :class:`AllFit`.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from interlace import parallel
from interlace.errors import InterlaceError
from interlace.inference.replicates import check_workers
from interlace.registry import list_plugins, resolve


@dataclass(frozen=True)
class OptimizerTask:
    """The refit with one optimizer plugin: one task of :mod:`interlace.parallel`."""

    optimizer: str

    @property
    def name(self) -> str:
        return f"refit with {self.optimizer}"

    @property
    def key(self) -> str:
        return self.optimizer


@dataclass
class OptimizerRefit:
    """Refits the model with a named optimizer from its default start (sent to the workers):
    the result kind's stages and settings from its :class:`~interlace.inference.refit.Refitter`,
    the optimizer's options reset to its defaults."""

    refitter: Any

    def __call__(self, task: OptimizerTask) -> dict:
        settings = {**self.refitter.settings, "optimizer": resolve("optimizer", task.optimizer),
                    "options": None}
        start = time.perf_counter()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            res = self.refitter.stages(self.refitter.ctx, None, **settings)
        return {"key": task.key, "optimizer": task.optimizer, "loglik": float(res.llf),
                "converged": bool(res.converged), "singular": bool(res.singular),
                "seconds": time.perf_counter() - start,
                "messages": "; ".join([*res.messages, *(str(w.message) for w in caught)]),
                "estimates": res.natural_params.to_dict(), "error": None}


def refit_failure(task: OptimizerTask, message: str, error_type: str, attempts: int) -> dict:
    """The record of a refit that raised or whose worker died."""
    return {"key": task.key, "optimizer": task.optimizer, "loglik": np.nan, "converged": False,
            "singular": False, "seconds": np.nan, "messages": "", "estimates": {},
            "error": f"{error_type}: {message}"}


@dataclass
class AllFit:
    """The refits, one row per optimizer: ``table`` has the log-likelihood, its distance to
    the best (``dloglik``), convergence, singularity, seconds, the messages and warnings, then
    every parameter on its natural scale; ``errors`` the refits that failed."""

    table: pd.DataFrame
    errors: dict[str, str] = field(default_factory=dict)

    def agree(self, tol: float = 1e-3) -> bool:
        """Whether every refit ran and their log-likelihoods lie within ``tol`` of each
        other: then a convergence warning of the fit is a false alarm."""
        ll = self.table["loglik"].to_numpy(dtype=float)
        return not self.errors and bool(np.all(np.isfinite(ll))) and float(np.ptp(ll)) <= tol

    def estimates(self) -> pd.DataFrame:
        """The parameters alone: optimizers in rows, natural parameters in columns."""
        return self.table.drop(columns=list(SUMMARY_COLUMNS))

    def __repr__(self) -> str:
        cols = ["loglik", "dloglik", "converged", "singular"]
        return f"AllFit\n{self.table[cols].to_string()}"


SUMMARY_COLUMNS = ("loglik", "dloglik", "converged", "singular", "seconds", "messages")


def all_fit(result: Any, optimizers: list[str] | None = None, workers: Any = None) -> AllFit:
    """The model of ``result`` refitted with each optimizer (default: every registered
    optimizer plugin) on ``workers`` processes (None: one per optimizer up to the cores; 0:
    in this process, one after another)."""
    if result.refitter is None:
        raise InterlaceError("all_fit() needs a refittable result (result.refitter)")
    names = list(list_plugins()["optimizer"]) if optimizers is None else list(optimizers)
    unknown = [n for n in names if n not in list_plugins()["optimizer"]]
    if unknown or not names:
        raise InterlaceError(f"optimizers must be registered optimizer names "
                             f"({', '.join(list_plugins()['optimizer'])}), got {optimizers!r}")
    n = min(check_workers(workers), len(names))
    records: dict[str, dict] = {}

    def emit(rec: dict) -> None:
        records[rec["key"]] = rec

    parallel.run_local([OptimizerTask(name) for name in names], n, emit,
                       OptimizerRefit(result.refitter), refit_failure,
                       context=parallel.mp_context() if n > 0 else None, what="refit")
    return assemble([records[name] for name in names])


def assemble(records: list[dict]) -> AllFit:
    """The :class:`AllFit` of the refits' records, in the order given."""
    rows = {}
    for rec in records:
        row = {k: rec[k] for k in ("loglik", "converged", "singular", "seconds", "messages")}
        rows[rec["optimizer"]] = {**row, **rec["estimates"]}
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "optimizer"
    table.insert(1, "dloglik", table["loglik"] - table["loglik"].max())
    errors = {rec["optimizer"]: rec["error"] for rec in records if rec["error"]}
    return AllFit(table, errors)
