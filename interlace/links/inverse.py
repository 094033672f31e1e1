"""Inverse link (Gamma's canonical link): eta = 1 / mu."""

from __future__ import annotations

import numpy as np

from interlace.links.base import Link


class InverseLink(Link):
    name = "inverse"

    def link(self, mu):
        return 1.0 / mu

    def inverse(self, eta):
        return 1.0 / eta

    def mu_eta(self, eta):
        return -1.0 / (eta * eta)

    def d2mu_eta(self, eta):
        return 2.0 / (eta * eta * eta)

    def d3mu_eta(self, eta):
        return -6.0 / (eta * eta * eta * eta)

    def valid_eta(self, eta):
        return bool(np.all(np.isfinite(eta)) and np.all(eta != 0))
