"""Nelder-Mead (scipy) with bounds: a robust derivative-free fallback."""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize

from interlace.optimizers.base import Optimizer, OptimizeResult, count, flag, tolerance


class NelderMead(Optimizer):
    name = "nelder-mead"
    aliases = ("neldermead", "nelder_mead")
    uses_gradient = False
    options_accepted = {
        "maxfev": count("the maximum number of deviance evaluations, default 50000"),
        "maxiter": count("the maximum number of iterations"),
        "xatol": tolerance("stop when the simplex's points differ by less than this"),
        "fatol": tolerance("stop when the deviance differs across the simplex by less than this"),
        "adaptive": flag("adapt the simplex's parameters to the dimension, default True"),
    }
    option_aliases = {
        "maxfun": ("maxfev", "lme4's"), "maxeval": ("maxfev", "nlopt's"),
        "maxit": ("maxiter", "R optim's"), "ftolabs": ("fatol", "lme4's"),
        "ftol_abs": ("fatol", "nlopt's"), "xtol_abs": ("xatol", "nlopt's"),
    }

    def rough_options(self):
        return {"xatol": 1e-6, "fatol": 1e-8}

    def minimize(self, fun, x0, bounds, jac=None, options=None):
        opts = {"maxfev": 50000, "xatol": 1e-9, "fatol": 1e-11, "adaptive": True}
        opts.update(self.options)
        opts.update(options or {})
        res = minimize(fun, np.asarray(x0, float), method="Nelder-Mead", bounds=bounds,
                       options=opts)
        # status 1 / 2: the evaluation / iteration limit was reached
        return OptimizeResult(np.asarray(res.x, float), float(res.fun), bool(res.success),
                              int(res.nfev), str(res.message), limit_reached=res.status in (1, 2))
