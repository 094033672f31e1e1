"""The integrator plugin contract.

An integrator approximates the marginal log-likelihood

    log L(theta, beta, phi) = log  integral  p(y | u; beta, theta, phi) N(u; 0, I) du

(lme4's spherical random effects u, with b = Lambda(theta) u), including every constant of
the family's density, and returns the conditional modes of u. To add one, subclass
:class:`Integrator`, set ``name``, implement ``integrate`` (and ``check`` if it supports only
some models), and return the class from an ``interlace_integrators`` hook implementation
registered under the ``interlace`` entry-point group.

``interlace.glmm.pirls.pirls`` finds the conditional modes and the factor of the penalised
system at the mode; most integrators start from it (Laplace uses it directly, adaptive
quadrature centres its nodes there).

What an integrator receives (every call, positional):

* ``ctx``, the model (:class:`interlace.model.context.ModelContext`), fixed for the fit:
  ``ctx.design`` (``y``, ``weights`` (prior weights times binomial trials), ``offset``, ``X``,
  ``terms`` (one random-effect term each: ``Z``, ``codes``, ``k``, ``nlevels``, ``Lambda``),
  ``param_designs`` (the model matrices of ``ziformula`` / ``dispformula``)), ``ctx.family`` and
  ``ctx.link`` (plugin instances), ``ctx.system`` (the blocked penalised system of
  :mod:`interlace.linalg.penalized`: ``factor(ZL, w)``, products with Z Lambda),
  ``ctx.zl(theta)`` (the Z Lambda blocks), ``ctx.theta_slices()``, ``ctx.u_blocks(u)`` and
  ``ctx.loglik_constant(fparams)``.
* ``theta``: the relative covariance factors' entries, term by term (each term's lower
  triangle by column, only the diagonal for ``||`` terms), on the absolute scale.
* ``beta``: the fixed effects, in the order of ``ctx.design.fe_names``.
* ``fparams``: the family's parameters by name on their natural scale, fixed and estimated
  alike; a parameter with a formula is an array with one value per row.
* ``u0`` (``integrate`` only): the previous evaluation's modes, to warm-start from.

``integrate`` returns an :class:`IntegrationResult`: the log-likelihood with all constants and
the state at the modes (a :class:`~interlace.glmm.pirls.PirlsResult`; ``u``, ``eta``, ``mu``
and ``factor`` are read by the fitting loop and the result). ``gradient`` receives the same
arguments plus that result and the names of the estimated family parameters (``fam_names``)
and returns d(-2 log L) over [theta, beta, those parameters on their unconstrained scale], or
None for central differences. ``exact_canonical`` (default False) and ``check`` are optional.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np

from interlace.glmm.pirls import PirlsResult
from interlace.registry import declare_kind


@dataclass
class IntegrationResult:
    """Marginal log-likelihood with all constants, and the PIRLS state at the modes."""

    loglik: float
    modes: PirlsResult


class Integrator(ABC):
    name: str = ""
    aliases: tuple[str, ...] = ()

    def __init__(self, nAGQ: int = 1, **options) -> None:
        self.nAGQ = int(nAGQ)
        self.options = options

    def check(self, ctx) -> None:
        """Raise UnsupportedModelError (saying why and what to do) if ``ctx`` is unsupported."""

    @abstractmethod
    def integrate(self, ctx, theta: np.ndarray, beta: np.ndarray, fparams: dict,
                  u0: np.ndarray) -> IntegrationResult:
        """Approximate log L at the parameters, warm-starting the modes at ``u0``."""

    def gradient(self, ctx, theta: np.ndarray, beta: np.ndarray, fparams: dict,
                 result: IntegrationResult, fam_names: list[str]) -> np.ndarray | None:
        """Exact gradient of -2 log L over [theta, beta, estimated family parameters on their
        unconstrained scale] at the point ``result`` was computed for, or None (the default),
        in which case the fitting loop uses central differences."""
        return None

    def exact_canonical(self, ctx, fam_names: list[str]) -> bool:
        """Whether ``gradient`` is closed-form to rounding for a canonical-link model (no inner
        differences): the fitting loop then starts at the joint stage and takes the Hessian
        by forward differences of it. False unless an integrator says so."""
        return False

    def __repr__(self) -> str:
        return f"{type(self).__name__}(nAGQ={self.nAGQ})"


declare_kind("integrator", Integrator)
