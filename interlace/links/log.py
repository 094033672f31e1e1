"""Log link, canonical for the Poisson."""

from __future__ import annotations

import numpy as np

from interlace.links.base import Link

_MAX_ETA = 700.0  # exp overflows beyond ~709


class LogLink(Link):
    name = "log"

    def link(self, mu):
        return np.log(mu)

    def inverse(self, eta):
        return np.maximum(np.exp(np.minimum(eta, _MAX_ETA)), np.finfo(float).tiny)

    def mu_eta(self, eta):
        return self.inverse(eta)

    def d2mu_eta(self, eta):
        return self.inverse(eta)

    def d3mu_eta(self, eta):
        return self.inverse(eta)
