"""Wald intervals for every parameter: symmetric on a scale where the normal approximation is
fair, then mapped back to the parameter's natural scale.

* Fixed effects (and ordinal thresholds): estimate -/+ z SE with the result's ``vcov`` (lme4's
  ``confint(method = "Wald")``, ordinal's ``confint``).
* Random-effect SDs, the residual SD and positive family parameters (nbinom2's ``theta``): on
  the log scale; probabilities (a scalar ``zi``) on the logit scale; coefficients of a
  parameter's formula (``zi~mined``) as they are (glmmTMB's ``confint(method = "wald")``).
* Correlations: on the scale z = rho / sqrt(1 - rho^2), glmmTMB's internal parameter of a
  2 x 2 unstructured term, back-transformed by rho = z / sqrt(1 + z^2). (For a term with three
  or more columns glmmTMB moves all its correlation parameters at once; here each correlation
  gets its own interval on that scale, so the two can differ there.)

The standard errors on those scales come from the delta method: each result kind states its
variance parameters on the scale it estimated them (:class:`EstimationScale`: theta and the
family parameters of a GLMM, theta and log sigma of an LMM, theta and the thresholds of a
CLMM), their asymptotic covariance (twice the inverse Hessian of the deviance) and the map to
the natural scale; the Jacobian of that map (central differences) carries the covariance over.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from interlace.errors import InterlaceWarning
from interlace.inference.parameters import natural_parameters


@dataclass(frozen=True)
class WaldScale:
    """The scale a parameter's Wald interval is symmetric on: ``forward`` maps the natural
    value to it, ``inverse`` maps back (both increasing)."""

    name: str
    forward: Callable[[np.ndarray], np.ndarray]
    inverse: Callable[[np.ndarray], np.ndarray]


def _corr_forward(r):
    r = np.asarray(r, float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return r / np.sqrt(1.0 - r * r)


def _corr_inverse(z):
    z = np.asarray(z, float)
    return z / np.sqrt(1.0 + z * z)


def _log(x):
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log(np.asarray(x, float))


LOG = WaldScale("log", _log, np.exp)
IDENTITY = WaldScale("identity", lambda x: np.asarray(x, float), lambda x: np.asarray(x, float))
CORRELATION = WaldScale("rho/sqrt(1-rho^2)", _corr_forward, _corr_inverse)
KIND_SCALES = {"sd": LOG, "sigma": LOG, "cor": CORRELATION, "loading": IDENTITY, "threshold": IDENTITY,
               "fixed": IDENTITY}


def kind_scale(kind: str) -> WaldScale:
    """The Wald scale of a parameter kind (family parameters state their own)."""
    return KIND_SCALES.get(kind, IDENTITY)


def parameter_scale(param) -> WaldScale:
    """The Wald scale of a family parameter: the scale the fit estimates it on (its
    ``to_unconstrained`` / ``from_unconstrained``: log for positive parameters, logit for
    probabilities)."""
    return WaldScale(getattr(param, "transform", "unconstrained"),
                     lambda x: np.asarray(param.to_unconstrained(x), float),
                     lambda z: np.asarray(param.from_unconstrained(z), float))


@dataclass
class EstimationScale:
    """A result's parameters other than the fixed effects, as fitted: ``psi`` on the scale of
    estimation, ``cov`` its asymptotic covariance, ``natural(psi)`` the natural values in
    :func:`~interlace.inference.parameters.natural_parameters`' order (the fixed effects left
    out), ``scales`` each natural value's :class:`WaldScale`."""

    psi: np.ndarray
    cov: np.ndarray
    natural: Callable[[np.ndarray], np.ndarray]
    scales: Sequence[WaldScale]
    held: np.ndarray | None = None  # entries of psi on their bound (theta = 0), held fixed
    flat: np.ndarray | None = None  # directions in psi the deviance does not identify

    def on_wald_scale(self, psi: np.ndarray) -> np.ndarray:
        """The natural values at ``psi`` mapped to their Wald scales."""
        nat = np.asarray(self.natural(psi), float)
        return np.array([float(s.forward(v)) for s, v in zip(self.scales, nat)])


def covariance_from_hessian(H: np.ndarray, held: np.ndarray | None = None
                            ) -> tuple[np.ndarray, np.ndarray]:
    """2 H^-1 (H the Hessian of the deviance, -2 log L) over the parameters not ``held`` on
    their bound (those get zero rows and columns: fixed there), and the directions in which
    the deviance is flat (a basis, one column each).

    A flat direction is a combination of parameters the data do not identify, e.g. the
    rotation of a slope's Cholesky entries once the intercept's SD is 0: functions constant
    along it (the slope's SD, sigma) still have a variance, the pseudo-inverse's, and
    :func:`wald_scale_errors` gives NaN for the others. When H has a clearly negative
    eigenvalue (no minimum there) the covariance is all NaN."""
    H = np.asarray(H, float)
    m = H.shape[0]
    free = np.ones(m, bool) if held is None else ~np.asarray(held, bool)
    Hf = H[np.ix_(free, free)]
    if not np.all(np.isfinite(Hf)):
        return np.full((m, m), np.nan), np.zeros((m, 0))
    w, V = np.linalg.eigh(0.5 * (Hf + Hf.T))
    tol = 1e-9 * max(float(np.max(np.abs(w), initial=0.0)), 1e-300)
    if w.size and w[0] < -tol:
        return np.full((m, m), np.nan), np.zeros((m, 0))
    pos = w > tol
    out = np.zeros((m, m))
    out[np.ix_(free, free)] = 2.0 * (V[:, pos] / w[pos]) @ V[:, pos].T
    flat = np.zeros((m, int((~pos).sum())))
    flat[free] = V[:, ~pos]
    return out, flat


