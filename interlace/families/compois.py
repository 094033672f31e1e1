"""Conway-Maxwell-Poisson family in its mean parametrisation (glmmTMB's ``compois``).

P(y) = lambda^y / (y!)^nu / Z(lambda, nu) with the rate chosen so that E[y] = mu, and
nu = 1 / phi (glmmTMB's ``betad`` = log phi): phi > 1 is overdispersion, phi < 1
underdispersion, phi = 1 the Poisson distribution. The normalising constant, the rate and the
moments come from :mod:`interlace.families.compois_moments` (exact sums, or the trapezoidal
rule on wide windows; accurate over the whole parameter range).

For fixed nu the family is exponential in log(lambda), so with V = Var(y) the score is
(y - mu) / V and the derivatives in mu follow from the cumulants; those in nu from the joint
cumulants of y and T = log y! (see :meth:`ConwayMaxwellPoissonFamily.loglik_derivatives`).
"""

from __future__ import annotations

import numpy as np
from scipy.special import gammaln

from interlace.families.base import Family, FamilyParameter, LogDensityDerivatives
from interlace.families.compois_moments import ComPoisState, probabilities, solve, start_rate
from interlace.families.extended import PearsonPhiCounts
from interlace.families.zero_part import CanHaveZeroPart

_CACHE_SIZE = 6


class ConwayMaxwellPoissonFamily(PearsonPhiCounts, CanHaveZeroPart, Family):
    """Conway-Maxwell-Poisson with mean mu and nu = 1/phi (glmmTMB's ``compois``)."""
    closed_form_derivatives = True

    name = "compois"
    phi_start_bounds = (0.2, 50.0)  # Var / mu is about phi
    aliases = ("conway_maxwell_poisson", "cmp")
    links = ("log", "sqrt", "identity")
    dispersion_parameter = "phi"
    laplace_information = "observed"
    mean_bounds = (0.0, None)
    zero_part = "inflate"

    def __init__(self, phi: float | None = None, link=None) -> None:
        super().__init__(link=link, phi=phi)
        self._states: dict = {}

    def default_parameters(self):
        return [FamilyParameter("phi", None, start=1.0, transform="log",
                                description="dispersion: nu = 1/phi (phi > 1 overdispersed)")]

    def state(self, mu: np.ndarray, phi) -> ComPoisState:
        """The rate, normalising constant and cumulants at (mu, 1/phi), kept for the last few
        arguments (PIRLS asks for the density, score and information at one mean in turn)."""
        mu = np.asarray(mu, dtype=float)
        nu = 1.0 / np.broadcast_to(np.asarray(phi, dtype=float), mu.shape)
        key = (mu.tobytes(), nu.tobytes())
        st = self._states.get(key)
        if st is None:
            st = solve(mu, nu, a0=self._warm_start(mu, nu))
            if len(self._states) >= _CACHE_SIZE:
                self._states.pop(next(iter(self._states)))
            self._states[key] = st
        return st

    def _warm_start(self, mu, nu):
        """The log-rate of the last state, moved by (mu - mu_last) / Var: the Newton step from
        the previous solution (None when there is none of this size)."""
        if not self._states:
            return None
        (mkey, nkey), st = next(reversed(self._states.items()))
        mu0 = np.frombuffer(mkey)
        if mu0.shape != mu.shape or np.frombuffer(nkey).shape != nu.shape:
            return None
        if not np.array_equal(np.frombuffer(nkey), nu):
            return None
        step = (mu - mu0) / np.maximum(st.var, 1e-300)
        ok = np.isfinite(step) & (np.abs(step) < 1.0)  # a Newton step from nearby
        return np.where(ok, st.a + np.where(ok, step, 0.0), start_rate(mu, nu))

    def loglik(self, y, mu, weights, params):
        st = self.state(mu, params["phi"])
        nu = 1.0 / params["phi"]
        return weights * (st.a * y - nu * gammaln(y + 1.0) - st.logz)

    def loglik_kernel(self, y, mu, weights, params):
        st = self.state(mu, params["phi"])
        return weights * (st.a * y - st.logz)

    def loglik_constant(self, y, weights, params):
        return -float(np.sum(weights * gammaln(y + 1.0) / params["phi"]))

    def score_mu(self, y, mu, weights, params):
        return weights * (y - mu) / self.state(mu, params["phi"]).var

    def info_mu(self, y, mu, weights, params):
        return weights / self.state(mu, params["phi"]).var

    def obs_info_mu(self, y, mu, weights, params):
        st = self.state(mu, params["phi"])
        return weights * (1.0 / st.var + (y - mu) * st.k3 / st.var**3)

    def loglik_derivatives(self, y, mu, weights, params, wrt=(), third=False):
        """With V, k3, k4 the cumulants of y: d1 = e/V, d2 = -1/V - e k3/V^3,
        d3 = 2 k3/V^3 - e (k4 V - 3 k3^2)/V^5 (e = y - mu). In nu at fixed mu, with
        C = Cov(y, T), T = log y!: dl/dnu = e C/V - (T - E T), dV/dnu = k3 C/V - k(y, y, T),
        dk3/dnu = k4 C/V - k(y, y, y, T), d2l/dmu dnu = -e V_nu/V^2,
        d3l/dmu2 dnu = V_nu/V^2 - e (k3_nu/V^3 - 3 k3 V_nu/V^4); d nu / d phi = -nu^2."""
        phi = params["phi"]
        st = self.state(mu, phi)
        V, k3, e = st.var, st.k3, y - mu
        out = LogDensityDerivatives(weights * e / V, weights * (-1.0 / V - e * k3 / V**3))
        if third:
            out.d3 = weights * (2.0 * k3 / V**3 - e * (st.k4 * V - 3.0 * k3 * k3) / V**5)
        if "phi" in wrt:
            nu = 1.0 / phi
            dnu = -nu * nu
            t = gammaln(y + 1.0)
            v_nu = k3 * st.cyt / V - st.kyyt
            out.dp["phi"] = weights * (e * st.cyt / V - (t - st.et)) * dnu
            out.dp1["phi"] = weights * (-e * v_nu / V**2) * dnu
            if third:
                k3_nu = st.k4 * st.cyt / V - st.kyyyt
                out.dp2["phi"] = weights * (v_nu / V**2 - e * (k3_nu / V**3
                                                              - 3.0 * k3 * v_nu / V**4)) * dnu
        return out

    def info_derivatives(self, y, mu, weights, params, wrt=()):
        """info = w / V: d/dmu = -w k3 / V^3 (the rest by differences)."""
        st = self.state(mu, params["phi"])
        dmu = -weights * st.k3 / st.var**3
        if not wrt:
            return dmu, {}
        return dmu, super().info_derivatives(y, mu, weights, params, wrt)[1]

    def variance(self, mu, params):
        return self.state(mu, params["phi"]).var

    def simulate(self, mu, weights, params, rng):
        mu = np.asarray(mu, dtype=float)
        phi = np.broadcast_to(params["phi"], mu.shape)
        top = int(np.max(mu + 15.0 * np.sqrt(mu * np.maximum(phi, 1.0)) * np.maximum(phi, 1.0)
                         + 30.0))
        cdf = np.cumsum(probabilities(mu, 1.0 / phi, top), axis=1)
        u = rng.random(mu.shape) * cdf[:, -1]
        return np.sum(cdf < u[:, None], axis=1).astype(float)
