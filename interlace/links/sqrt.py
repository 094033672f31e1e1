"""Square-root link (Poisson): mu = eta^2, defined for eta > 0."""

from __future__ import annotations

import numpy as np

from interlace.links.base import Link


class SqrtLink(Link):
    name = "sqrt"

    def link(self, mu):
        return np.sqrt(mu)

    def inverse(self, eta):
        return eta * eta

    def mu_eta(self, eta):
        return 2.0 * eta

    def d2mu_eta(self, eta):
        return np.full_like(eta, 2.0, dtype=float)

    def d3mu_eta(self, eta):
        return np.zeros_like(eta, dtype=float)

    def valid_eta(self, eta):
        return bool(np.all(np.isfinite(eta)) and np.all(eta > 0))
