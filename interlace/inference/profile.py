"""Likelihood profiles (lme4's ``profile.merMod``) and the intervals read off them.

For each parameter p the profile is zeta(p) = sign(p - p_hat) sqrt(dev_min(p) - dev_hat), with
dev_min(p) the deviance minimised over every other parameter with p held fixed. lme4 profiles
linear mixed models on the ML deviance, also when they were fitted by REML (its ``devfun2``
refits by ML first); so does :func:`profile_likelihood`. SDs and correlations are profiled as
such (the other parameters of their term re-optimised as SDs and correlations), the residual
SD of an LMM on its own scale, family parameters on their optimizer's scale (log theta, ...)
and reported on their natural one, fixed effects as they are.

A :class:`Profile` holds the zeta tables (:meth:`Profile.frame`), interpolates them by a
natural cubic spline of zeta in the parameter and its monotone inverse (lme4's
``interpSpline`` / ``backSpline``), and reads intervals off them (:meth:`Profile.conf_int`):
the parameter values where zeta = -+ the normal quantile of the level. Where a profile reaches
its parameter's bound before that (an SD at 0, a correlation at +-1), the bound is the limit.

Each model kind's result gives its profiling problem by ``result.profile_problem()``: an object
with ``estimates`` (natural parameters at the optimum, as
:func:`~interlace.inference.parameters.natural_parameters` names them), ``base`` (the deviance
there) and ``focal(name)`` (a :class:`~interlace.inference.profile_walk.Focal`, or None where a
parameter cannot be profiled).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy import interpolate, stats

from interlace.errors import InterlaceError, InterlaceWarning
from interlace.inference.intervals import check_level, open_unit, select_parameters
from interlace.inference.profile_walk import Trace, walk
from interlace.linalg.fit_limits import fit_limits
from interlace.plotting import plot_profile

#: lme4's ``plot.thpr`` levels: the intervals drawn on a profile plot.
PLOT_LEVELS = (0.5, 0.8, 0.9, 0.95, 0.99)


class Profile:
    """The likelihood profiles of a fitted model's parameters (see the module docstring).

    ``estimates``: the natural parameters at the profiled optimum (the ML fit for an LMM);
    ``deviance``: the deviance there; ``cutoff``: the |zeta| the profiles reach (the normal
    quantile of 1 - alphamax / 2); ``names``: the profiled parameters.
    """

    def __init__(self, estimates: pd.Series, deviance: float, traces: dict[str, Trace],
                 transforms: dict, cutoff: float) -> None:
        self.estimates, self.deviance, self.cutoff = estimates, float(deviance), float(cutoff)
        self._traces, self._transforms = traces, transforms
        self._splines: dict = {}

    @property
    def names(self) -> list[str]:
        """The profiled parameters, in the model's order."""
        return list(self._traces)

    def __repr__(self) -> str:
        return f"<Profile of {len(self._traces)} parameters, |zeta| up to {self.cutoff:.3g}>"

    # -- tables ---------------------------------------------------------------------------
    def frame(self) -> pd.DataFrame:
        """The zeta tables in one long frame (lme4's ``as.data.frame(profile(m))``): per point
        the profiled ``parameter``, its ``value``, ``zeta`` and every parameter's value there
        (the others at their constrained optimum)."""
        parts = []
        cols = [str(n) for n in self.estimates.index]
        for name, tr in self._traces.items():
            part = pd.DataFrame(tr.natural, columns=cols)
            part.insert(0, "zeta", tr.zeta)
            part.insert(0, "value", self._transforms[name][0](tr.values))
            part.insert(0, "parameter", name)
            parts.append(part)
        return pd.concat(parts, ignore_index=True)

    def zeta(self, name: str) -> pd.DataFrame:
        """One parameter's zeta table: ``value`` and ``zeta`` (increasing in value)."""
        tr = self._trace(name)
        return pd.DataFrame({"value": self._transforms[name][0](tr.values), "zeta": tr.zeta})

    def zeta_at(self, name: str, values) -> np.ndarray:
        """zeta at parameter values (natural scale) by the spline through the table; NaN
        outside the profiled range."""
        to_nat, from_nat = self._transforms[name]
        forward, _ = self._spline(name)
        tr = self._trace(name)
        w = np.atleast_1d(np.asarray(from_nat(np.asarray(values, float)), float))
        out = forward(w)
        out[(w < tr.values[0] - 1e-12) | (w > tr.values[-1] + 1e-12)] = np.nan
        return out

    def curve(self, name: str, n: int = 101) -> tuple[np.ndarray, np.ndarray]:
        """(values, zeta) on a fine grid of the profiled range, for plots."""
        tr = self._trace(name)
        forward, _ = self._spline(name)
        w = np.linspace(tr.values[0], tr.values[-1], n)
        return self._transforms[name][0](w), forward(w)

    # -- intervals ------------------------------------------------------------------------
    def conf_int(self, level: float = 0.95) -> pd.DataFrame:
        """Profile intervals (columns ``lower``, ``upper``; rows the profiled parameters):
        where zeta = -+ the normal quantile of ``level``; a bound of the parameter (0 for an
        SD, -+1 for a correlation) where its profile reaches it first."""
        lv = check_level(level)
        z = float(stats.norm.ppf(0.5 + lv / 2))
        if z > self.cutoff * (1 + 1e-9):
            raise InterlaceError(
                f"level {level} needs |zeta| up to {z:.3f}, but the profiles reach "
                f"{self.cutoff:.3f}; profile again with alphamax <= {1 - lv:.3g}")
        rows = {name: self._limits(name, z) for name in self._traces}
        out = pd.DataFrame.from_dict(rows, orient="index", columns=["lower", "upper"])
        out.index.name = "parameter"
        return out

    def _limits(self, name: str, z: float) -> tuple[float, float]:
        tr = self._trace(name)
        _, inverse = self._spline(name)
        to_nat = self._transforms[name][0]
        out = []
        for target, reached, bound in ((-z, tr.zeta[0] <= -z, tr.lower_bound),
                                       (z, tr.zeta[-1] >= z, tr.upper_bound)):
            at_bound = tr.at_lower if target < 0 else tr.at_upper
            if reached:
                out.append(float(to_nat(inverse(target))))
            elif at_bound:
                out.append(float(to_nat(bound)))
            else:
                warnings.warn(f"the profile of {name} does not reach zeta = {target:+.3f} "
                              f"(it stops at {tr.zeta[0 if target < 0 else -1]:+.3f}): that "
                              f"limit is NaN", InterlaceWarning, stacklevel=3)
                out.append(np.nan)
        return out[0], out[1]

    def _trace(self, name: str) -> Trace:
        if name not in self._traces:
            raise InterlaceError(f"{name!r} was not profiled; profiled: {self.names}")
        return self._traces[name]

    def _spline(self, name: str):
        """(forward, inverse): zeta of the working value, and the working value of zeta."""
        if name not in self._splines:
            self._splines[name] = profile_splines(name, self._trace(name))
        return self._splines[name]

    # -- plots ----------------------------------------------------------------------------
    def plot(self, parameters=None, levels=PLOT_LEVELS, absolute: bool = False, axes=None):
        """zeta (or |zeta|) against each parameter, one panel per parameter (lme4's
        ``xyplot`` of a profile), with the intervals of ``levels`` marked."""
        return plot_profile(self, parameters=parameters, levels=levels, absolute=absolute,
                            axes=axes)


