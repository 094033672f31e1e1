"""Identity link, canonical for the Gaussian."""

from __future__ import annotations

import numpy as np

from interlace.links.base import Link


class IdentityLink(Link):
    name = "identity"

    def link(self, mu):
        return np.asarray(mu, dtype=float)

    def inverse(self, eta):
        return np.asarray(eta, dtype=float)

    def mu_eta(self, eta):
        return np.ones_like(eta, dtype=float)

    def d2mu_eta(self, eta):
        return np.zeros_like(eta, dtype=float)

    def d3mu_eta(self, eta):
        return np.zeros_like(eta, dtype=float)
