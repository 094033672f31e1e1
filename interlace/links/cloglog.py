"""Complementary log-log link: log(-log(1 - mu))."""

from __future__ import annotations

import numpy as np

from interlace.links.base import Link


class CloglogLink(Link):
    name = "cloglog"
    latent_variance = float(np.pi ** 2 / 6)

    def link(self, mu):
        return np.log(-np.log1p(-mu))

    def inverse(self, eta):
        eps = np.finfo(float).eps
        return np.clip(-np.expm1(-np.exp(np.minimum(eta, 700.0))), eps, 1.0 - eps)

    def mu_eta(self, eta):
        eta = np.minimum(eta, 700.0)
        return np.maximum(np.exp(eta - np.exp(eta)), np.finfo(float).eps)

    def d2mu_eta(self, eta):
        eta = np.minimum(eta, 700.0)
        return np.exp(eta - np.exp(eta)) * (1.0 - np.exp(eta))
