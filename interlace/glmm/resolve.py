"""The plugins a GLMM fit uses, from names, classes or instances, checked before any work."""

from __future__ import annotations

from typing import Any

import numpy as np

from interlace.errors import InterlaceError, PluginError, UnsupportedModelError
from interlace.families.base import Family
from interlace.integrators import default_integrator
from interlace.optimizers import default_optimizer
from interlace.registry import registry, resolve

#: Response models of other model kinds, by name, with the function that fits them: they are
#: not glmer families (a cumulative link model's thresholds take the intercept's place).
OTHER_MODEL_KINDS = {"ordinal": "interlace.clmm", "clmm": "interlace.clmm"}


def resolve_family(family: Any, link: Any = None):
    """A family instance from a name, class or instance (``link`` overrides a name's default);
    a PluginError for anything else."""
    if isinstance(family, str):
        try:
            return resolve("family", family, link=link)
        except PluginError:
            entry = OTHER_MODEL_KINDS.get(family.lower())
            if entry is None:
                raise
            raise PluginError(
                f"family {family!r} is not a glmer family: its model is fitted by {entry}() "
                f"(e.g. {entry}('rating ~ temp + (1 | judge)', data))"
            ) from None
    if not (isinstance(family, Family) or (isinstance(family, type) and issubclass(family, Family))):
        raise PluginError(
            f"family must be a registered family name ({', '.join(registry().names('family'))}),"
            f" a Family subclass or an instance of one; got {type(family).__name__} {family!r}"
        )
    if isinstance(family, type):
        return family(link=link) if link is not None else family()
    if link is not None:
        new_link = resolve("link", link)
        if new_link.name != family.link.name:
            raise PluginError(
                f"link={new_link.name!r} conflicts with the family instance's link "
                f"{family.link.name!r}; set the link on the family instead"
            )
    return family


def resolve_integrator(integrator: Any, nAGQ: int, family=None):
    """The integrator instance: ``integrator`` if given, else the default for nAGQ and the
    family (:func:`~interlace.integrators.default_integrator`: Laplace for nAGQ = 1, with the
    observed information when the family asks for glmmTMB's form, adaptive quadrature above)."""
    options: dict = {}
    if integrator is None:
        information = "expected"
        if nAGQ == 1 and family is not None and family.laplace_information == "observed":
            information = "observed"
        integrator, options = default_integrator(nAGQ, information)
    try:
        return resolve("integrator", integrator, nAGQ=nAGQ, **options)
    except PluginError:
        quadrature, _ = default_integrator(nAGQ)
        if nAGQ > 1 and integrator == quadrature:
            raise UnsupportedModelError(
                f"nAGQ > 1 needs the adaptive Gauss-Hermite quadrature integrator "
                f"{quadrature!r}, which is not registered; use nAGQ=1 (Laplace)"
            ) from None
        raise


def resolve_optimizer(optimizer: Any):
    """The optimizer instance: ``optimizer`` if given, else the default (L-BFGS-B, see
    :func:`~interlace.optimizers.default_optimizer`)."""
    return resolve("optimizer", default_optimizer() if optimizer is None else optimizer)


def check_nagq(nAGQ: Any) -> int:
    """Validate nAGQ: a positive integer, at most 100."""
    if isinstance(nAGQ, bool) or not isinstance(nAGQ, (int, np.integer)):
        if isinstance(nAGQ, float) and nAGQ.is_integer():
            nAGQ = int(nAGQ)
        else:
            raise InterlaceError(f"nAGQ must be a positive integer, got {nAGQ!r}")
    if nAGQ < 1:
        raise InterlaceError(
            f"nAGQ must be >= 1, got {nAGQ}: nAGQ = 1 is the Laplace approximation; lme4's "
            f"nAGQ = 0 (a faster, rougher fit) is not offered"
        )
    if nAGQ > 100:
        raise InterlaceError(f"nAGQ = {nAGQ} is too large; values of 10 to 25 are typical (max 100)")
    return int(nAGQ)
