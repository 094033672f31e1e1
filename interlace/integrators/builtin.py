"""Entry-point module registering the built-in integrators (as a third-party plugin would)."""

from __future__ import annotations

from interlace.integrators.agq import AGQIntegrator, ProductAGQIntegrator
from interlace.integrators.laplace import LaplaceIntegrator
from interlace.registry.hookspecs import hookimpl


@hookimpl
def interlace_integrators():
    return [LaplaceIntegrator, AGQIntegrator, ProductAGQIntegrator]
