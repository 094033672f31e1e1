"""Nelder-Mead (scipy) with bounds: a robust derivative-free fallback."""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize

from interlace.optimizers.base import Optimizer, OptimizeResult


class NelderMead(Optimizer):
    name = "nelder-mead"
    aliases = ("neldermead", "nelder_mead")
    uses_gradient = False

    def rough_options(self):
        return {"xatol": 1e-6, "fatol": 1e-8}

    def minimize(self, fun, x0, bounds, jac=None, options=None):
        opts = {"maxfev": 50000, "xatol": 1e-9, "fatol": 1e-11, "adaptive": True}
        opts.update(self.options)
        opts.update(options or {})
        res = minimize(fun, np.asarray(x0, float), method="Nelder-Mead", bounds=bounds,
                       options=opts)
        return OptimizeResult(np.asarray(res.x, float), float(res.fun), bool(res.success),
                              int(res.nfev), str(res.message))
