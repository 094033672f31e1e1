"""Probit link: the standard normal quantile function."""

from __future__ import annotations

import numpy as np
from scipy.special import ndtr, ndtri

from interlace.links.base import Link

_SQRT2PI = np.sqrt(2.0 * np.pi)


class ProbitLink(Link):
    name = "probit"
    latent_variance = 1.0

    def link(self, mu):
        return ndtri(mu)

    def inverse(self, eta):
        eps = np.finfo(float).eps
        return np.clip(ndtr(eta), eps, 1.0 - eps)

    def mu_eta(self, eta):
        return np.maximum(np.exp(-0.5 * eta * eta) / _SQRT2PI, np.finfo(float).eps)

    def d2mu_eta(self, eta):
        return -eta * np.exp(-0.5 * eta * eta) / _SQRT2PI
