"""The objective the optimizer sees: the deviance -2 log L as a function of one vector.

The vector is [theta, beta, family parameters on their unconstrained scale]; a family parameter
with a formula (``ziformula``, ``dispformula``) contributes its coefficients instead, followed
by the theta of its random terms when it has some (``ziformula = ~ x + (1 | g)``:
:mod:`interlace.glmm.zi_random`). Two first-stage
variants leave beta out: "profiled" (lme4's first stage) sets it to its joint conditional mode
with u inside PIRLS; "fixed_beta" holds it at its start (used when the integrator has an exact
gradient, whose theta part then serves). Conditional modes are warm-started from the previous
evaluation.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from interlace.glmm.pirls import pirls
from interlace.glmm.zi_random import eta_key
from interlace.model.context import ModelContext


@dataclass
class Layout:
    """Positions of each parameter block in the optimizer's vector."""

    ntheta: int
    p: int
    fam_names: list[str]  # estimated family parameters
    profiled: bool = False  # beta at its joint mode with u (lme4's stage 1)
    fixed_beta: bool = False  # beta held at the objective's current value
    fam_sizes: dict[str, int] = field(default_factory=dict)  # coefficients of formula params

    @property
    def beta_free(self) -> bool:
        return not (self.profiled or self.fixed_beta)

    def fam_size(self, name: str) -> int:
        """Entries of a family parameter: 1, or its formula's coefficients."""
        return self.fam_sizes.get(name, 1)

    @property
    def nfam(self) -> int:
        return sum(self.fam_size(n) for n in self.fam_names)

    @property
    def size(self) -> int:
        return self.ntheta + (self.p if self.beta_free else 0) + self.nfam


class Objective:
    """Deviance at a parameter vector, via the integrator (or profiled PIRLS in stage 1)."""

    def __init__(self, ctx: ModelContext, integrator, layout: Layout, beta0: np.ndarray) -> None:
        self.ctx, self.integrator, self.layout = ctx, integrator, layout
        self.u = np.zeros(ctx.system.q)
        self.beta = beta0.copy()
        self.fixed_fp = {k: p.value for k, p in ctx.family.parameters.items() if p.fixed}
        self.nfev = 0
        self.last = None
        self.last_x: np.ndarray | None = None
        self.last_out = None
        self.last_dev = np.inf  # deviance at last_x
        self.last_grad: np.ndarray | None = None  # gradient at last_x, once asked for
        self.last_parts: tuple | None = None  # (theta, beta, family parameters) of last_x

    def unpack(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, dict]:
        L = self.layout
        theta = x[: L.ntheta]
        i = L.ntheta
        if not L.beta_free:
            beta = self.beta
        else:
            beta = x[i : i + L.p]
            i += L.p
        fp = dict(self.fixed_fp)
        params = self.ctx.family.parameters
        pdes = self.ctx.design.param_designs
        extra = []
        for name in L.fam_names:
            k = L.fam_size(name)
            if name in pdes:  # a formula: the value per row from its linear predictor
                kf = pdes[name].k
                lin = pdes[name].X @ x[i : i + kf]
                z = np.clip(lin, -30.0, 30.0)
                if kf < k:  # random effects in the formula: their theta follows the coefficients
                    extra.append(x[i + kf : i + k])
                    fp[eta_key(name)] = lin
            else:  # a scalar: clipped in Python (np.clip on a scalar costs 5 us)
                z = min(max(float(x[i]), -30.0), 30.0)
            fp[name] = params[name].from_unconstrained(z)
            i += k
        if extra:  # the integrator reads the zero part's theta after the conditional one's
            theta = np.concatenate([theta, *extra])
        return theta, beta, fp

    def __call__(self, x: np.ndarray) -> float:
        x = np.asarray(x, float)
        if self.last_x is not None and _same(self.last_x, x):
            return self.last_dev  # the state (u, modes) is already at x
        self.nfev += 1
        theta, beta, fp = self.unpack(x)
        if self.layout.profiled:
            res = pirls(self.ctx, theta, beta, fp, self.u, fit_beta=True)
            dev = res.laplace_deviance
            if np.isfinite(dev):
                self.beta = res.beta
        else:
            out = self.integrator.integrate(self.ctx, theta, beta, fp, self.u)
            res, dev = out.modes, -2.0 * out.loglik
        if np.isfinite(dev):
            self.u = res.u
            self.last = res
            if not self.layout.profiled:
                self.last_x, self.last_out = x.copy(), out
                self.last_dev, self.last_grad = float(dev), None
                self.last_parts = (theta, beta, fp)
            return float(dev)
        return 1e100

    def reconverge(self, x: np.ndarray) -> float:
        """The deviance at x with PIRLS run once more from the modes there: one more Newton
        step makes them (and the gradient) exact to rounding, as small differences need."""
        x = np.asarray(x, float)
        dev = self(x)  # (the cached deviance when x is the last point)
        if (getattr(self.last, "exact", False) and self.last_x is not None
                and _same(self.last_x, x)):
            return dev  # its PIRLS took that extra step itself (interlace.glmm.pirls_grouped)
        self.last_x = None
        return self(x)

    def snapshot(self) -> tuple:
        """The state at the last evaluated point, for :meth:`restore` (no copies: states are
        replaced, never modified in place)."""
        return (self.u, self.beta, self.last, self.last_x, self.last_out, self.last_dev,
                self.last_grad, self.last_parts)

    def restore(self, snap: tuple) -> None:
        """Return to a :meth:`snapshot`'s point without evaluating there again."""
        (self.u, self.beta, self.last, self.last_x, self.last_out, self.last_dev,
         self.last_grad, self.last_parts) = snap

    def gradient(self, x: np.ndarray) -> np.ndarray | None:
        """The integrator's exact gradient at x (None if it has none, or in the profiled stage)."""
        L = self.layout
        if L.profiled:
            return None
        x = np.asarray(x, float)
        if self.last_x is None or not _same(self.last_x, x):
            if self(x) >= 1e100:
                return None
        elif self.last_grad is not None:
            return self.last_grad.copy()
        theta, beta, fp = self.last_parts  # x's, unpacked when it was evaluated
        g = self.integrator.gradient(self.ctx, theta, beta, fp, self.last_out, L.fam_names)
        if g is not None and not L.beta_free:
            g = np.concatenate([g[: L.ntheta], g[L.ntheta + L.p :]])
        if g is not None:
            self.last_grad = g.copy()
        return g


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether two parameter vectors are equal (np.array_equal's checks cost 4x more)."""
    return a.shape == b.shape and bool((a == b).all())