def profile_splines(name: str, tr: Trace):
    """A cubic spline of zeta in the working value (not-a-knot ends: the profile's last points
    lie just past the cutoff) and its inverse: the cubic Hermite spline through the same points
    with the reciprocal slopes (lme4's ``backSpline``), or the monotone cubic through the points
    where zeta rises (ties, as on a flat stretch at an SD's bound, keep their first point).
    A zeta that falls somewhere is warned about: its interval may not be meaningful."""
    w, z = tr.values, tr.zeta
    keep = np.concatenate([[True], np.diff(w) > 0])
    w, z = w[keep], z[keep]
    if w.size < 2:
        return _undefined, _undefined
    forward = (interpolate.CubicSpline(w, z, bc_type="not-a-knot") if w.size > 3
               else interpolate.interp1d(w, z, fill_value="extrapolate"))
    if np.any(np.diff(z) < -1e-6 * np.maximum(1.0, np.abs(z[1:]))):
        warnings.warn(f"non-monotonic profile for {name}: its interval is read off the points "
                      f"where zeta rises", InterlaceWarning, stacklevel=4)
    rising = np.concatenate([[True], z[1:] > np.maximum.accumulate(z)[:-1]])
    if rising.sum() < 2:
        return forward, _undefined
    if rising.all() and w.size > 3:
        slope = forward(w, 1)
        if np.all(slope > 0):
            return forward, interpolate.CubicHermiteSpline(z, w, 1.0 / slope)
    return forward, interpolate.PchipInterpolator(z[rising], w[rising])


def _undefined(x):
    return np.full(np.shape(x), np.nan)


def check_alphamax(alphamax: float) -> float:
    """alphamax strictly between 0 and 1, or an error naming it."""
    return open_unit("alphamax", alphamax)


def profile_likelihood(result, which=None, alphamax: float = 0.01, maxpts: int = 50,
                       delta: float | None = None, maxmult: float = 10.0) -> Profile:
    """The likelihood profiles of ``result``'s parameters (see :meth:`profile` on results).

    ``which``: parameters by name or kind (as ``conf_int``'s ``parm``; default all);
    ``alphamax``: profiles reach |zeta| = the normal quantile of 1 - alphamax / 2 (enough for
    intervals up to level 1 - alphamax); ``delta``: the step in zeta (default cutoff / 8);
    ``maxpts``: at most this many points per side; ``maxmult``: a step grows at most this
    many times over the last one.
    """
    cutoff = float(stats.norm.ppf(1 - check_alphamax(alphamax) / 2))
    delta = cutoff / 8 if delta is None else float(delta)
    if not (np.isfinite(delta) and delta > 0):
        raise InterlaceError(f"delta must be a positive number, got {delta!r}")
    if isinstance(maxpts, bool) or not isinstance(maxpts, (int, np.integer)) or maxpts < 2:
        raise InterlaceError(f"maxpts must be an integer >= 2, got {maxpts!r}")
    with fit_limits():
        problem = result.profile_problem()
        chosen = select_parameters(problem.estimates, which)
        natural_hat = problem.estimates.to_numpy(float)
        traces, transforms = {}, {}
        for name in chosen:
            focal = problem.focal(name)
            if focal is None:
                warnings.warn(f"{name} cannot be profiled for this model; its profile "
                              f"interval is NaN", InterlaceWarning, stacklevel=3)
                continue
            traces[name] = walk(name, focal, problem.base, natural_hat, cutoff, delta,
                                int(maxpts), maxmult)
            transforms[name] = (focal.to_natural, focal.from_natural)
    return Profile(problem.estimates, problem.base, traces, transforms, cutoff)
