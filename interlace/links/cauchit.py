"""Cauchit link: the standard Cauchy quantile function."""

from __future__ import annotations

import numpy as np

from interlace.links.base import Link


class CauchitLink(Link):
    name = "cauchit"

    def link(self, mu):
        return np.tan(np.pi * (mu - 0.5))

    def inverse(self, eta):
        eps = np.finfo(float).eps
        return np.clip(0.5 + np.arctan(eta) / np.pi, eps, 1.0 - eps)

    def mu_eta(self, eta):
        return np.maximum(1.0 / (np.pi * (1.0 + eta * eta)), np.finfo(float).eps)

    def d2mu_eta(self, eta):
        return -2.0 * eta / (np.pi * (1.0 + eta * eta) ** 2)

    def d3mu_eta(self, eta):
        e2 = eta * eta
        return (6.0 * e2 - 2.0) / (np.pi * (1.0 + e2) ** 3)
