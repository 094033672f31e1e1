"""Laplace approximation: -2 log L = -2 sum log p(y | u^) + |u^|^2 + log |L|^2 (lme4's form)."""

from __future__ import annotations

from interlace.core.gradient import laplace_gradient
from interlace.core.pirls import pirls
from interlace.integrators.base import IntegrationResult, Integrator


class LaplaceIntegrator(Integrator):
    name = "laplace"

    def integrate(self, ctx, theta, beta, fparams, u0):
        res = pirls(ctx, theta, beta, fparams, u0)
        return IntegrationResult(-0.5 * res.laplace_deviance, res)

    def gradient(self, ctx, theta, beta, fparams, result, fam_names):
        return laplace_gradient(ctx, theta, beta, fparams, result.modes, fam_names)
