"""BOBYQA (Powell's bound-constrained quadratic models, via nlopt): derivative-free."""

from __future__ import annotations

import nlopt
import numpy as np

from interlace.optimizers.base import Optimizer, OptimizeResult, count, tolerance


class BOBYQA(Optimizer):
    name = "bobyqa"
    uses_gradient = False
    options_accepted = {
        "maxeval": count("the maximum number of deviance evaluations, default 20000"),
        "ftol_rel": tolerance("stop when the deviance changes by less than this, relatively"),
        "ftol_abs": tolerance("stop when the deviance changes by less than this"),
        "xtol_rel": tolerance("stop when the parameters change by less than this, relatively"),
    }
    option_aliases = {
        "maxfun": ("maxeval", "lme4's"), "maxit": ("maxeval", "R optim's"),
        "maxiter": ("maxeval", "scipy's"), "maxfev": ("maxeval", "scipy's"),
        "ftolabs": ("ftol_abs", "lme4's"), "ftolrel": ("ftol_rel", "lme4's"),
        "xtolrel": ("xtol_rel", "lme4's"),
    }

    def rough_options(self):
        return {"ftol_rel": 1e-8, "xtol_rel": 1e-6}

    def minimize(self, fun, x0, bounds, jac=None, options=None):
        opts = {"ftol_rel": 1e-12, "xtol_rel": 1e-10, "ftol_abs": 1e-10, "maxeval": 20000}
        opts.update(self.options)
        opts.update(options or {})
        x0 = np.asarray(x0, float)
        n = x0.size
        opt = nlopt.opt(nlopt.LN_BOBYQA, n)
        lo = np.array([-np.inf if b[0] is None else b[0] for b in bounds], float)
        hi = np.array([np.inf if b[1] is None else b[1] for b in bounds], float)
        opt.set_lower_bounds(lo)
        opt.set_upper_bounds(hi)
        calls = [0]

        def f(x, grad):
            calls[0] += 1
            return float(fun(np.asarray(x)))

        opt.set_min_objective(f)
        opt.set_ftol_rel(opts["ftol_rel"])
        opt.set_ftol_abs(opts["ftol_abs"])
        opt.set_xtol_rel(opts["xtol_rel"])
        opt.set_maxeval(int(opts["maxeval"]))
        # initial trust region: lme4 uses 0.2 for theta-like scales
        step = np.where(np.isfinite(hi - lo), np.minimum(0.2, 0.25 * (hi - lo)), 0.2)
        opt.set_initial_step(np.maximum(step, 1e-3))
        x = np.clip(x0, lo, hi)
        try:
            x = opt.optimize(x)
            code = opt.last_optimize_result()
            limit = code in (nlopt.MAXEVAL_REACHED, nlopt.MAXTIME_REACHED)
            ok = code > 0 and not limit
            msg = {1: "success", 2: "stopval reached", 3: "ftol reached", 4: "xtol reached",
                   5: "maxeval reached", 6: "maxtime reached"}.get(code, str(code))
        except nlopt.RoundoffLimited:
            x = opt.last_optimum_x() if hasattr(opt, "last_optimum_x") else x
            ok, limit, msg = True, False, "roundoff limited (optimum reached to rounding)"
        return OptimizeResult(np.asarray(x, float), float(opt.last_optimum_value()), bool(ok),
                              calls[0], msg, limit_reached=limit)
