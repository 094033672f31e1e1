"""The GLMM's parameter vector: its start, bounds, names and the optimizer's scaling.

The vector is [theta, beta, family parameters on their unconstrained scale] (a family parameter
with a formula contributes its coefficients); a :class:`~interlace.glmm.objective.Layout` says
which blocks a stage optimises. :class:`Parameters` holds what every stage needs about it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from interlace.errors import InterlaceError
from interlace.glmm.objective import Layout
from interlace.glmm.rowkernel import fixed_effects_for, kernel_for
from interlace.glmm.start import glm_start, theta_moments
from interlace.model.context import ModelContext


@dataclass
class Parameters:
    """Start values, bounds and scaling of a model's parameter vector.

    ``theta0`` is lme4's start (times sigma for a family with a residual scale), ``beta0`` the
    GLM fit without random effects, ``z0`` the estimated family parameters' unconstrained start
    (``fp0`` all their values, fixed ones included).
    """

    ctx: ModelContext
    theta0: np.ndarray
    beta0: np.ndarray
    z0: np.ndarray
    fp0: dict
    est: list[str]  # the estimated family parameters
    fam_sizes: dict[str, int]  # coefficients of those with a formula
    tlow: np.ndarray  # theta's lower bounds (0 on diagonals, -inf elsewhere)
    beta_scale: np.ndarray

    @classmethod
    def start(cls, ctx: ModelContext) -> Parameters:
        """The start of a fit: the GLM for beta, then the family's own start given it."""
        design, fam = ctx.design, ctx.family
        fp0 = fam.parameter_values()
        beta0 = glm_start(design, fam, fp0, kern=kernel_for(ctx), fe=fixed_effects_for(ctx))
        fp0.update(fam.start_parameters(design, beta0))
        est, fam_sizes = estimated_parameters(ctx)
        pdes = design.param_designs
        z0 = np.concatenate([coef_start(fam.parameters[k].to_unconstrained(fp0[k]), pdes.get(k))
                             for k in est]) if est else np.zeros(0)
        theta0 = np.concatenate([t.theta_start() for t in design.terms])
        if fam.has_dispersion and fam.scale_parameter in fp0:
            # absolute scale: lme4's relative start times the residual SD
            theta0 = theta0 * fp0[fam.scale_parameter]
        tlow = np.concatenate([t.theta_lower_bounds() for t in design.terms])
        # The optimizer works on x * scale, with beta_j scaled by the spread of X's column j,
        # so that a unit step means a comparable change in eta for every coefficient (a
        # covariate in the hundreds otherwise draws a first step that overflows the linear
        # predictor).
        return cls(ctx, theta0, beta0, z0, fp0, est, fam_sizes, tlow, column_scale(design.X))

    @classmethod
    def warm(cls, ctx: ModelContext, x: np.ndarray) -> Parameters:
        """The start of a refit: every entry from ``x``, a parameter vector of the joint
        layout (a fit's optimum), without the GLM fit (``fp0`` holds the family's fixed
        values and starts only)."""
        design = ctx.design
        est, fam_sizes = estimated_parameters(ctx)
        nt, p = ctx.ntheta, design.p
        size = nt + p + sum(fam_sizes.get(k, 1) for k in est)
        x = np.asarray(x, dtype=float)
        if x.shape != (size,):
            raise InterlaceError(f"a warm start needs {size} values ([theta, beta, family "
                                 f"parameters]), got an array of shape {x.shape}")
        tlow = np.concatenate([t.theta_lower_bounds() for t in design.terms])
        return cls(ctx, x[:nt].copy(), x[nt:nt + p].copy(), x[nt + p:].copy(),
                   ctx.family.parameter_values(), est, fam_sizes, tlow, column_scale(design.X))

    @property
    def ntheta(self) -> int:
        return self.ctx.ntheta

    @property
    def p(self) -> int:
        return self.ctx.design.p

    @property
    def diag(self) -> np.ndarray:
        """theta's entries bounded below by 0 (the variances' factors)."""
        return np.flatnonzero(np.isfinite(self.tlow))

    def layout(self, profiled: bool = False, fixed_beta: bool = False) -> Layout:
        """The layout of a stage: the joint one by default."""
        return Layout(self.ntheta, self.p, self.est, profiled=profiled, fixed_beta=fixed_beta,
                      fam_sizes=self.fam_sizes)

    def moment_theta(self, floor_without_excess: bool = False) -> np.ndarray:
        """theta from the moments of the GLM's residuals (:func:`theta_moments`)."""
        ctx = self.ctx
        return theta_moments(ctx.design, kernel_for(ctx), fixed_effects_for(ctx), self.beta0,
                             self.fp0, floor_without_excess)

    def first_stage_theta(self) -> np.ndarray:
        """The first stage's start: lme4's (the identity) for scalar terms, the GLM's moments
        for vector terms, whose identity start ignores their columns' scales (a Poisson slope
        on days started at SD 1 ended 1.7 log-likelihood units short, as lme4 does)."""
        theta = self.theta0.copy()
        moments = self.moment_theta()
        for t, sl in zip(self.ctx.design.terms, self.ctx.theta_slices()):
            if t.k > 1:
                theta[sl] = moments[sl]
        return theta

    def bounds(self, layout: Layout) -> list[tuple[float | None, float | None]]:
        """(lower, upper) per entry of the layout's vector, None for unbounded."""
        pdes = self.ctx.design.param_designs
        b = [(0.0 if np.isfinite(lo) else None, None) for lo in self.tlow]
        if layout.beta_free:
            b += [(None, None)] * self.p
        for k in self.est:  # a formula's coefficients are free; its per-row values are clipped
            b += [(-30.0, 30.0)] if k not in pdes else [(None, None)] * pdes[k].k
            if k in pdes:  # the theta of its random terms: lme4's bounds
                b += [(0.0 if np.isfinite(lo) else None, None)
                      for t in pdes[k].terms for lo in t.theta_lower_bounds()]
        return b

    def lower(self, layout: Layout) -> np.ndarray:
        """The lower bounds as an array (-inf for unbounded)."""
        return np.array([(-np.inf if lo is None else lo) for lo, _ in self.bounds(layout)])

    def scale(self, layout: Layout) -> np.ndarray:
        """The optimizer's unit per entry: beta_j (and a formula's coefficients) by the spread
        of its column, the rest 1."""
        pdes = self.ctx.design.param_designs
        parts = [np.ones(self.ntheta)]
        if layout.beta_free:
            parts.append(self.beta_scale)
        parts += [np.ones(1) if k not in pdes else
                  np.concatenate([column_scale(pdes[k].X), np.ones(pdes[k].ntheta)])
                  for k in self.est]
        return np.concatenate(parts)

    def names(self, layout: Layout) -> list[str]:
        """Names of the layout's entries, as the result's Hessian names them."""
        return layout_names(self.ctx.design, layout)


