"""The GLMM's deviance as a function of its full parameter vector (lme4's ``devFunOnly``)."""

from __future__ import annotations

import numpy as np

from interlace.glmm.objective import Objective
from interlace.glmm.parameters import Parameters


class Deviance(Objective):
    """-2 log L of a GLMM at x = [theta, beta, family parameters (unconstrained)].

    Call it on a vector to get the deviance (1e100 where the likelihood cannot be evaluated);
    :meth:`gradient` gives the integrator's exact gradient (None when it has none). Each call
    warm-starts the conditional modes from the previous one, so nearby points are cheap.
    :meth:`start`, :meth:`bounds` and :meth:`names` describe the vector; :attr:`nfev` counts
    the evaluations. It is the objective of the joint stage of :func:`interlace.glmm.optimize_glmm`.
    """

    def __init__(self, params: Parameters, integrator) -> None:
        super().__init__(params.ctx, integrator, params.layout(), params.beta0)
        self.parameters = params

    def start(self) -> np.ndarray:
        """lme4's start: theta from an identity factor, beta from the GLM without random
        effects, the family parameters at their start (a new array)."""
        p = self.parameters
        return np.concatenate([p.theta0, p.beta0, p.z0])

    def bounds(self) -> list[tuple[float | None, float | None]]:
        """(lower, upper) per entry, None for open: variances' factors are >= 0 and scalar
        family parameters lie within +-30 on their unconstrained scale."""
        return self.parameters.bounds(self.layout)

    def names(self) -> list[str]:
        """The entries' names: ``theta[group.column]``, the fixed effects, then the family
        parameters (``name (unconstrained)``, or ``name~column`` for a formula's coefficients)."""
        return self.parameters.names(self.layout)

    def parameter_values(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, dict]:
        """theta, beta and the family parameters' values (natural scale) at x."""
        return self.unpack(np.asarray(x, float))
