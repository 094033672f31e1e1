"""``interlace.glmer`` and ``interlace.fit``: the in-memory fit for a pandas DataFrame, the
distributed one (:mod:`interlace.distributed`) for a Dask DataFrame."""

from __future__ import annotations

from typing import Any

from interlace.distributed.frames import is_dask_frame
from interlace.distributed.glmm import DEFAULT_TIMEOUT, glmer_dask
from interlace.distributed.lmm import fit_dask
from interlace.distributed.support import check_glmer_options
from interlace.glmm.fitting import glmer as glmer_in_memory
from interlace.glmm.fitting import is_linear_mixed
from interlace.glmm.resolve import check_nagq, resolve_family
from interlace.lmm.fitting import fit as fit_in_memory
from interlace.model.param_formulas import removes_zero_part, zero_part_family


def glmer(formula: str, data: Any, family: Any = "binomial", groups: Any = None,
          random: Any = None, weights: Any = None, offset: Any = None, optimizer: Any = None,
          nAGQ: int = 1, link: Any = None, integrator: Any = None,
          optimizer_options: dict | None = None, ziformula: str | None = None,
          dispformula: str | None = None, solver: str = "auto", client: Any = None,
          timeout: float = DEFAULT_TIMEOUT):
    """Fit a GLMM by maximum likelihood: :func:`interlace.glmm.fitting.glmer` (every argument
    is its) on a pandas DataFrame.

    On a Dask DataFrame the fit runs on the Dask cluster of ``client`` (default: the active
    client): the partitions stay on the workers, every pass over the rows ships only sums to
    the driver, and the answer is the in-memory fit's (see the "Fitting at scale" page).
    Supported there: poisson (log) and binomial (logit, cbind / proportions with weights),
    random intercepts, slopes and crossed factors, offsets and prior weights (columns named
    by ``weights=`` / ``offset=``); a gaussian identity model goes to :func:`fit` by ML.
    Anything else raises :class:`~interlace.errors.UnsupportedModelError`. ``timeout``
    (seconds) bounds each pass: a cluster that stops answering raises
    :class:`~interlace.errors.InterlaceError` instead of hanging.
    """
    if not is_dask_frame(data):
        return glmer_in_memory(formula, data, family=family, groups=groups, random=random,
                               weights=weights, offset=offset, optimizer=optimizer, nAGQ=nAGQ,
                               link=link, integrator=integrator,
                               optimizer_options=optimizer_options, ziformula=ziformula,
                               dispformula=dispformula, solver=solver)
    nAGQ = check_nagq(nAGQ)
    fam = zero_part_family(resolve_family(family, link), ziformula)
    if fam.zi_parameter is None and removes_zero_part(ziformula):
        ziformula = None
    if is_linear_mixed(fam, integrator, ziformula, dispformula):
        return fit_dask(formula, data, groups=groups, random=random, weights=weights,
                        offset=offset, method="ML", client=client, timeout=timeout)
    check_glmer_options(nAGQ, integrator, ziformula, dispformula, solver)
    return glmer_dask(formula, data, fam, groups=groups, random=random, weights=weights,
                      offset=offset, optimizer=optimizer, optimizer_options=optimizer_options,
                      client=client, timeout=timeout)


def fit(formula: str, data: Any, groups: Any = None, random: Any = None, weights: Any = None,
        offset: Any = None, method: str = "REML", optimizer: Any = None,
        optimizer_options: dict | None = None, solver: str = "auto", client: Any = None,
        timeout: float = DEFAULT_TIMEOUT):
    """Fit a linear mixed model: :func:`interlace.lmm.fitting.fit` (every argument is its) on
    a pandas DataFrame; on a Dask DataFrame one pass of cross-products on the cluster of
    ``client`` (default: the active client), then the REML / ML criterion on the driver
    (see :func:`glmer` for what runs where and ``timeout``)."""
    if not is_dask_frame(data):
        return fit_in_memory(formula, data, groups=groups, random=random, weights=weights,
                             offset=offset, method=method, optimizer=optimizer,
                             optimizer_options=optimizer_options, solver=solver)
    return fit_dask(formula, data, groups=groups, random=random, weights=weights, offset=offset,
                    method=method, optimizer=optimizer, optimizer_options=optimizer_options,
                    client=client, timeout=timeout)