def layout_names(design, layout: Layout) -> list[str]:
    """Names of a layout's entries: ``theta[group.column]``, the fixed effects (when free),
    then the family parameters (``name (unconstrained)``, or ``name~column`` and the theta of
    a formula's random terms)."""
    names = [f"theta[{n}]" for t in design.terms for n in t.theta_names()]
    if layout.beta_free:
        names += list(design.fe_names)
    pdes = design.param_designs
    for n in layout.fam_names:
        names += ([f"{n}~{c}" for c in pdes[n].columns] if n in pdes
                  else [f"{n} (unconstrained)"])
        if n in pdes:
            names += [f"{n}~theta[{tn}]" for t in pdes[n].terms for tn in t.theta_names()]
    return names


def estimated_parameters(ctx: ModelContext) -> tuple[list[str], dict[str, int]]:
    """The family parameters the fit estimates, and the number of entries of those with a
    formula (its coefficients, then the theta of its random terms)."""
    fam, pdes = ctx.family, ctx.design.param_designs
    est = [k for k, p in fam.parameters.items() if not p.fixed]
    return est, {k: pdes[k].k + pdes[k].ntheta for k in est if k in pdes}


def column_scale(X: np.ndarray) -> np.ndarray:
    """Each column's spread (1 for constant columns): the optimizer's unit for its coefficient."""
    spread = X.std(axis=0)
    return np.where(spread > 1e-12, spread, 1.0)


def coef_start(z: float, pdesign) -> np.ndarray:
    """Start of a family parameter's entries: its scalar start, or the coefficients of its
    formula that give that value on every row (least squares on a constant)."""
    if pdesign is None:
        return np.array([z])
    coef = np.linalg.lstsq(pdesign.X, np.full(pdesign.X.shape[0], z), rcond=None)[0]
    if not pdesign.terms:
        return coef
    return np.concatenate([coef, *[t.theta_start() for t in pdesign.terms]])
