"""What a distributed fit supports, checked before any pass: anything else raises
:class:`~interlace.errors.UnsupportedModelError` naming it, never a silent wrong answer."""

from __future__ import annotations

from typing import Any

import numpy as np

from interlace.errors import UnsupportedModelError
from interlace.glmm.rowkernel import row_kernel
from interlace.model.formula import ParsedFormula

STRUCTURES = ("", "us", "diag")  # lme4's | and || terms


def check_glmm_support(parsed: ParsedFormula, family: Any) -> None:
    """A family with a fused canonical kernel and no estimated parameters, random terms of
    lme4's unstructured or diagonal kind."""
    if not parsed.random:
        raise UnsupportedModelError("the formula has no random-effect term: fit the GLM "
                                    "without random effects elsewhere (e.g. statsmodels)")
    kern = row_kernel(family, np.zeros(2), np.ones(2))
    if not kern.fused:
        raise UnsupportedModelError(
            f"family {family.name!r} with link {family.link.name!r} is not supported on Dask "
            f"data: a distributed glmer needs a canonical-link family with a fused row kernel "
            f"(poisson with log, binomial with logit); gaussian models go through fit()")
    est = [k for k, p in family.parameters.items() if not p.fixed]
    if est:
        raise UnsupportedModelError(f"family {family.name!r} estimates {est}: family "
                                    f"parameters are not supported on Dask data")
    check_terms(parsed)


def check_terms(parsed: ParsedFormula) -> None:
    """Random terms of lme4's kinds only."""
    for spec in parsed.random:
        if (spec.structure or "") not in STRUCTURES:
            raise UnsupportedModelError(
                f"covariance structure {spec.structure!r} in {spec} is not supported on Dask "
                f"data (only lme4's (x | g) and (x || g) terms)")


def check_glmer_options(nAGQ: int, integrator: Any, ziformula: Any, dispformula: Any,
                        solver: str) -> None:
    """glmer's options that a distributed fit does not have."""
    if nAGQ != 1:
        raise UnsupportedModelError(f"nAGQ={nAGQ} is not supported on Dask data (Laplace, "
                                    f"nAGQ=1, only)")
    if integrator is not None:
        raise UnsupportedModelError("integrator= is not supported on Dask data (the Laplace "
                                    "approximation is built in)")
    for name, v in (("ziformula", ziformula), ("dispformula", dispformula)):
        if v is not None and str(v).replace(" ", "") not in ("~0", "0"):
            raise UnsupportedModelError(f"{name}={v!r} is not supported on Dask data")
    if solver != "auto":
        raise UnsupportedModelError(f"solver={solver!r} is not supported on Dask data (the "
                                    f"driver factors the blocked system itself)")
