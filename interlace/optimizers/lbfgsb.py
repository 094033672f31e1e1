"""L-BFGS-B (scipy): quasi-Newton with box bounds, using the gradient the fit supplies."""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize

from interlace.optimizers.base import Optimizer, OptimizeResult, count, tolerance


class LBFGSB(Optimizer):
    name = "lbfgsb"
    aliases = ("l-bfgs-b", "lbfgs")
    uses_gradient = True
    options_accepted = {
        "maxiter": count("the maximum number of iterations, default 1000"),
        "maxfun": count("the maximum number of deviance evaluations, default 15000"),
        "ftol": tolerance("stop when the deviance decreases by less than this, relatively"),
        "gtol": tolerance("stop when the largest projected gradient is below this"),
        "maxcor": count("the number of corrections kept for the Hessian approximation"),
        "maxls": count("the maximum number of line-search steps per iteration"),
    }
    option_aliases = {
        "maxeval": ("maxfun", "nlopt's"), "maxit": ("maxiter", "R optim's"),
        "pgtol": ("gtol", "R optim's"), "lmm": ("maxcor", "R optim's"),
        "ftol_rel": ("ftol", "nlopt's"), "ftolrel": ("ftol", "lme4's"),
    }

    def rough_options(self):
        return {"ftol": 1e-9, "gtol": 1e-4}

    def polished_options(self):
        return {"gtol": 1e-5}

    def minimize(self, fun, x0, bounds, jac=None, options=None):
        opts = {"maxiter": 1000, "ftol": 1e-13, "gtol": 1e-7, "maxcor": 20}
        opts.update(self.options)
        opts.update(options or {})
        res = minimize(fun, np.asarray(x0, float), jac=jac, method="L-BFGS-B", bounds=bounds,
                       options=opts)
        msg = res.message if isinstance(res.message, str) else res.message.decode()
        # "ABNORMAL" line-search ends happen at an optimum reached to rounding; the fitting
        # loop checks the gradient itself, so report success by the gradient criterion there.
        # status 1: the iteration or evaluation limit was reached
        return OptimizeResult(np.asarray(res.x, float), float(res.fun), bool(res.success),
                              int(res.nfev), msg, limit_reached=res.status == 1)
