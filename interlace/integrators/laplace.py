"""Laplace approximation: -2 log L = -2 sum log p(y | u^) + |u^|^2 + log |L|^2 (lme4's form)."""

from __future__ import annotations

from interlace.glmm.gradient import laplace_gradient
from interlace.glmm.gradient_fused import fused_laplace_gradient
from interlace.glmm.pirls import pirls
from interlace.glmm.rowkernel import kernel_for
from interlace.glmm.zi_gradient import zi_laplace_gradient
from interlace.glmm.zi_random import has_zi_random, pirls_zi
from interlace.integrators.base import IntegrationResult, Integrator


class LaplaceIntegrator(Integrator):
    """``information="expected"`` (default) is lme4's Laplace: the log-determinant uses the
    PIRLS (Fisher) weights. ``"observed"`` uses the Hessian of the log-density, as glmmTMB;
    the two agree for canonical links (logit binomial, log Poisson, identity Gaussian)."""

    name = "laplace"

    def __init__(self, nAGQ: int = 1, information: str = "expected", **options) -> None:
        super().__init__(nAGQ=nAGQ, **options)
        if information not in ("expected", "observed"):
            from interlace.errors import PluginError

            raise PluginError(f"information must be 'expected' or 'observed', got {information!r}")
        self.observed = information == "observed"

    def integrate(self, ctx, theta, beta, fparams, u0):
        if has_zi_random(ctx):  # a second set of random effects: glmmTMB's joint Laplace
            res = pirls_zi(ctx, theta, beta, fparams, u0)
        else:
            res = pirls(ctx, theta, beta, fparams, u0, observed=self.observed)
        return IntegrationResult(-0.5 * res.laplace_deviance, res)

    def exact_canonical(self, ctx, fam_names):
        """The fused canonical kernels (Poisson-log, binomial-logit) without family parameters,
        and glmmTMB's form (observed information, always the form with random effects in
        ``ziformula``) for a family whose derivatives are all closed forms
        (``closed_form_derivatives``): the gradient is exact to rounding."""
        if has_zi_random(ctx):  # glmmTMB's form always; exact with closed-form derivatives
            return bool(ctx.family.closed_form_derivatives)
        if kernel_for(ctx).fused and not fam_names:
            return True
        return bool(self.observed and ctx.family.closed_form_derivatives)

    def gradient(self, ctx, theta, beta, fparams, result, fam_names):
        if has_zi_random(ctx):  # two linear predictors per row: the joint Laplace's gradient
            return zi_laplace_gradient(ctx, theta, beta, fparams, result.modes, fam_names)
        kern = kernel_for(ctx)
        if kern.fused and not fam_names:  # canonical link: observed = expected information
            return fused_laplace_gradient(ctx, kern, theta, fparams, result.modes)
        return laplace_gradient(ctx, theta, beta, fparams, result.modes, fam_names,
                                observed=self.observed)