def wald_scale_jacobian(est: EstimationScale, rel_step: float = 1e-6) -> np.ndarray:
    """d(Wald-scale values) / d psi by central differences (steps ``rel_step`` * max(|psi|,
    0.01)); rows whose values are not finite at a step are NaN."""
    psi = np.asarray(est.psi, float)
    m = psi.size
    J = np.empty((len(est.scales), m))
    for i in range(m):
        h = rel_step * max(abs(psi[i]), 1e-2)
        e = np.zeros(m)
        e[i] = h
        with np.errstate(invalid="ignore"):
            J[:, i] = (est.on_wald_scale(psi + e) - est.on_wald_scale(psi - e)) / (2 * h)
    return J


def wald_scale_errors(est: EstimationScale) -> tuple[np.ndarray, np.ndarray]:
    """The Wald-scale estimates and their standard errors (delta method; NaN where the value or
    its derivative is not finite, e.g. an SD estimated as 0)."""
    phi = est.on_wald_scale(est.psi)
    J = wald_scale_jacobian(est)
    cov = np.asarray(est.cov, float)
    with np.errstate(invalid="ignore"):
        var = np.einsum("ki,ij,kj->k", J, cov, J)
    ok = np.all(np.isfinite(J), axis=1) & np.isfinite(phi) & (var >= 0)
    if est.held is not None:  # values that move with a parameter held on its bound
        ok &= ~np.any(J[:, np.asarray(est.held, bool)] != 0, axis=1)
    if est.flat is not None and est.flat.size:  # values that move along a flat direction
        with np.errstate(invalid="ignore"):
            along = np.abs(np.nan_to_num(J) @ est.flat).max(axis=1)
            ok &= along <= 1e-6 * np.maximum(np.abs(np.nan_to_num(J)).max(axis=1), 1e-300)
    se = np.where(ok, np.sqrt(np.where(ok, var, 0.0)), np.nan)
    return phi, se


def wald_table(result, level: float = 0.95) -> pd.DataFrame:
    """Every natural parameter with its Wald interval: ``estimate``, ``scale`` (the scale the
    interval is symmetric on), ``se`` (the standard error on that scale), ``lower``, ``upper``.
    Variance parameters without an interval (an SD at 0, a Hessian that is not positive
    definite) get NaN bounds and one warning naming them."""
    params = natural_parameters(result)
    kinds = params.attrs.get("kinds", [])
    z = stats.norm.ppf(0.5 + level / 2)
    n_other = sum(k != "fixed" for k in kinds)
    scale_names = ["identity"] * len(params)
    phi = np.full(len(params), np.nan)
    se = np.full(len(params), np.nan)
    lower = np.full(len(params), np.nan)
    upper = np.full(len(params), np.nan)
    if n_other:
        est = result.estimation_scale()
        ph, s = wald_scale_errors(est)
        lo, hi = ph - z * s, ph + z * s
        for j, sc in enumerate(est.scales):
            scale_names[j] = sc.name
            b = np.sort([float(sc.inverse(lo[j])), float(sc.inverse(hi[j]))])
            lower[j], upper[j] = b
        phi[:n_other], se[:n_other] = ph, s
        missing = [n for n, ok in zip(params.index[:n_other], np.isfinite(s)) if not ok]
        if missing:
            warnings.warn(f"no Wald interval for {missing} (NaN bounds): the estimate is on "
                          f"the boundary of its range (an SD of 0, a correlation of -/+1), the "
                          f"data do not identify it, or the Hessian of the deviance is not "
                          f"positive definite there; profile intervals may still exist",
                          InterlaceWarning, stacklevel=4)
    fe, fe_se = result.fe_params.to_numpy(float), result.fe_bse.to_numpy(float)
    phi[n_other:], se[n_other:] = fe, fe_se
    lower[n_other:], upper[n_other:] = fe - z * fe_se, fe + z * fe_se
    return pd.DataFrame({"estimate": params.to_numpy(float), "scale": scale_names, "se": se,
                         "lower": lower, "upper": upper}, index=params.index)


def wald_intervals(result, level: float) -> pd.DataFrame:
    """``lower``/``upper`` for every natural parameter (see :func:`wald_table`)."""
    return wald_table(result, level)[["lower", "upper"]]
