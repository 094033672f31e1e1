"""pluggy hook specifications: the five plugin kinds a package can contribute.

A plugin package exposes a module (or object) with functions decorated by
``interlace.hookimpl`` and registers it under the entry-point group ``interlace``::

    [project.entry-points.interlace]
    my_families = "my_pkg.plugin"

Each hook returns a list of plugin *classes*; the registry checks each against its kind's
base class, indexes it by its ``name`` (and ``aliases``) and instantiates it on lookup. The
base classes declare themselves (``declare_kind`` in each kind's ``base.py``), so this package
imports none of the plugin folders.
"""

from __future__ import annotations

import pluggy

PROJECT = "interlace"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)

#: The plugin kinds and the hook that contributes each (in ``list_plugins`` order).
KIND_HOOKS = {
    "family": "interlace_families",
    "link": "interlace_links",
    "optimizer": "interlace_optimizers",
    "integrator": "interlace_integrators",
    "covariance": "interlace_covariances",
}
KINDS = tuple(KIND_HOOKS)


@hookspec
def interlace_families() -> list[type]:
    """Return Family subclasses (see ``interlace.families.base``)."""


@hookspec
def interlace_links() -> list[type]:
    """Return Link subclasses (see ``interlace.links.base``)."""


@hookspec
def interlace_optimizers() -> list[type]:
    """Return Optimizer subclasses (see ``interlace.optimizers.base``)."""


@hookspec
def interlace_integrators() -> list[type]:
    """Return Integrator subclasses (see ``interlace.integrators.base``)."""


@hookspec
def interlace_covariances() -> list[type]:
    """Return CovarianceStructure subclasses (see ``interlace.covariance.base``)."""
