"""Derivatives of a family's log-density: part of the family contract.

The exact gradient of the Laplace deviance (:mod:`interlace.glmm.gradient`) needs, row by row,
the log-density's derivatives in the linked mean ``mu`` up to the third (the observed
information and its change with eta) and, for each estimated extra parameter psi on its
natural scale, dl/dpsi, d2l/(dmu dpsi) and d3l/(dmu2 dpsi). A family returns them together
from :meth:`~interlace.families.base.Family.loglik_derivatives` as a
:class:`LogDensityDerivatives`, and the framework turns them into derivatives in eta (through
the link) and in the optimizer's unconstrained parameters (through each parameter's
transform). Every built-in family gives closed forms (``tests/test_family_derivatives.py``
checks them against differences of ``loglik``).

The documented fallback for a family that gives none is :func:`numeric_derivatives`: the
family's own ``score_mu`` and ``obs_info_mu``, the third derivative by central differences of
``obs_info_mu`` and each parameter's by central differences on its unconstrained scale (two
more evaluations of ``loglik``, ``score_mu`` and ``obs_info_mu`` per parameter).
:func:`numeric_info_derivatives` is the same for the expected information ``info_mu`` (the
Laplace weights of lme4's form).

:func:`compose` is the chain rule for a log-density that is a function of another one (zero
inflation, zero truncation: :mod:`interlace.families.zero_part`).

With random effects in ``ziformula`` the zero probability p has its own linear predictor, and
the gradient (:mod:`interlace.glmm.zi_gradient`) also needs d2l/dp2, d3l/dp3, d3l/(dmu dp2) and
the cross derivatives in p and each other parameter: a family with a zero probability returns
them as a :class:`ZiDerivatives` from ``zi_derivatives`` (closed forms for
:class:`~interlace.families.zero_part.ZeroPartFamily`); the documented fallback is
:func:`numeric_zi_derivatives`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class LogDensityDerivatives:
    """Per-row derivatives of ``loglik`` (prior weights included) at (y, mu, params).

    ``d1``, ``d2``, ``d3``: first to third derivatives in mu (``d3`` only when asked for);
    ``dp[name]``, ``dp1[name]``, ``dp2[name]``: dl/dpsi, d2l/(dmu dpsi) and d3l/(dmu2 dpsi) for
    each parameter asked for, on its natural scale (``dp2`` only with the third derivatives).
    Entries broadcast against the rows (a constant may be a scalar).
    """

    d1: Any
    d2: Any
    d3: Any = None
    dp: dict[str, Any] = field(default_factory=dict)
    dp1: dict[str, Any] = field(default_factory=dict)
    dp2: dict[str, Any] = field(default_factory=dict)


class FromDerivatives:
    """Mixin for a family whose ``score_mu`` and ``obs_info_mu`` are those of its
    ``loglik_derivatives``: one call serves both when they are asked at the same arrays in a
    row (as penalised IRLS does; the last call is kept, compared by identity)."""

    _last_derivatives: tuple | None = None

    def mu_bundle(self, y, mu, weights, params) -> LogDensityDerivatives:
        """``loglik_derivatives(y, mu, weights, params)``, or the last result at these very
        arrays."""
        vals = tuple(params.values())
        last = self._last_derivatives
        if (last is not None and last[0] is y and last[1] is mu and last[2] is weights
                and len(last[3]) == len(vals) and all(a is b for a, b in zip(last[3], vals))):
            return last[4]
        d = self.loglik_derivatives(y, mu, weights, params)
        self._last_derivatives = (y, mu, weights, vals, d)
        return d

    def score_mu(self, y, mu, weights, params):
        return self.mu_bundle(y, mu, weights, params).d1

    def obs_info_mu(self, y, mu, weights, params):
        return -self.mu_bundle(y, mu, weights, params).d2


def _mu_step(mu: np.ndarray) -> np.ndarray:
    """A relative step in mu (stays inside (0, inf) and, mostly, (0, 1))."""
    a = np.abs(mu)
    return 1e-5 * np.where(a > 0, np.minimum(a, 1.0), 1.0)


def numeric_derivatives(family: Any, y: np.ndarray, mu: np.ndarray, weights: np.ndarray,
                        params: dict, wrt: Sequence[str] = (), third: bool = False
                        ) -> LogDensityDerivatives:
    """The fallback of :meth:`~interlace.families.base.Family.loglik_derivatives`: the family's
    ``score_mu`` and ``obs_info_mu``, differences for the rest (see the module docstring)."""
    d1 = family.score_mu(y, mu, weights, params)
    d2 = -family.obs_info_mu(y, mu, weights, params)
    out = LogDensityDerivatives(d1, d2)
    if third:
        h = _mu_step(mu)
        out.d3 = -(family.obs_info_mu(y, mu + h, weights, params)
                   - family.obs_info_mu(y, mu - h, weights, params)) / (2 * h)
    return numeric_parameter_derivatives(family, y, mu, weights, params, wrt, third, out)


def _unconstrained_steps(family: Any, params: dict, name: str) -> tuple:
    """The central-difference step in parameter ``name`` on its unconstrained scale: the step,
    d natural / d unconstrained at the point (inf where 0, so a flat map gives 0), and the two
    parameter sets one step either side."""
    p = family.parameters[name]
    v = params[name]
    z = p.to_unconstrained(v)
    hz = 1e-5 * np.maximum(1.0, np.abs(z))
    dz = p.natural_derivative(v)
    dz = np.where(dz != 0, dz, np.inf)
    return hz, dz, [dict(params, **{name: p.from_unconstrained(zz)}) for zz in (z + hz, z - hz)]


def numeric_parameter_derivatives(family: Any, y: np.ndarray, mu: np.ndarray,
                                  weights: np.ndarray, params: dict, wrt: Sequence[str],
                                  third: bool, out: LogDensityDerivatives
                                  ) -> LogDensityDerivatives:
    """Fill ``out``'s parameter derivatives by central differences of ``loglik``, ``score_mu``
    and ``obs_info_mu`` on each parameter's unconstrained scale (for a family whose
    derivatives in mu have closed forms but whose parameters' do not)."""
    for name in wrt:
        hz, dz, points = _unconstrained_steps(family, params, name)
        (l1, s1, j1), (l2, s2, j2) = [
            (family.loglik(y, mu, weights, fz), family.score_mu(y, mu, weights, fz),
             family.obs_info_mu(y, mu, weights, fz) if third else 0.0) for fz in points]
        with np.errstate(invalid="ignore"):
            out.dp[name] = (l1 - l2) / (2 * hz) / dz
            out.dp1[name] = (s1 - s2) / (2 * hz) / dz
            if third:
                out.dp2[name] = -(j1 - j2) / (2 * hz) / dz
    return out


