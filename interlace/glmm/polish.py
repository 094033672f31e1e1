"""The Newton polish of a GLMM optimum and the Hessian there.

A few Newton steps on a finite-difference Hessian take the optimizer's point to the optimum
within rounding, and the same Hessian gives the covariance of the estimates (lme4's default for
GLMMs). With the integrator's exact gradient the Hessian costs 2m gradients (m forward ones
when that gradient is closed-form to rounding), else ~2m^2 deviances.
"""

from __future__ import annotations

import numpy as np

from interlace.glmm.objective import Objective
from interlace.linalg.differences import (
    fd_gradient,
    fd_hessian,
    hessian_forward,
    hessian_from_gradient,
)

#: A Newton step longer than FLAT_STEP (in any coordinate) that lowers the deviance by less
#: than FLAT_GAIN relative is not taken: the deviance is flat along it.
FLAT_STEP, FLAT_GAIN = 1e-3, 1e-9


class Polisher:
    """Hessians and gradients of one objective near its optimum.

    ``exact``: the gradient is closed-form to rounding (forward differences of it suffice);
    ``has_grad``: the integrator has a gradient at all; ``unit``: each coordinate's step, so
    that a coefficient's step changes eta by about the same amount; ``lower``: the bounds.
    """

    def __init__(self, obj: Objective, exact: bool, has_grad: bool, unit: np.ndarray,
                 lower: np.ndarray) -> None:
        self.obj, self.exact, self.has_grad = obj, exact, has_grad
        self.unit, self.lower = unit, lower

    def exact_gradient(self, x: np.ndarray) -> np.ndarray | None:
        """The gradient with the modes at x converged once more (a forward difference of 1e-7
        needs them exact: PIRLS's own tolerance leaves errors of ~1e-6 in H)."""
        self.obj.reconverge(x)
        return self.obj.gradient(x)

    def hessian(self, x: np.ndarray, fx: float) -> tuple[np.ndarray, np.ndarray]:
        """The Hessian and gradient at x (the objective's state is left at x)."""
        obj = self.obj
        if self.exact:  # forward differences: the centre's gradient must be as exact as the steps'
            obj.reconverge(x)
        g = obj.gradient(x) if self.has_grad else None
        snap = obj.snapshot()  # the state at x: restored after the differences around it
        if g is not None:
            H = (hessian_forward(self.exact_gradient, x, g, unit=self.unit) if self.exact
                 else hessian_from_gradient(obj.gradient, x, unit=self.unit))
            if H is not None:
                obj.restore(snap)
                return H, g
        H, g = fd_hessian(obj, x, fx, unit=self.unit)
        obj.restore(snap)
        return H, g

    def gradient(self, x: np.ndarray, fx: float) -> np.ndarray:
        """The integrator's gradient at x, else a forward difference."""
        g = self.obj.gradient(x) if self.has_grad else None
        return fd_gradient(self.obj, x, fx, self.lower, unit=self.unit) if g is None else g

    def step_taken(self, x: np.ndarray, xn: np.ndarray, fx: float, fn: float, g: np.ndarray
                   ) -> tuple[bool, np.ndarray | None]:
        """Whether the Newton step x -> xn is kept, and the gradient at xn if it was needed.

        Within rounding of the deviance a decrease is invisible; near the optimum the step is
        still taken if it shrinks the (exact) gradient, so that the optimum does not depend on
        the path that reached it (e.g. with or without the first stage)."""
        long = np.max(np.abs(xn - x)) > FLAT_STEP
        if long and fn > fx - FLAT_GAIN * max(1.0, abs(fx)):
            # a long step that barely changes the deviance: a direction in which it is flat
            # (a zero probability running off to 0 on the logit scale), not a polish
            return False, None
        if fn < fx - 1e-12:
            return True, None
        gn = (self.obj.gradient(xn) if self.has_grad and fn <= fx + 1e-12 * max(1.0, abs(fx))
              else None)
        return gn is not None and np.max(np.abs(gn)) < np.max(np.abs(g)), gn

    def polish(self, x: np.ndarray, fx: float
               ) -> tuple[np.ndarray, float, np.ndarray, np.ndarray]:
        """Up to four Newton steps from x; returns the point, its deviance, the Hessian there
        (taken again whenever the point moved materially) and the gradient."""
        obj = self.obj
        H, g = self.hessian(x, fx)
        x_h = x.copy()
        for _ in range(4):
            try:
                step = np.linalg.solve(H, g)
            except np.linalg.LinAlgError:
                break
            xn = np.maximum(x - step, self.lower)
            snap = obj.snapshot()
            fn = obj(xn)
            taken, gn = self.step_taken(x, xn, fx, fn, g)
            if not taken:
                obj.restore(snap)
                break
            x, fx = xn, fn
            if np.max(np.abs(step) / np.maximum(1.0, np.abs(x))) > 1e-5:
                H, g = self.hessian(x, fx)
                x_h = x.copy()
            else:
                g = self.gradient(x, fx) if gn is None else gn
            if np.max(np.abs(step)) < 1e-7:
                break
        if np.max(np.abs(x - x_h) / np.maximum(1.0, np.abs(x))) > 1e-4:
            H, g = self.hessian(x, fx)  # moved far: the Hessian must be taken again
        return x, fx, H, g
