"""Logit link, canonical for the binomial."""

from __future__ import annotations

import numpy as np
from scipy.special import expit, logit

from interlace.links.base import Link


class LogitLink(Link):
    name = "logit"
    latent_variance = float(np.pi ** 2 / 3)

    def link(self, mu):
        return logit(mu)

    def inverse(self, eta):
        return expit(eta)

    def mu_eta(self, eta):
        p = expit(eta)
        return np.maximum(p * (1.0 - p), np.finfo(float).tiny)

    def d2mu_eta(self, eta):
        p = expit(eta)
        return p * (1.0 - p) * (1.0 - 2.0 * p)