def numeric_info_derivatives(family: Any, y: np.ndarray, mu: np.ndarray, weights: np.ndarray,
                             params: dict, wrt: Sequence[str] = ()
                             ) -> tuple[Any, dict[str, Any]]:
    """The fallback of :meth:`~interlace.families.base.Family.info_derivatives`: d info_mu /
    d mu and d info_mu / d psi (natural scale) by central differences."""
    h = _mu_step(mu)
    dmu = (family.info_mu(y, mu + h, weights, params)
           - family.info_mu(y, mu - h, weights, params)) / (2 * h)
    dpsi = {}
    for name in wrt:
        p = family.parameters[name]
        v = params[name]
        z = p.to_unconstrained(v)
        hz = 1e-5 * np.maximum(1.0, np.abs(z))
        up, dn = (family.info_mu(y, mu, weights, dict(params, **{name: p.from_unconstrained(zz)}))
                  for zz in (z + hz, z - hz))
        dz = p.natural_derivative(v)
        dz = np.where(dz != 0, dz, np.inf)
        dpsi[name] = (up - dn) / (2 * hz) / dz
    return dmu, dpsi


def compose(a: Any, b: Any, c: Any, g: LogDensityDerivatives, third: bool
            ) -> LogDensityDerivatives:
    """Derivatives of F(g) from those of g (the inner log-density) and F's own first three
    derivatives ``a``, ``b``, ``c`` at g (``c`` is read only with ``third``). Parameters are
    those of g; a parameter of F alone is the caller's to add."""
    g1, g2 = g.d1, g.d2
    out = LogDensityDerivatives(a * g1, b * g1 * g1 + a * g2)
    if third:
        out.d3 = c * g1 ** 3 + 3.0 * b * g1 * g2 + a * g.d3
    for name, gp in g.dp.items():
        gp1 = g.dp1[name]
        out.dp[name] = a * gp
        out.dp1[name] = b * gp * g1 + a * gp1
        if third:
            out.dp2[name] = (c * gp * g1 * g1 + 2.0 * b * g1 * gp1 + b * gp * g2
                             + a * g.dp2[name])
    return out


