"""Walking one parameter's likelihood profile outwards from the estimate (lme4's
``profile.merMod`` step rule): zeta(p) = sign(p - p_hat) sqrt(dev_min(p) - dev_hat), each point
a refit of every other parameter warm-started on the line through the previous two.

The first step is ``delta`` Wald standard errors; after it, ``delta`` in zeta by the slope of
the last two points (at most ``maxmult`` times the last step), until |zeta| passes the cutoff,
the parameter reaches a bound or ``maxpts`` points were taken on a side.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from interlace.errors import InterlaceWarning


class Focal(Protocol):
    """One parameter to profile, on its working scale (an increasing map of the natural one)."""

    estimate: float
    lower: float
    upper: float
    se: float  # Wald standard error (NaN if unknown)
    start: np.ndarray  # the other parameters' coordinates at the optimum
    slope: np.ndarray  # their derivative along the profile trace at the optimum

    def refit(self, w: float, start: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]: ...

    def to_natural(self, w): ...  # the natural scale (increasing in w)

    def from_natural(self, v): ...


@dataclass
class Trace:
    """One parameter's profile: working-scale values (increasing), zeta, every natural
    parameter's value at each point (rows), and whether the walk stopped at a bound."""

    name: str
    values: np.ndarray
    zeta: np.ndarray
    natural: np.ndarray
    at_lower: bool
    at_upper: bool
    lower_bound: float
    upper_bound: float


def first_step(focal: Focal, delta: float) -> float:
    """delta Wald standard errors, or (without one) 1% of the estimate or 0.001 at 0 (lme4)."""
    if np.isfinite(focal.se) and focal.se > 0:
        return delta * focal.se
    return 0.01 * abs(focal.estimate) if focal.estimate != 0 else 1e-3


def next_step(w: float, w0: float, z: float, z0: float, delta: float, maxmult: float) -> float:
    """The next step's length: delta in zeta at the slope of the last two points, at most
    maxmult times the last step (twice it where zeta did not grow)."""
    dw, dz = abs(w - w0), abs(z - z0)
    if not np.isfinite(dz) or dz <= 1e-12 * max(dw, 1e-300) or (z - z0) * (w - w0) <= 0:
        return 2.0 * dw
    return min(delta * dw / dz, maxmult * dw)


def zeta_of(dev: float, base: float, w: float, est: float) -> float:
    return float(np.sign(w - est) * np.sqrt(max(dev - base, 0.0)))


def walk_side(focal: Focal, base: float, direction: int, cutoff: float, delta: float,
              maxpts: int, maxmult: float, state: dict) -> tuple[list, bool]:
    """Points [w, zeta, deviance, free coordinates, natural values] on one side of the
    estimate, outwards; whether the walk stopped at the parameter's bound."""
    est, bound = focal.estimate, focal.upper if direction > 0 else focal.lower
    rows: list = []
    step = first_step(focal, delta)
    if (bound - est) * direction <= 1e-6 * step:  # at the bound (up to the optimizer's rounding)
        return rows, True
    w_prev, z_prev, free_prev = est, 0.0, focal.start
    free_start = focal.start + focal.slope * step * direction
    for _ in range(maxpts):
        w = w_prev + direction * step
        hit = (w - bound) * direction >= 0
        w = bound if hit else w
        dev, free, nat = focal.refit(w, free_start)
        if not np.isfinite(dev) or dev >= 1e100:
            state["failed"] = True
            return rows, False
        state["lowest"] = min(state["lowest"], dev - base)
        z = zeta_of(dev, base, w, est)
        rows.append([w, z, dev, free, nat])
        if hit:
            return rows, True
        if abs(z) > cutoff:
            return rows, False
        step = next_step(w, w_prev, z, z_prev, delta, maxmult)
        ratio = step / max(abs(w - w_prev), 1e-300)
        free_start = free + (free - free_prev) * ratio
        w_prev, z_prev, free_prev = w, z, free
    return rows, False


def sweep_back(focal: Focal, base: float, rows: list, tol: float = 1e-6) -> None:
    """Where |zeta| falls going outwards (a warm start that stayed in a local minimum, e.g. a
    correlation's profile that meets the submodel with an SD at 0), refit the inner points
    from their outer neighbour's optimum, inwards, keeping the lower deviance."""
    z = np.abs([r[1] for r in rows])
    if not np.any(np.diff(z) < -tol):
        return
    for j in range(len(rows) - 2, -1, -1):
        w, _, dev, _, _ = rows[j]
        dev2, free2, nat2 = focal.refit(w, rows[j + 1][3])
        if np.isfinite(dev2) and dev2 < dev - 1e-9:
            rows[j] = [w, zeta_of(dev2, base, w, focal.estimate), dev2, free2, nat2]


def walk(name: str, focal: Focal, base: float, natural_hat: np.ndarray, cutoff: float,
         delta: float, maxpts: int = 50, maxmult: float = 10.0, devtol: float = 1e-6) -> Trace:
    """Both sides of one parameter's profile (see the module docstring), as a :class:`Trace`."""
    state = {"lowest": 0.0, "failed": False}
    up, at_up = walk_side(focal, base, +1, cutoff, delta, maxpts, maxmult, state)
    down, at_low = walk_side(focal, base, -1, cutoff, delta, maxpts, maxmult, state)
    sweep_back(focal, base, up)
    sweep_back(focal, base, down)
    rows = [*reversed(down), [focal.estimate, 0.0, base, focal.start, natural_hat], *up]
    if state["lowest"] < -devtol * max(1.0, abs(base)):
        warnings.warn(f"profiling {name} found a deviance {-state['lowest']:.3g} below the "
                      f"fit's: the fit was not at the optimum; refit the model (e.g. with "
                      f"another optimizer) before reading intervals off its profile",
                      InterlaceWarning, stacklevel=4)
    if state["failed"]:
        warnings.warn(f"profiling {name}: the deviance could not be evaluated beyond "
                      f"{rows[0][0]:.4g} .. {rows[-1][0]:.4g} (on its working scale); the "
                      f"profile stops there", InterlaceWarning, stacklevel=4)
    return Trace(name, np.array([r[0] for r in rows], float), np.array([r[1] for r in rows], float),
                 np.vstack([r[4] for r in rows]), at_low, at_up, focal.lower, focal.upper)