@dataclass
class ZiDerivatives:
    """Per-row derivatives of ``loglik`` in its zero probability p (natural scale) beyond
    :class:`LogDensityDerivatives`' (which has dl/dp, d2l/(dmu dp) and d3l/(dmu2 dp)): the
    Laplace gradient with random effects in ``ziformula`` needs them (every third derivative
    of each row's log-density in its two linear predictors).

    ``pp``, ``ppp``: d2l/dp2 and d3l/dp3; ``mupp``: d3l/(dmu dp2); for each other parameter psi
    asked for, ``p_psi``: d2l/(dp dpsi), ``pp_psi``: d3l/(dp2 dpsi), ``mup_psi``:
    d3l/(dmu dp dpsi) (psi on its natural scale). Prior weights included.
    """

    pp: Any
    ppp: Any
    mupp: Any
    p_psi: dict[str, Any] = field(default_factory=dict)
    pp_psi: dict[str, Any] = field(default_factory=dict)
    mup_psi: dict[str, Any] = field(default_factory=dict)


def numeric_zi_derivatives(family: Any, y: np.ndarray, mu: np.ndarray, weights: np.ndarray,
                           params: dict, name: str, wrt: Sequence[str] = ()) -> ZiDerivatives:
    """The fallback of ``zi_derivatives`` for a family with a zero probability ``name`` but no
    closed forms: d2l/dp2 from ``param_second_derivative``, the rest by central differences of
    it and of ``loglik_derivatives``' dl/dp and d2l/(dmu dp) (in p, mu, and each psi on its
    unconstrained scale)."""
    p = np.asarray(params[name], float)
    hp = 1e-5 * np.minimum(np.minimum(p, 1.0 - p), 0.5)
    hm = _mu_step(mu)

    def pp_at(m, prm):
        return family.param_second_derivative(y, m, weights, prm, name)

    pp = pp_at(mu, params)
    ppp = (pp_at(mu, dict(params, **{name: p + hp}))
           - pp_at(mu, dict(params, **{name: p - hp}))) / (2 * hp)
    out = ZiDerivatives(pp, ppp, (pp_at(mu + hm, params) - pp_at(mu - hm, params)) / (2 * hm))
    for other in wrt:
        hz, dz, points = _unconstrained_steps(family, params, other)
        vals = []
        for fz in points:
            D = family.loglik_derivatives(y, mu, weights, fz, (name,))
            vals.append((D.dp[name], D.dp1[name], pp_at(mu, fz)))
        (a1, b1, c1), (a2, b2, c2) = vals
        out.p_psi[other] = (a1 - a2) / (2 * hz) / dz
        out.mup_psi[other] = (b1 - b2) / (2 * hz) / dz
        out.pp_psi[other] = (c1 - c2) / (2 * hz) / dz
    return out
